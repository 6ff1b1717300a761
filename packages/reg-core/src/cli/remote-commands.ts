// The container commands in client mode: the same syntax as embedded mode, carried out by the
// Reg host's HTTP API. Interactive commands (exec, run without -d on a tty) need a terminal
// stream the API does not carry: they say so and point at the browser terminal or embedded mode.

import { RegError } from '../errors.js';
import { parse, need } from './args.js';
import { CREATE_OPTIONS, USAGE, createOptions, describeOutcome, exitCodeOf, psRows } from './container.js';
import { formatBytes, table } from './output.js';
import type { RemoteContainer, RemoteHost } from './remote.js';

const id = (s: string) => encodeURIComponent(s);

export async function remoteCommand(host: RemoteHost, cmd: string, argv: string[]): Promise<number> {
  switch (cmd) {
    case 'run':
    case 'generate': {
      const { values, positionals } = parse(argv, { ...CREATE_OPTIONS, ...(cmd === 'run' && { rm: { type: 'boolean' }, detach: { type: 'boolean', short: 'd' } }) }, USAGE);
      const o = createOptions(values, positionals, USAGE);
      if (values.disk !== undefined || values['disk-inodes'] !== undefined) {
        throw new RegError('USAGE', '--disk and --disk-inodes are set by the Reg host\'s limit policy, not per request', { field: values.disk !== undefined ? '--disk' : '--disk-inodes' });
      }
      if (o.projectDir || o.network || (o.env && Object.keys(o.env).length)) {
        throw new RegError('USAGE', '--project, --net and -e are not available through a Reg host', { hint: 'run reg without --host (embedded mode) for them' });
      }
      const created = await host.call<RemoteContainer>('POST', '/api/containers', {
        ret: o.ret,
        ...(o.command && { command: o.command }),
        ...(o.name && { name: o.name }),
        ...(o.limits && Object.keys(o.limits).length && { limits: o.limits }),
        terminal: false,
        // Removed when it ends: its writable layer need not outlive it (no loop volume on the host).
        ...((values.rm || values.ephemeral) && { ephemeral: true }),
      });
      if (cmd === 'generate') return void console.log(created.id), 0;
      let s = await host.call<RemoteContainer>('POST', `/api/containers/${id(created.id)}/start`);
      if (values.detach) return void console.log(s.id), 0;
      while (s.status === 'running' || s.status === 'inserting') {
        await new Promise((r) => setTimeout(r, 100));
        s = await host.call<RemoteContainer>('GET', `/api/containers/${id(s.id)}`);
      }
      if (s.outcome && s.outcome.outcome !== 'exited') console.error(`reg: ${describeOutcome(s.outcome)}`);
      if (values.rm) await host.call('DELETE', `/api/containers/${id(s.id)}`);
      return exitCodeOf(s.outcome);
    }
    case 'start':
    case 'stop':
    case 'inspect': {
      const { positionals } = parse(argv, { time: { type: 'string', short: 't' }, attach: { type: 'boolean', short: 'a' } }, USAGE);
      const target = need(positionals[0], 'ID', USAGE);
      const s = cmd === 'inspect' ? await host.call<RemoteContainer>('GET', `/api/containers/${id(target)}`) : await host.call<RemoteContainer>('POST', `/api/containers/${id(target)}/${cmd}`);
      console.log(cmd === 'inspect' ? JSON.stringify(s, null, 2) : cmd === 'stop' ? `${s.id} stopped: ${describeOutcome(s.outcome)}` : s.id);
      return 0;
    }
    case 'rm': {
      const { positionals } = parse(argv, { force: { type: 'boolean', short: 'f' } }, USAGE);
      if (positionals.length === 0) need(undefined, 'ID', USAGE);
      for (const p of positionals) console.log((await host.call<RemoteContainer>('DELETE', `/api/containers/${id(p)}`)).id);
      return 0;
    }
    case 'ps': {
      const { values } = parse(argv, { all: { type: 'boolean', short: 'a' }, json: { type: 'boolean' } }, USAGE);
      const all = await host.call<RemoteContainer[]>('GET', '/api/containers');
      const shown = values.all ? all : all.filter((s) => s.status === 'running' || s.status === 'inserting');
      console.log(values.json ? JSON.stringify(shown, null, 2) : psRows(shown));
      return 0;
    }
    case 'install':
    case 'uninstall': {
      const { positionals } = parse(argv, {}, USAGE);
      const target = need(positionals[0], 'ID', USAGE);
      const ref = need(positionals[1], 'REF', USAGE);
      const s = await host.call<RemoteContainer>('POST', `/api/containers/${id(target)}/${cmd === 'install' ? 'insert' : 'uninstall'}`, { ret: ref });
      console.log(`${s.id}: ${cmd === 'install' ? 'inserted' : 'removed'} ${ref}; inserted now: ${s.inserted.map((i) => i.ref).join(', ') || 'nothing'}`);
      return 0;
    }
    case 'stats': {
      const { values } = parse(argv, { json: { type: 'boolean' } }, USAGE);
      const st = await host.call<{ containers: Array<{ id: string; name?: string; ret: string; pids: number; rss: number; pss: number; uss: number; shared: number }>; savedBySharing: number; hostUsedBytes: number }>('GET', '/api/stats');
      if (values.json) return void console.log(JSON.stringify(st, null, 2)), 0;
      console.log(table([['ID', 'NAME', 'RET', 'PIDS', 'RSS', 'PSS', 'PRIVATE', 'SHARED'], ...st.containers.map((c) => [c.id, c.name ?? '', c.ret, String(c.pids), formatBytes(c.rss), formatBytes(c.pss), formatBytes(c.uss), formatBytes(c.shared)])]));
      console.log(`\n${st.containers.length} running; saved by sharing ${formatBytes(st.savedBySharing)}; host used ${formatBytes(st.hostUsedBytes)}`);
      return 0;
    }
    case 'rets': {
      const rets = await host.call<Array<{ name: string; version: string; description?: string }>>('GET', '/api/rets');
      console.log(table([['NAME', 'VERSION', 'DESCRIPTION'], ...rets.map((r) => [r.name, r.version, r.description ?? ''])]));
      return 0;
    }
    default:
      throw new RegError('USAGE', `"reg ${cmd}" works in embedded mode only (without --host)`, {
        hint: cmd === 'exec' || cmd === 'logs' ? 'open a second terminal on the container in the browser, or run reg on the host itself' : 'drop --host / REG_HOST',
      });
  }
}
