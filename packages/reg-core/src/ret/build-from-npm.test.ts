// RETs from npm packages: lodash and express (with its dependency tree) required from a real node
// container; an install script is reported and never run; rebuilding is unchanged; an unknown
// package is named and the store is left as it was. Needs root and the npm registry.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { Engine } from '../container/engine.js';
import { RegError } from '../errors.js';
import { snapshot, tempHome } from '../test-support/temp-home.js';
import { buildFromHost } from './build-from-host.js';
import { buildFromNpm, parseNpmSpec, retNameOfNpm } from './build-from-npm.js';
import { composeRet } from './compose.js';
import { listVersions, loadRet } from './repository.js';
import { pushRet } from '../registry/push.js';
import { pullRet } from '../registry/pull.js';
import { registryUnavailable, startTestRegistry } from '../test-support/docker-registry.js';

const skip = process.getuid?.() !== 0 ? 'needs root: overlay mounts, namespaces, cgroups' : !existsSync('/usr/bin/node') ? 'needs /usr/bin/node' : false;
const home = tempHome('reg-npm-');
let engine: Engine;

async function run(ret: string, command: string[]): Promise<{ code: number | undefined; output: string }> {
  let out = '';
  const r = await engine.run({
    ret,
    command,
    rm: true,
    spawn: (file, args) => {
      const c = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      c.stdout.on('data', (d: Buffer) => (out += d.toString()));
      c.stderr.on('data', (d: Buffer) => (out += d.toString()));
      return { pid: c.pid!, exited: new Promise((res) => c.on('close', (code, signal) => res({ code, signal }))) };
    },
  });
  return { code: r.outcome.code, output: out };
}

before(async () => {
  if (skip) return;
  engine = await Engine.open({ home });
  await buildFromHost(home, '/usr/bin/node');
});

after(async () => {
  if (engine) for (const s of await engine.list({ all: true })) await engine.remove(s.id, { force: true }).catch(() => {});
  await engine?.disposeCgroupParent();
  home.cleanup();
});

test('npm specs and RET names', () => {
  assert.deepEqual(parseNpmSpec('lodash@4'), { name: 'lodash', range: '4' });
  assert.deepEqual(parseNpmSpec('@babel/core@7.1'), { name: '@babel/core', range: '7.1' });
  assert.deepEqual(parseNpmSpec('express'), { name: 'express' });
  assert.equal(retNameOfNpm('@babel/core'), 'node-babel-core');
  assert.throws(() => parseNpmSpec('Not A Package'), /is not an npm package name/);
});

test('lodash and express (with its dependencies) are required from a node container', { skip }, async () => {
  const report = await buildFromNpm(home, ['lodash@4', 'express@4']);
  const express = await loadRet(home, 'node-express', (await listVersions(home, 'node-express'))[0]!);
  assert.equal(express.kind, 'package');
  assert.equal(express.source?.npm?.package, 'express');
  assert.match(express.source?.npm?.integrity ?? '', /^sha512-/);
  assert.match(express.version, /^4\./);
  assert.ok(express.requires?.some((r) => r.startsWith('node@')));
  assert.ok(express.lock.files.some((f) => f.path === 'usr/lib/node/express/node_modules/body-parser/package.json'), 'dependencies are nested under the package');
  assert.ok(!express.lock.files.some((f) => f.path.includes('.package-lock.json')));
  assert.equal(report.warnings.length, 0, report.warnings.join('\n'));
  const node = (await listVersions(home, 'node'))[0]!;
  await composeRet(home, { name: 'web', version: '1', members: [`node@${node}`, 'node-lodash@4', 'node-express@4'] });
  const r = await run('web@1', ['node', '-e', [
    "const _ = require('lodash'); console.log(JSON.stringify(_.chunk([1, 2, 3, 4], 2)));",
    "const app = require('express')(); app.get('/', (q, s) => s.send('hello from express'));",
    "const srv = app.listen(0, '127.0.0.1', async () => { console.log(await (await fetch(`http://127.0.0.1:${srv.address().port}/`)).text()); srv.close(); });",
  ].join('\n')]);
  assert.equal(r.code, 0, r.output);
  assert.deepEqual(r.output.trim().split('\n'), ['[[1,2],[3,4]]', 'hello from express']);
  // The same versions again: unchanged, nothing stored.
  const again = await buildFromNpm(home, ['lodash@4', 'express@4']);
  assert.equal(again.newBlobs, 0);
  assert.deepEqual(again.rets.map((x) => x.status), ['unchanged', 'unchanged']);
});

test('an install script is reported, never run', { skip }, async () => {
  const report = await buildFromNpm(home, ['core-js@3']);
  assert.ok(report.warnings.some((w) => /^core-js@3\.\S+ has an install script \(postinstall: /.test(w)), report.warnings.join('\n'));
});

test('an npm package that does not exist is named; the store is unchanged', { skip }, async () => {
  const before = snapshot(home.root);
  await assert.rejects(buildFromNpm(home, ['no-such-package-for-reg-xyz']), (e: unknown) => {
    assert.ok(e instanceof RegError);
    assert.equal(e.code, 'RET_NOT_FOUND');
    assert.match(e.message, /"no-such-package-for-reg-xyz" does not exist/);
    return true;
  });
  assert.deepEqual(snapshot(home.root), before);
});

test('a package RET goes through a registry like any RET: pushed, pulled, identical lock and source', { skip: skip || registryUnavailable() }, async (t) => {
  const registry = await startTestRegistry();
  // A store without node keeps the closure small (lodash alone; the runtime travels the same way).
  const src = tempHome('reg-npm-push-');
  const dst = tempHome('reg-npm-pull-');
  t.after(async () => {
    await registry.stop();
    src.cleanup();
    dst.cleanup();
  });
  const built = await buildFromNpm(src, ['lodash@4']);
  assert.ok(built.warnings.some((w) => /no node RET/.test(w)));
  const target = `${registry.host}/course`;
  const pushed = await pushRet(src, 'node-lodash@4', target);
  assert.deepEqual(pushed.rets.map((r) => `${r.name} ${r.status}`), [`node-lodash pushed`]);
  const pulled = await pullRet(dst, 'node-lodash@4', { registry: target });
  assert.deepEqual(pulled.rets.map((r) => r.status), ['pulled']);
  const version = (await listVersions(src, 'node-lodash'))[0]!;
  const a = await loadRet(src, 'node-lodash', version);
  const b = await loadRet(dst, 'node-lodash', version);
  assert.deepEqual(b.lock, a.lock);
  assert.deepEqual(b.source?.npm, a.source?.npm);
  const again = await pushRet(src, 'node-lodash@4', target);
  assert.ok(again.rets.every((r) => r.status === 'up-to-date'));
});
