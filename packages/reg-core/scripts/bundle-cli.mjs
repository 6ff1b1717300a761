#!/usr/bin/env node
// Bundles the `reg` command (dist/cli/main.js and everything it imports, @reg/native included)
// into one CommonJS file, dist/reg-cli.cjs, after tsc. Why: loading ~180 ES modules one by one
// (resolve, read, link) cost more than the container `reg run` starts; one file is read and
// compiled once, its verbs' modules are evaluated only when called (esbuild turns the CLI's
// `await import('./x.js')` into a lazy init of the bundled module), and bin/reg.js keeps V8's code
// cache of it. CommonJS because only a classic script can be compiled with V8's code cache on
// Node 20 (vm.Script cachedData).
//
// `import.meta.url` of a bundled module is rewritten to that module's original file, relative to
// the bundle, so a module that finds files next to itself (the log helper next to the engine, the
// launcher next to @reg/native) still finds them.

import { build } from 'esbuild';
import { readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { builtinModules } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const outfile = join(root, 'dist', 'reg-cli.cjs');

const importMetaPlugin = {
  name: 'import-meta-of-original-file',
  setup(b) {
    b.onLoad({ filter: /\.js$/ }, async (args) => {
      const text = await readFile(args.path, 'utf8');
      if (!text.includes('import.meta')) return undefined;
      const rel = relative(dirname(outfile), args.path);
      const file = `require('node:path').join(__dirname, ${JSON.stringify(rel)})`;
      const replaced = text
        .replaceAll('import.meta.url', `require('node:url').pathToFileURL(${file}).href`)
        .replaceAll('import.meta.filename', file)
        .replaceAll('import.meta.dirname', `require('node:path').dirname(${file})`);
      if (/import\.meta(?!\w)/.test(replaced.replace(/\/\/.*$/gm, ''))) {
        return { errors: [{ text: `${args.path} uses import.meta in a way the CLI bundle cannot rewrite (only .url, .filename, .dirname)` }] };
      }
      return { contents: replaced, loader: 'js' };
    });
  },
};

const result = await build({
  entryPoints: [join(root, 'dist', 'cli', 'main.js')],
  outfile,
  // Written below, atomically: a `reg` starting during a rebuild reads the old bundle or the new one.
  write: false,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  // Minified: less to read, hash and deserialise at every start; function and class names are
  // kept, so a stack trace (REG_DEBUG=1) still reads.
  minify: true,
  keepNames: true,
  sourcemap: false,
  legalComments: 'none',
  logLevel: 'warning',
  plugins: [importMetaPlugin],
});
// The bundle must not load modules at run time other than Node's own: a leftover dynamic
// import() would not work from the code-cached script.
const out = result.outputFiles[0].text;
const external = [...out.matchAll(/\brequire\("([^"]+)"\)/g)].map((m) => m[1]).filter((m) => !m.startsWith('node:') && !builtinModules.includes(m));
if (/\bimport\(/.test(out) || external.length) {
  await rm(outfile, { force: true });
  throw new Error(`dist/reg-cli.cjs would load modules at run time (${[...new Set(external)].join(', ') || 'import()'}): bundle them or change the import`);
}
const tmp = `${outfile}.${process.pid}.tmp`;
await writeFile(tmp, out);
await rename(tmp, outfile);
// Code caches of earlier bundles: their names carry that bundle's mtime and size, so no new run
// would read them; remove them rather than leave them.
for (const f of await readdir(dirname(outfile))) {
  if (f.startsWith('reg-cli.') && f.endsWith('.v8cache')) await rm(join(dirname(outfile), f), { force: true });
}
