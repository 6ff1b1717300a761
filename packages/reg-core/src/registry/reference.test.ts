// Registry naming: reversible RET name → repository and version → tag mappings, and where plain
// HTTP is allowed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RegError } from '../errors.js';
import {
  checkTransport,
  isLoopbackHost,
  parseRegistryTarget,
  repoComponent,
  repositoryOf,
  retNameOfComponent,
  retNameOfRepository,
  tagToVersion,
  versionToTag,
} from './reference.js';

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;

test('RET names map to valid repository components and back', () => {
  assert.equal(repoComponent('python'), 'python');
  assert.equal(repoComponent('ld-linux-x86-64'), 'ld-linux-x86-64');
  assert.equal(repoComponent('libstdc++'), 'libstdc__p__p');
  for (const name of ['python', 'libstdc++', 'ca-certificates', 'a__b', 'c.-d', 'x_y', 'g++-12', 'lib.so', 'a--b', 'z9+']) {
    const c = repoComponent(name);
    assert.match(c, COMPONENT, `${name} → ${c}`);
    assert.equal(retNameOfComponent(c), name, `${name} → ${c} → back`);
  }
  assert.equal(retNameOfComponent('foo__zbar'), undefined, 'an unknown escape is not a RET');
  assert.equal(retNameOfComponent('Foo'), undefined);
});

test('versions map to valid tags and back', () => {
  assert.equal(versionToTag('3.11.2'), '3.11.2');
  assert.equal(versionToTag('20230311+deb12u1'), '20230311_pdeb12u1');
  for (const v of ['3.11.2', '6', '2025b', '1_2', '1~rc1', '20230311+deb12u1', '1.0-3+b1', '9'.repeat(64)]) {
    const t = versionToTag(v);
    assert.match(t, TAG, `${v} → ${t}`);
    assert.equal(tagToVersion(t), v);
  }
  assert.equal(tagToVersion('latest'), undefined);
  assert.equal(tagToVersion('1_x'), undefined);
});

test('a registry target: HTTP on loopback only, HTTPS elsewhere', () => {
  const local = parseRegistryTarget('127.0.0.1:5000/campus');
  assert.deepEqual(local, { host: '127.0.0.1:5000', namespace: 'campus', baseUrl: 'http://127.0.0.1:5000', display: '127.0.0.1:5000/campus' });
  assert.equal(parseRegistryTarget('localhost:5000').baseUrl, 'http://localhost:5000');
  assert.equal(parseRegistryTarget('localhost:5000').namespace, '');
  assert.equal(parseRegistryTarget('[::1]:5000/a/b').baseUrl, 'http://[::1]:5000');
  assert.equal(parseRegistryTarget('registry.example.edu/reg/rets').baseUrl, 'https://registry.example.edu');
  assert.equal(parseRegistryTarget('https://127.0.0.1:5000/x').baseUrl, 'https://127.0.0.1:5000');
  assert.throws(() => parseRegistryTarget('http://registry.example.edu/reg'), (e: RegError) => e.code === 'USAGE' && /loopback/.test(e.message));
  assert.throws(() => parseRegistryTarget('127.0.0.1:5000/Campus'), (e: RegError) => e.code === 'USAGE');
  assert.throws(() => parseRegistryTarget(''), (e: RegError) => e.code === 'USAGE');
  assert.equal(repositoryOf(local, 'libstdc++'), 'campus/libstdc__p__p');
  assert.equal(retNameOfRepository(local, 'campus/libstdc__p__p'), 'libstdc++');
  assert.equal(retNameOfRepository(local, 'other/python'), undefined);
  assert.equal(retNameOfRepository(local, 'campus/deeper/python'), undefined);
});

test('loopback detection and the transport rule', () => {
  for (const h of ['localhost', '127.0.0.1', '127.1.2.3', '::1', '[::1]']) assert.ok(isLoopbackHost(h), h);
  for (const h of ['10.0.0.1', '128.0.0.1', 'example.com', '127.0.0.1.example.com', '::2', '127.0.0.256']) assert.ok(!isLoopbackHost(h), h);
  checkTransport(new URL('http://127.0.0.1:1/'), 'x');
  checkTransport(new URL('https://example.com/'), 'x');
  assert.throws(() => checkTransport(new URL('http://example.com/'), 'a redirect'), (e: RegError) => e.code === 'REGISTRY_PROTOCOL' && /loopback/.test(e.message));
});
