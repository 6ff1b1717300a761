// Container commands: run, generate, start, stop, rm, ps, exec, install, uninstall, stats, inspect.

import { access } from 'node:fs/promises';
import { RegError } from '../errors.js';
import type { CgroupLimits } from '../cgroup/driver.js';
import type { Engine } from '../container/engine.js';
import type { GenerateOptions } from '../container/generate.js';
import type { ContainerState } from '../container/state.js';
import type { Outcome } from '../container/status.js';
import { childProcessSpawner } from '../launch/launcher.js';
import { parse, need, type Options } from './args.js';
import { formatBytes, table } from './output.js';
import { tracer } from '../container/trace.js';
import type { Limits } from '../limits/limits.js';

export const CREATE_OPTIONS: Options = {
  template: { type: 'string', short: 't' },
  command: { type: 'string', short: 'c' },
  name: { type: 'string' },
  project: { type: 'string', short: 'p' },
  memory: { type: 'string', short: 'm' },
  pids: { type: 'string' },
  cpus: { type: 'string' },
  disk: { type: 'string' },
  'disk-inodes': { type: 'string' },
  net: { type: 'string' },
  env: { type: 'string', short: 'e', multiple: true },
  ephemeral: { type: 'boolean' },
};

export const USAGE = `reg run -t REF [-c CMD | -- CMD ARGS...] [--name N] [-p DIR] [-m 256m] [--pids N] [--cpus 0.5] [--disk 1g] [--disk-inodes N] [--net none|host] [-e K=V] [--ephemeral] [--rm] [-d] [--timeout SEC]
       reg generate -t REF [same options]       reg start [-a] ID
       reg stop [-t SEC] ID    reg rm [-f] ID    reg ps [-a] [--json]    reg inspect ID    reg logs [-n N] [-f] ID
       reg exec ID -- CMD ARGS    reg install ID REF    reg uninstall ID REF    reg stats [--json]`;

export function parseSize(v: string, field: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?$/i.exec(v.trim());
  if (!m) throw new RegError('USAGE', `${field} "${v}" is not a size`, { field, hint: 'e.g. 256m, 1g, 1048576' });
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g' | 't'];
  return Math.round(Number(m[1]) * mult);
}

/** The limits asked for on the command line, as a layer over the policy's defaults. */
export function limitsLayerFrom(values: Record<string, unknown>): Partial<Limits> {
  const layer: Partial<Limits> = {};
  const c = limitsFrom(values);
  if (c.memoryBytes !== undefined) layer.memoryBytes = c.memoryBytes;
  if (c.pids !== undefined) layer.pids = c.pids;
  if (c.cpuMillicores !== undefined) layer.cpus = c.cpuMillicores / 1000;
  if (typeof values.disk === 'string') layer.diskBytes = parseSize(values.disk, '--disk');
  if (typeof values['disk-inodes'] === 'string') {
    const n = Number(values['disk-inodes']);
    if (!Number.isInteger(n)) throw new RegError('USAGE', `--disk-inodes "${values['disk-inodes']}" is not a whole number`, { field: '--disk-inodes' });
    layer.diskInodes = n;
  }
  return layer;
}

/**
 * Embedded mode: the command line's limits resolved through the policy ($REG_HOME/limits.json
 * over the built-in defaults, within this host's ceilings), as the host does for its users.
 */
export async function withPolicyLimits(engine: Engine, opts: GenerateOptions, values: Record<string, unknown>): Promise<GenerateOptions> {
  // Loaded here, not at the top: only the verbs that create need the policy. Without a limits.json
  // the policy is the built-in defaults within this host's ceilings (what loadLimitPolicy returns
  // then too), so its schemas and zod are loaded only to check a file that exists.
  const { cgroupLimitsOf, defaultPolicy, diskQuotaOf, effectiveLimits, hostCeilings, policyFilePath } = await import('../limits/limits.js');
  const hasFile = await access(policyFilePath(engine.home)).then(() => true, () => false);
  const policy = hasFile ? await (await import('../limits/policy-file.js')).loadLimitPolicy(engine.home) : defaultPolicy(hostCeilings(engine.home.root));
  const limits = effectiveLimits(policy, limitsLayerFrom(values));
  return { ...opts, limits: cgroupLimitsOf(limits), disk: diskQuotaOf(limits), ptys: limits.ptys };
}

