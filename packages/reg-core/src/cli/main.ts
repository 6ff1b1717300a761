// The `reg` command line: dispatches to one module per command group and renders errors.

import { RegError } from '../errors.js';
import { regHome } from '../home.js';
import { exportTree, materialise } from '../resolve/materialise.js';
import { resolveGraph, filePlan } from '../resolve/resolve.js';
import { parse, need } from './args.js';
import { formatBytes, renderError, table } from './output.js';
import { retCommand } from './ret.js';
import { storeCommand } from './store.js';
import { containerCommand } from './container.js';
import { parseHostTarget, RemoteHost } from './remote.js';
import { remoteCommand } from './remote-commands.js';
import { registryCommand } from './registry.js';
import { Engine } from '../container/engine.js';
import { pruneCgroupParents } from '../cgroup/parents.js';

const HELP = `reg — ultra-lightweight containers generated from runtime environment templates

usage: reg [--home DIR] [--host unix:PATH|URL] COMMAND

templates (RETs)
  ret build --from-host PATH   build RETs from an installed runtime (e.g. /usr/bin/python3.11)
  ret add FILE.yaml            add a hand-written RET (the paper's form) from host files
  ret ls | ret show REF | ret rm REF
  resolve REF                  the RETs a reference needs, and its file count
  materialise REF              build (once) and print the OverlayFS lower layers of REF
  export REF DIR               one flat hard-link tree of REF's closure (for chroot)

containers
  run -t REF [-c CMD | -- CMD ARGS]   generate, start and wait (the paper's reg run); -d detaches
  generate -t REF | start ID | stop ID | rm ID | ps [-a] | inspect ID | logs ID
  exec ID -- CMD               another process in a running container
  install ID REF | uninstall ID REF   insert a RET into a running container, or take it out
  stats                        memory of running containers (RSS, PSS, private, shared)

registry (any OCI distribution registry; plain HTTP only on loopback)
  push REF REGISTRY/NAMESPACE  push a RET and every RET it requires (only blobs the registry lacks)
  pull REF... [--from REGISTRY/NAMESPACE]   pull RETs and their requires (only blobs the store lacks)
  search REGISTRY/NAMESPACE [NAME]          the RETs and versions a registry offers (= ret ls --remote)

store
  store stats | store verify | store gc

cgroups
  cgroup prune [--dry-run]   remove the cgroup parents of REG_HOMEs that no longer exist

State lives under REG_HOME (default /var/lib/reg); --home overrides it. With --host (or REG_HOST)
the container commands and "ret ls" go to a running Reg host instead (REG_TOKEN for TCP).`;

export async function main(argv: string[]): Promise<number> {
  let args = argv;
  let homeDir: string | undefined;
  let hostFlag = process.env.REG_HOST || undefined;
  // Global options come before the command: --home DIR, --host unix:PATH|URL.
  while (args[0] === '--home' || args[0] === '--host') {
    if (args[0] === '--home') homeDir = args[1];
    else hostFlag = args[1];
    args = args.slice(2);
  }
  const home = regHome(homeDir);
  const [cmd, ...rest] = args;
  try {
    switch (cmd) {
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        console.log(HELP);
        return cmd === undefined ? 2 : 0;
      case 'ret':
        if ((rest[0] === 'ls' || rest[0] === 'list') && rest.some((a) => a === '--remote' || a.startsWith('--remote='))) {
          return await registryCommand(home, 'search', rest.slice(1));
        }
        return await retCommand(home, rest);
      case 'push':
      case 'pull':
      case 'search':
        return await registryCommand(home, cmd, rest);
      case 'run':
      case 'generate':
      case 'start':
      case 'stop':
      case 'rm':
      case 'ps':
      case 'inspect':
      case 'logs':
      case 'exec':
      case 'install':
      case 'uninstall':
      case 'stats':
        if (hostFlag) return await remoteCommand(new RemoteHost(parseHostTarget(hostFlag)), cmd, rest);
        return await containerCommand(() => Engine.open({ home }), cmd, rest);
      case 'store':
        return await storeCommand(home, rest);
      case 'cgroup': {
        const usage = 'reg cgroup prune [--dry-run]';
        const { values, positionals } = parse(rest, { 'dry-run': { type: 'boolean' } }, usage);
        if (positionals[0] !== 'prune') throw new RegError('USAGE', `unknown cgroup command "${positionals[0] ?? ''}"`, { hint: `usage: ${usage}` });
        const r = await pruneCgroupParents({ dryRun: values['dry-run'] ?? false });
        for (const p of r.removed) console.log(`${values['dry-run'] ? 'would remove' : 'removed'} ${p.parent} (home ${p.home}, gone)`);
        for (const p of r.busy) {
          console.log(values['dry-run'] ? `would remove ${p.parent} (home ${p.home}, gone) with its cgroups ${p.cgroups.join(', ')} if they have no processes` : `kept ${p.parent} (home ${p.home}, gone): cgroups with processes: ${p.cgroups.join(', ')}`);
        }
        if (!r.removed.length && !r.busy.length) console.log('nothing to prune');
        return 0;
      }
      case 'resolve': {
        const usage = 'reg resolve REF [--json]';
        const { values, positionals } = parse(rest, { json: { type: 'boolean' } }, usage);
        const ref = need(positionals[0], 'REF', usage);
        const graph = await resolveGraph(home, ref);
        const plan = await filePlan(home, graph);
        if (values.json) console.log(JSON.stringify({ rets: graph.rets, paths: plan.size }, null, 2));
        else {
          console.log(table([['RET', 'KIND', 'FILES', 'SIZE'], ...graph.rets.map((m) => [`${m.name}@${m.version}`, m.kind, String(m.files), formatBytes(m.bytes)])]));
          console.log(`\n${ref} → ${graph.rets.length} RETs, ${plan.size} paths, no conflicts`);
        }
        return 0;
      }
      case 'materialise':
      case 'materialize': {
        const usage = 'reg materialise REF [--json]';
        const { values, positionals } = parse(rest, { json: { type: 'boolean' } }, usage);
        const m = await materialise(home, need(positionals[0], 'REF', usage));
        if (values.json) console.log(JSON.stringify(m, null, 2));
        else console.log(`lowerdir=${m.lowerdirs.join(':')}`);
        return 0;
      }
      case 'export': {
        const usage = 'reg export REF DIR';
        const { positionals } = parse(rest, {}, usage);
        const r = await exportTree(home, need(positionals[0], 'REF', usage), need(positionals[1], 'DIR', usage));
        console.log(`exported ${r.files} paths to ${positionals[1]}`);
        return 0;
      }
      default:
        throw new RegError('USAGE', `unknown command "${cmd}"`, { hint: 'run `reg help` for the list of commands' });
    }
  } catch (e) {
    console.error(renderError(e));
    if (process.env.REG_DEBUG && e instanceof Error) console.error(e.stack);
    return (e as RegError).code === 'USAGE' ? 2 : 1;
  }
}
