#!/usr/bin/env node
// The `reg` command. The CLI lives in src/cli; this file only starts it, as fast as Node allows:
// from dist/reg-cli.cjs, the whole CLI bundled into one script at build time (scripts/bundle-cli.mjs),
// compiled with V8's code cache of an earlier run of the same verb (dist/reg-cli.<verb>.<bundle
// mtime>-<size>.v8cache, written after the first run when dist/ is writable). The name ties a cache
// to one bundle file: V8 itself checks only the source's length (and its own version and flags),
// so a cache must never meet another bundle of the same length. A rejected cache is rewritten. Falls back to the compiled modules (dist/cli/main.js) when the bundle
// is missing or older than the last tsc build, and when REG_CLI_BUNDLE=0.
//
// CommonJS (bin/package.json) on purpose: an ES module entry costs Node its ESM loader and a
// facade of every builtin it imports (node:fs's facade alone loads the fs streams).
'use strict';

const { closeSync, fstatSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');

const dist = join(__dirname, '..', 'dist');
const bundle = join(dist, 'reg-cli.cjs');
const argv = process.argv.slice(2);

/** The bundle (its text and identity), when it exists and is at least as new as the modules tsc built last. */
function freshBundle() {
  if (process.env.REG_CLI_BUNDLE === '0') return undefined;
  let fd;
  try {
    // One open file for the identity and the text: a rebuild renaming a new bundle into place
    // between the two cannot pair one bundle's cache name with the other's source.
    fd = openSync(bundle, 'r');
    const st = fstatSync(fd);
    const built = statSync(join(__dirname, '..', 'tsconfig.build.tsbuildinfo'), { throwIfNoEntry: false })?.mtimeMs ?? 0;
    if (st.mtimeMs < built) return undefined;
    return { source: readFileSync(fd, 'utf8'), id: `${Math.floor(st.mtimeMs)}-${st.size}` };
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** The verb whose code cache to use: the first word after the global options. */
function verbOf(args) {
  let i = 0;
  while (args[i] === '--home' || args[i] === '--host') i += 2;
  const v = args[i] ?? 'help';
  return /^[a-z]{1,16}$/.test(v) ? v : 'other';
}

/** Best effort: a read-only install or a racing writer just means no cache this time. */
function saveCache(script, file) {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, script.createCachedData(), { mode: 0o644 });
    renameSync(tmp, file);
  } catch {
    try {
      unlinkSync(tmp);
    } catch {
      // nothing written
    }
  }
}

async function start() {
  const fresh = freshBundle();
  if (fresh === undefined) {
    const { main } = await import('../dist/cli/main.js');
    return main(argv);
  }
  const { Script } = require('node:vm');
  const { source, id } = fresh;
  const cacheFile = join(dist, `reg-cli.${verbOf(argv)}.${id}.v8cache`);
  let cachedData;
  try {
    cachedData = readFileSync(cacheFile);
  } catch {
    // first run of this verb: compiled from source, cache written below
  }
  const script = new Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, { filename: bundle, ...(cachedData && { cachedData }) });
  const mod = { exports: {} };
  script.runInThisContext().call(mod.exports, mod.exports, require, mod, bundle, dist);
  const code = await mod.exports.main(argv);
  if (!cachedData || script.cachedDataRejected) saveCache(script, cacheFile);
  return code;
}

start().then(
  (code) => {
    process.exitCode = code;
  },
  (e) => {
    // main() renders every error itself; this is the loader failing.
    console.error(`reg: internal error: ${e?.message ?? e}\n  hint: rebuild with \`npm run build -w @reg/core\`; REG_CLI_BUNDLE=0 runs the unbundled CLI`);
    process.exitCode = 1;
  },
);