function limitsFrom(values: Record<string, unknown>): CgroupLimits {
  const limits: CgroupLimits = {};
  if (typeof values.memory === 'string') limits.memoryBytes = parseSize(values.memory, '--memory');
  if (typeof values.pids === 'string') {
    const n = Number(values.pids);
    if (!Number.isInteger(n)) throw new RegError('USAGE', `--pids "${values.pids}" is not a whole number`, { field: '--pids' });
    limits.pids = n;
  }
  if (typeof values.cpus === 'string') {
    const n = Number(values.cpus);
    if (!Number.isFinite(n)) throw new RegError('USAGE', `--cpus "${values.cpus}" is not a number`, { field: '--cpus', hint: 'e.g. 0.5 for half a core' });
    limits.cpuMillicores = Math.round(n * 1000);
  }
  return limits;
}

export function createOptions(values: Record<string, any>, positionals: string[], usage: string): GenerateOptions {
  const ret = need(values.template, '-t REF (the RET, e.g. python@3.11)', usage);
  const command = positionals.length ? positionals : values.command ? [values.command as string] : undefined;
  const env: Record<string, string> = {};
  for (const kv of (values.env as string[] | undefined) ?? []) {
    const i = kv.indexOf('=');
    if (i <= 0) throw new RegError('USAGE', `-e "${kv}" is not KEY=VALUE`, { field: '--env' });
    env[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return {
    ret,
    ...(command && { command }),
    ...(values.name && { name: values.name }),
    ...(values.project && { projectDir: values.project }),
    limits: limitsFrom(values),
    ...(values.net && { network: values.net }),
    // --ephemeral: the writable layer is a tmpfs of the disk quota, emptied at every start (--rm implies it).
    ...(values.ephemeral && { writable: 'ephemeral' as const }),
    tty: process.stdin.isTTY ?? false,
    env,
  };
}

export function describeOutcome(o: Outcome | undefined): string {
  if (!o) return '';
  switch (o.outcome) {
    case 'exited':
      return `exited (${o.code})`;
    case 'signaled':
      return `killed by signal ${o.signal}`;
    case 'oom':
      return 'out of memory (killed)';
    case 'timeout':
      return 'timed out (killed)';
    case 'exec-failed':
      return `exec failed: ${o.error ?? 'command not found'}`;
    case 'setup-failed':
      return `setup failed: ${o.error}`;
  }
}

export function exitCodeOf(o: Outcome | undefined): number {
  if (!o) return 0;
  if (o.code !== undefined) return o.code;
  return 128 + (o.signal ?? 9);
}

export function psRows(states: Array<Pick<ContainerState, 'id' | 'name' | 'ret' | 'status' | 'outcome' | 'command' | 'createdAt'>>): string {
  return table([
    ['ID', 'NAME', 'RET', 'STATUS', 'COMMAND', 'CREATED'],
    ...states.map((s) => [s.id, s.name ?? '', s.ret, s.status === 'stopped' && s.outcome ? `stopped: ${describeOutcome(s.outcome)}` : s.status, s.command.join(' ').slice(0, 40), s.createdAt.replace('T', ' ').slice(0, 19)]),
  ]);
}

export async function containerCommand(engineP: () => Promise<Engine>, cmd: string, argv: string[]): Promise<number> {
  switch (cmd) {
    case 'run': {
      // REG_TRACE=1: where the command's time goes, from the process's start (Node's own boot included).
      const trace = tracer('cli run');
      trace(`process start → run verb ${performance.now().toFixed(2)}ms`);
      const { values, positionals } = parse(argv, { ...CREATE_OPTIONS, rm: { type: 'boolean' }, detach: { type: 'boolean', short: 'd' }, timeout: { type: 'string' } }, USAGE);
      const engine = await engineP();
      trace('engine open');
      const opts = await withPolicyLimits(engine, createOptions(values, positionals, USAGE), values);
      trace('limit policy');
      if (values.detach) {
        const s = await engine.generate(opts);
        const started = await engine.start(s.id);
        if (started.state.status !== 'running') {
          console.error(`reg: ${describeOutcome(started.state.outcome)}`);
          return exitCodeOf(started.state.outcome);
        }
        console.log(s.id);
        return 0;
      }
      const timeoutMs = values.timeout === undefined ? undefined : Number(values.timeout) * 1000;
      if (timeoutMs !== undefined && !(timeoutMs > 0)) throw new RegError('USAGE', `--timeout "${values.timeout}" is not a positive number of seconds`, { field: '--timeout' });
      // The terminal's ^C reaches the container's command directly (same process group); we wait.
      // SIGTERM and SIGHUP (and SIGINT not from a terminal) mean the run's owner is going away:
      // the container is stopped, and removed with --rm, before we exit 128+signal.
      const abort = new AbortController();
      let killedBy: NodeJS.Signals | undefined;
      const handlers = new Map<NodeJS.Signals, () => void>();
      for (const sig of ['SIGTERM', 'SIGHUP', 'SIGINT'] as const) {
        const h = () => {
          if (sig === 'SIGINT' && process.stdin.isTTY) return;
          killedBy ??= sig;
          abort.abort();
        };
        handlers.set(sig, h);
        process.on(sig, h);
      }
      try {
        const { outcome } = await engine.run({ ...opts, ...(values.rm && { rm: true }), ...(timeoutMs && { timeoutMs }), signal: abort.signal, spawn: childProcessSpawner({ stdio: 'inherit' }) });
        trace('engine.run (generate, start, wait, remove)');
        if (killedBy) {
          console.error(`reg: ${killedBy} received: the container was stopped${values.rm ? ' and removed' : ''}`);
          return 128 + ({ SIGHUP: 1, SIGINT: 2, SIGTERM: 15 } as const)[killedBy as 'SIGHUP' | 'SIGINT' | 'SIGTERM'];
        }
        if (outcome.outcome !== 'exited') console.error(`reg: ${describeOutcome(outcome)}`);
        return exitCodeOf(outcome);
      } finally {
        for (const [sig, h] of handlers) process.off(sig, h);
      }
    }
    case 'generate': {
      const { values, positionals } = parse(argv, CREATE_OPTIONS, USAGE);
      const engine = await engineP();
      const s = await engine.generate(await withPolicyLimits(engine, createOptions(values, positionals, USAGE), values));
      console.log(s.id);
      return 0;
    }
    case 'start': {
      const { values, positionals } = parse(argv, { attach: { type: 'boolean', short: 'a' } }, USAGE);
      const engine = await engineP();
      const id = need(positionals[0], 'ID', USAGE);
      if (values.attach) {
        const started = await engine.start(id, childProcessSpawner({ stdio: 'inherit' }));
        const done = started.state.status === 'stopped' ? started.state : await engine.wait(started);
        return exitCodeOf(done.outcome);
      }
      const started = await engine.start(id);
      if (started.state.status !== 'running') {
        console.error(`reg: ${describeOutcome(started.state.outcome)}`);
        return exitCodeOf(started.state.outcome);
      }
      console.log(started.state.id);
      return 0;
    }
    case 'stop': {
      const { values, positionals } = parse(argv, { time: { type: 'string', short: 't' } }, USAGE);
      const graceMs = values.time === undefined ? undefined : Number(values.time) * 1000;
      if (graceMs !== undefined && !(graceMs >= 0)) throw new RegError('USAGE', `-t "${values.time}" is not a number of seconds`, { field: '--time' });
      const s = await (await engineP()).stop(need(positionals[0], 'ID', USAGE), graceMs === undefined ? {} : { graceMs });
      console.log(`${s.id} stopped: ${describeOutcome(s.outcome)}`);
      return 0;
    }
    case 'rm': {
      const { values, positionals } = parse(argv, { force: { type: 'boolean', short: 'f' } }, USAGE);
      if (positionals.length === 0) need(undefined, 'ID', USAGE);
      const engine = await engineP();
      for (const id of positionals) console.log((await engine.remove(id, { force: values.force ?? false })).id);
      return 0;
    }
    case 'ps': {
      const { values } = parse(argv, { all: { type: 'boolean', short: 'a' }, json: { type: 'boolean' } }, USAGE);
      const states = await (await engineP()).list({ all: values.all ?? false });
      console.log(values.json ? JSON.stringify(states, null, 2) : psRows(states));
      return 0;
    }
    case 'logs': {
      const { values, positionals } = parse(argv, { tail: { type: 'string', short: 'n' }, follow: { type: 'boolean', short: 'f' } }, USAGE);
      let tail: number | undefined;
      if (values.tail !== undefined) {
        tail = Number(values.tail);
        if (!Number.isInteger(tail) || tail < 0) throw new RegError('USAGE', `--tail "${values.tail}" is not a number of lines`, { field: '--tail' });
      }
      const abort = new AbortController();
      const onInt = () => abort.abort();
      process.once('SIGINT', onInt);
      try {
        // Streamed block by block (never the whole log in memory), honouring stdout's backpressure.
        for await (const chunk of (await engineP()).readLogs(need(positionals[0], 'ID', USAGE), { ...(tail !== undefined && { tail }), follow: values.follow ?? false, signal: abort.signal })) {
          if (!process.stdout.write(chunk)) await new Promise((r) => process.stdout.once('drain', r));
        }
      } finally {
        process.off('SIGINT', onInt);
      }
      return 0;
    }
    case 'inspect': {
      const { positionals } = parse(argv, {}, USAGE);
      console.log(JSON.stringify(await (await engineP()).inspect(need(positionals[0], 'ID', USAGE)), null, 2));
      return 0;
    }
    case 'exec': {
      const { positionals } = parse(argv, {}, USAGE);
      const [id, ...command] = positionals;
      const ignore = () => {};
      process.on('SIGINT', ignore);
      try {
        const child = await (await engineP()).exec(need(id, 'ID', USAGE), command);
        const { code, signal } = await child.exited;
        return code ?? 128 + (signal ? 9 : 0);
      } finally {
        process.off('SIGINT', ignore);
      }
    }
    case 'install':
    case 'uninstall': {
      const { positionals } = parse(argv, {}, USAGE);
      const id = need(positionals[0], 'ID', USAGE);
      const ref = need(positionals[1], 'REF', USAGE);
      const engine = await engineP();
      const s = cmd === 'install' ? await engine.insert(id, ref) : await engine.uninstall(id, ref);
      console.log(`${s.id}: ${cmd === 'install' ? 'inserted' : 'removed'} ${ref}; inserted now: ${s.inserted.map((i) => i.ref).join(', ') || 'nothing'}`);
      return 0;
    }
    case 'stats': {
      const { values } = parse(argv, { json: { type: 'boolean' } }, USAGE);
      const st = await (await engineP()).stats();
      if (values.json) return void console.log(JSON.stringify(st, null, 2)), 0;
      console.log(table([['ID', 'NAME', 'RET', 'PIDS', 'RSS', 'PSS', 'PRIVATE', 'SHARED', 'OOM'], ...st.containers.map((c) => [c.id, c.name ?? '', c.ret, String(c.pids), formatBytes(c.rss), formatBytes(c.pss), formatBytes(c.uss), formatBytes(c.shared), String(c.oomKills)])]));
      console.log(`\n${st.containers.length} running; PSS total ${formatBytes(st.total.pss)}, RSS total ${formatBytes(st.total.rss)}; saved by sharing ${formatBytes(st.savedBySharing)}; host used ${formatBytes(st.hostUsedBytes)}`);
      return 0;
    }
    default:
      throw new RegError('USAGE', `unknown command "${cmd}"`, { hint: `usage: ${USAGE}` });
  }
}
