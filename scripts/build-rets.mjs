#!/usr/bin/env node
// The RETs a classroom needs beyond the host-built runtimes: the toolbox (tools@1: bash,
// coreutils, nano, vim, git, less, … from Debian packages, never installed on the host) and one
// environment per runtime that pairs it with the toolbox (python-tools@3.11.2 = python + tools,
// command `bash -l`). Idempotent and fast when present (a readdir per RET); the first build
// downloads ~30 MB of .debs into $REG_CACHE/debs or /var/cache/reg-debs, shared by later builds.
// Used by scripts/stack.mjs's ensureRets (npm start, e2e tests); also runnable on its own:
//   node scripts/build-rets.mjs [REG_HOME]
import { ensureToolbox, ensureToolboxEnvironment, listRets, regHome } from '@reg/core';

/** Builds the toolbox and the runtime+toolbox environments REG_HOME lacks; returns the refs built. */
export async function ensureToolboxRets(home, log = () => {}) {
  const h = regHome(home);
  const built = [];
  const report = await ensureToolbox(h, log);
  if (report) built.push(`${report.runtime.name}@${report.runtime.version}`);
  for (const r of await listRets(h)) {
    if (r.kind !== 'runtime' || !['python', 'node'].includes(r.name)) continue;
    const have = (await listRets(h)).some((x) => x.name === `${r.name}-tools` && x.version === r.version);
    if (have) continue;
    try {
      built.push(await ensureToolboxEnvironment(h, { name: r.name, version: r.version }));
    } catch (e) {
      // e.g. PATH_CONFLICT: a host-built node carries the host's /usr/bin/bash and /usr/bin/sh →
      // dash (interpreters of npm's scripts), which differ from Debian's current bash build and
      // the toolbox's /bin/sh → bash. The runtime itself still works; say why there is no pair.
      log(`no ${r.name}-tools@${r.version}: ${e.message}`);
    }
  }
  return built;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const home = process.argv[2] || process.env.REG_HOME || '/var/lib/reg';
  const built = await ensureToolboxRets(home, (m) => console.log(`build-rets: ${m}`));
  console.log(built.length ? `build-rets: built ${built.join(', ')}` : 'build-rets: everything present');
}
