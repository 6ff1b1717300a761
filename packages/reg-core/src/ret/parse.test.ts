import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RegError } from '../errors.js';
import { lockId, parseRet, stringifyRet } from './parse.js';
import type { LockedRet } from './schema.js';

const paperForm = `name: python
version: 3.5.2
files:
  python: /bin/python
  python3.5: /usr/lib/python3.5
libs:
  - libpthread@0
  - libc@6
  - libz@1
`;

function fails(text: string, check: (e: RegError) => void) {
  assert.throws(() => parseRet(text, 'bad.yaml'), (e: unknown) => {
    assert.ok(e instanceof RegError, `expected RegError, got ${String(e)}`);
    assert.equal(e.file, 'bad.yaml');
    check(e);
    return true;
  });
}

test("the paper's figure 6 form parses", () => {
  const ret = parseRet(paperForm, 'python.yaml');
  assert.equal(ret.name, 'python');
  assert.equal(ret.version, '3.5.2');
  assert.equal(ret.kind, 'runtime');
  assert.deepEqual(ret.libs, ['libpthread@0', 'libc@6', 'libz@1']);
  assert.equal(ret.files?.python, '/bin/python');
});

test('a locked RET round-trips through YAML, and its lock id follows its content', () => {
  const ret = parseRet(
    `name: libz
version: 1.2.13
kind: library
requires: [libc@6]
lock:
  files:
    - {path: usr/lib/x86_64-linux-gnu/libz.so.1.2.13, digest: "sha256:${'a'.repeat(64)}", size: 10, mode: "0644"}
    - {path: usr/lib/x86_64-linux-gnu/libz.so.1, link: libz.so.1.2.13}
    - {path: var/empty, dir: true}
`,
    'libz.yaml',
  ) as LockedRet;
  const again = parseRet(stringifyRet(ret), 'again.yaml') as LockedRet;
  assert.deepEqual(again.lock, { files: [...ret.lock.files].sort((a, b) => (a.path < b.path ? -1 : 1)) });
  assert.equal(lockId(again), lockId(ret));
  const changed = { ...ret, lock: { files: ret.lock.files.map((e) => (e.link ? { ...e, link: 'other' } : e)) } };
  assert.notEqual(lockId(changed), lockId(ret));
});

test('malformed YAML names the file and line', () => {
  fails('name: python\nversion: [3.5\n', (e) => {
    assert.equal(e.code, 'RET_INVALID');
    assert.match(e.message, /bad\.yaml:\d+:\d+: malformed YAML/);
  });
});

test('unknown fields are refused by name', () => {
  fails(`${paperForm}colour: blue\n`, (e) => {
    assert.equal(e.code, 'RET_INVALID');
    assert.match(e.message, /unknown field\(s\) "colour"/);
  });
});

test('bad versions are refused, and an unquoted 3.10 is explained', () => {
  fails('name: python\nversion: "three"\n', (e) => assert.equal(e.field, 'version'));
  fails('name: python\nversion: 3.10\n', (e) => {
    assert.equal(e.field, 'version');
    assert.match(e.message, /quote the version/);
  });
});

test('paths that escape the tree are PATH_ESCAPES with the field and line', () => {
  const lock = (entry: string) => `name: x\nversion: "1"\nlock:\n  files:\n    - {path: usr/bin/ok, link: x}\n    - ${entry}\n`;
  fails(lock(`{path: "usr/../../etc/passwd", digest: "sha256:${'b'.repeat(64)}", size: 1}`), (e) => {
    assert.equal(e.code, 'PATH_ESCAPES');
    assert.equal(e.field, 'lock.files[1].path');
    assert.match(e.message, /bad\.yaml:6:/);
  });
  fails(lock(`{path: /etc/passwd, digest: "sha256:${'b'.repeat(64)}", size: 1}`), (e) => {
    assert.equal(e.code, 'PATH_ESCAPES');
    assert.match(e.message, /absolute/);
  });
  fails(lock('{path: usr/lib/evil, link: ../../../../etc/shadow}'), (e) => {
    assert.equal(e.code, 'PATH_ESCAPES');
    assert.equal(e.field, 'lock.files[1].link');
    assert.match(e.message, /points out of the tree/);
  });
  fails('name: x\nversion: "1"\nfiles:\n  python: bin/python\n', (e) => {
    assert.equal(e.code, 'PATH_ESCAPES');
    assert.equal(e.field, 'files.python');
  });
});

test('a lock entry must be exactly one of file, link or dir', () => {
  fails(`name: x\nversion: "1"\nlock:\n  files:\n    - {path: a, link: b, dir: true}\n`, (e) => assert.equal(e.field, 'lock.files[0]'));
});
