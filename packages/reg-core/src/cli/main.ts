// The `reg` command line: global options, then one module per command group, each imported only
// when its verb runs: `reg --version` and `reg help` load nothing else, `reg ps` no RET building,
// registry or store code. Errors are rendered here, once.

import { RegError } from '../errors.js';
import { regHome } from '../home.js';
import { renderError } from './output.js';
import { REG_VERSION } from './version.js';

const HELP = `reg — ultra-lightweight containers generated from runtime environment templates

usage: reg [--home DIR] [--host unix:PATH|URL] COMMAND      (reg --version)

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

pools (cgroups made ahead of time and recycled, shared by every process over REG_HOME)
  pool [status] [--json] | pool fill N | pool drain

cgroups
  cgroup prune [--dry-run]   remove the cgroup parents of REG_HOMEs that no longer exist

State lives under REG_HOME (default /var/lib/reg); --home overrides it. With --host (or REG_HOST)
the container commands and "ret ls" go to a running Reg host instead (REG_TOKEN for TCP).`;

const CONTAINER_VERBS = new Set(['run', 'generate', 'start', 'stop', 'rm', 'ps', 'inspect', 'logs', 'exec', 'install', 'uninstall', 'stats']);

export async function main(argv: string[]): Promise<number> {
  let args = argv;
  let homeDir: string | undefined;
  let hostFlag = process.env.REG_HOST || undefined;
  try {
    // Global options come before the command: --home DIR, --host unix:PATH|URL.
    while (args[0] === '--home' || args[0] === '--host') {
      if (args[1] === undefined || args[1] === '') throw new RegError('USAGE', `${args[0]} needs a value`, { field: args[0], hint: args[0] === '--home' ? 'e.g. --home /var/lib/reg' : 'e.g. --host unix:/var/lib/reg/reg.sock' });
      if (args[0] === '--home') homeDir = args[1];
      else hostFlag = args[1];
      args = args.slice(2);
    }
    const home = regHome(homeDir);
    const [cmd, ...rest] = args;
    switch (cmd) {
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        console.log(HELP);
        return cmd === undefined ? 2 : 0;
      case 'version':
      case '--version':
      case '-V':
        console.log(`reg ${REG_VERSION} (node ${process.version})`);
        return 0;
      case 'ret':
        if ((rest[0] === 'ls' || rest[0] === 'list') && rest.some((a) => a === '--remote' || a.startsWith('--remote='))) {
          return await (await import('./registry.js')).registryCommand(home, 'search', rest.slice(1));
        }
        return await (await import('./ret.js')).retCommand(home, rest);
      case 'push':
      case 'pull':
      case 'search':
        return await (await import('./registry.js')).registryCommand(home, cmd, rest);
      case 'store':
        return await (await import('./store.js')).storeCommand(home, rest);
      case 'pool': {
        if (hostFlag) throw new RegError('USAGE', '"reg pool" works in embedded mode only (without --host)', { hint: 'a Reg host sizes its own pools (a class start reserves them); drop --host / REG_HOST' });
        const [{ Engine }, { poolCommand }] = await Promise.all([import('../container/engine.js'), import('./pool.js')]);
        return await poolCommand(() => Engine.open({ home }), rest);
      }
      case 'cgroup':
        return await (await import('./cgroup.js')).cgroupCommand(rest);
      case 'resolve':
      case 'materialise':
      case 'materialize':
      case 'export':
        return await (await import('./closure.js')).closureCommand(home, cmd, rest);
      default:
        if (CONTAINER_VERBS.has(cmd)) {
          if (hostFlag) {
            const [{ parseHostTarget, RemoteHost }, { remoteCommand }] = await Promise.all([import('./remote.js'), import('./remote-commands.js')]);
            return await remoteCommand(new RemoteHost(parseHostTarget(hostFlag)), cmd, rest);
          }
          const [{ Engine }, { containerCommand }] = await Promise.all([import('../container/engine.js'), import('./container.js')]);
          return await containerCommand(() => Engine.open({ home }), cmd, rest);
        }
        throw new RegError('USAGE', `unknown command "${cmd}"`, { hint: 'run `reg help` for the list of commands' });
    }
  } catch (e) {
    console.error(renderError(e));
    if (process.env.REG_DEBUG && e instanceof Error) console.error(e.stack);
    return (e as RegError).code === 'USAGE' ? 2 : 1;
  }
}
