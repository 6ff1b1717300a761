// The static loader emulation, checked against ldd (glibc's own answer) on the host's runtimes and
// on gcc-built trees that exercise RPATH inheritance, RUNPATH, $ORIGIN/$LIB/$PLATFORM and slash
// names; and against a fake root whose ld.so.conf includes globs and whose symlinks are absolute.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, normalize, resolve } from 'node:path';
import { isRegError } from '../errors.js';
import type { ElfObject } from './elf.js';
import {
  defaultLibraryDirs,
  readLoaderConfig,
  resolveDependencies,
  type DependencyClosure,
  type LoaderConfig,
} from './loader-search.js';

const PYTHON = '/usr/bin/python3.11';
const NODE = '/usr/bin/node';
const SSL_MODULE = '/usr/lib/python3.11/lib-dynload/_ssl.cpython-311-x86_64-linux-gnu.so';
const LIBC = '/usr/lib/x86_64-linux-gnu/libc.so.6';
const LDSO = '/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2';
const hasGcc = spawnSync('gcc', ['--version']).status === 0;
const hasLdd = spawnSync('ldd', ['--version']).status === 0;
const isX86Debian = process.arch === 'x64' && existsSync(LIBC) && existsSync(LDSO);

interface LddEntry {
  name: string;
  path: string | undefined; // undefined: "not found"
}

/** ldd as an oracle (tests only: it runs ld.so on the target). vdso has no file and is dropped. */
function ldd(file: string, cwd?: string): LddEntry[] {
  const out = spawnSync('ldd', [file], { cwd, encoding: 'utf8' }).stdout;
  const entries: LddEntry[] = [];
  for (const line of out.split('\n')) {
    const arrow = /^\s*(\S+) => (?:not found|(\S+) \(0x[0-9a-f]+\))/.exec(line);
    const bare = /^\s*(\S+) \(0x[0-9a-f]+\)/.exec(line);
    if (bare?.[1]?.startsWith('linux-vdso')) continue;
    if (arrow) entries.push({ name: arrow[1] as string, path: arrow[2] });
    else if (bare) entries.push({ name: bare[1] as string, path: bare[1] });
  }
  return entries;
}

/** Asserts the closure finds exactly what ldd finds, in ldd's order, by real path. */
function assertMatchesLdd(closure: DependencyClosure, file: string, cwd?: string): void {
  const oracle = ldd(file, cwd);
  assert.ok(oracle.length > 0, `ldd printed nothing for ${file}`);
  assert.deepEqual(
    closure.libraries.map((l) => l.realPath),
    oracle.map((e) => realpathSync(resolve(cwd ?? '.', e.path as string))),
    `closure of ${file} vs ldd`,
  );
  for (const e of oracle) {
    if (e.name.includes('/')) continue; // the loader or a slash name: compared by real path above
    const lib = closure.libraries.find((l) => l.soname === e.name);
    assert.ok(lib, `${e.name} missing from the closure`);
    // ld.so prints <origin>/../lib/x literally; we report it with '..' collapsed.
    assert.equal(lib.path, normalize(e.path as string), `${e.name}: ld.so finds it at ${e.path}`);
  }
}

async function rejectsWith(p: Promise<unknown>, code: string, check?: (e: { message: string; file?: string; field?: string; hint?: string }) => void) {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(isRegError(e), `expected a RegError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    check?.(e);
    return true;
  });
}

function fakeObject(machine: number, elfClass: 32 | 64, endian: 'le' | 'be' = 'le'): ElfObject {
  return { path: '/x', elfClass, endian, machine, type: 'DYN', needed: [], rpath: [], runpath: [] };
}

describe('defaultLibraryDirs', () => {
  it('x86_64 searches multiarch, lib64, then lib', () => {
    assert.deepEqual(defaultLibraryDirs(fakeObject(62, 64)), [
      '/lib/x86_64-linux-gnu',
      '/usr/lib/x86_64-linux-gnu',
      '/lib64',
      '/usr/lib64',
      '/lib',
      '/usr/lib',
    ]);
  });

  it('covers aarch64, i386, arm, riscv64', () => {
    const cases: Array<[number, 32 | 64, string]> = [
      [183, 64, '/usr/lib/aarch64-linux-gnu'],
      [3, 32, '/usr/lib/i386-linux-gnu'],
      [40, 32, '/usr/lib/arm-linux-gnueabihf'],
      [243, 64, '/usr/lib/riscv64-linux-gnu'],
    ];
    for (const [machine, cls, triplet] of cases) {
      const dirs = defaultLibraryDirs(fakeObject(machine, cls));
      assert.ok(dirs.includes(triplet), `${machine}: ${dirs.join(':')}`);
      assert.deepEqual(dirs.slice(-2), ['/lib', '/usr/lib']);
      assert.equal(dirs.includes('/lib64'), cls === 64, `${machine}`);
    }
  });
});

describe('readLoaderConfig', () => {
  let root = '';
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'reg-ldconf-'));
    const put = async (p: string, text: string) => {
      await mkdir(dirname(join(root, p)), { recursive: true });
      await writeFile(join(root, p), text);
    };
    await put('etc/ld.so.conf', '# the top file\ninclude ld.so.conf.d/*.conf\nhwcap 0 nosegneg\n/opt/last\n');
    await put('etc/ld.so.conf.d/a-x32.conf', '/opt/x32/lib\n');
    await put('etc/ld.so.conf.d/b-demo.conf', '  /opt/demo/lib/   # trailing comment\ninclude /etc/more/*.conf /etc/absent/*.conf\n');
    await put('etc/ld.so.conf.d/.hidden.conf', '/hidden\n');
    await put('etc/ld.so.conf.d/notes.txt', '/not-a-conf\n');
    await put('etc/more/c.conf', '/usr/lib=libc5\nrelative/dir\n/opt/x32/lib\ninclude /etc/ld.so.conf\n');
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('follows include globs (relative and absolute), skips comments, hwcap and relative dirs', async () => {
    const config = await readLoaderConfig(root);
    assert.equal(config.root, root);
    assert.deepEqual(config.confDirs, ['/opt/x32/lib', '/opt/demo/lib', '/usr/lib', '/opt/last']);
  });

  it('a root without ld.so.conf has no conf dirs', async () => {
    assert.deepEqual((await readLoaderConfig(join(root, 'etc/more'))).confDirs, []);
  });

  it('reads the host configuration', { skip: existsSync('/etc/ld.so.conf') ? false : 'no /etc/ld.so.conf' }, async () => {
    const config = await readLoaderConfig();
    assert.equal(config.root, '/');
    assert.ok(config.confDirs.every((d) => d.startsWith('/')));
    if (existsSync('/etc/ld.so.conf.d/x86_64-linux-gnu.conf')) {
      assert.ok(config.confDirs.includes('/usr/lib/x86_64-linux-gnu'), config.confDirs.join(':'));
    }
  });
});

describe('resolveDependencies on the host runtimes, against ldd', { skip: hasLdd && isX86Debian ? false : 'needs ldd on x86_64 glibc' }, () => {
  let config: LoaderConfig;
  before(async () => {
    config = await readLoaderConfig();
  });

  it('python3.11: libm, libz, libexpat, libc and the loader', { skip: existsSync(PYTHON) ? false : `no ${PYTHON}` }, async () => {
    const closure = await resolveDependencies([PYTHON], config);
    assert.equal(closure.interpreter, '/lib64/ld-linux-x86-64.so.2');
    assert.deepEqual(
      closure.libraries.map((l) => l.soname),
      ['libm.so.6', 'libz.so.1', 'libexpat.so.1', 'libc.so.6', 'ld-linux-x86-64.so.2'],
    );
    assertMatchesLdd(closure, PYTHON);
    const loader = closure.libraries.at(-1);
    assert.equal(loader?.path, '/lib64/ld-linux-x86-64.so.2');
    assert.equal(loader?.realPath, realpathSync('/lib64/ld-linux-x86-64.so.2'));
    assert.equal(loader?.object.soname, 'ld-linux-x86-64.so.2');
    const libc = closure.libraries.find((l) => l.soname === 'libc.so.6');
    assert.deepEqual(libc?.neededBy, [
      PYTHON,
      '/lib/x86_64-linux-gnu/libm.so.6',
      '/lib/x86_64-linux-gnu/libz.so.1',
      '/lib/x86_64-linux-gnu/libexpat.so.1',
    ]);
  });

  it('the _ssl extension module: libssl, libcrypto, libc, the loader', { skip: existsSync(SSL_MODULE) ? false : `no ${SSL_MODULE}` }, async () => {
    const closure = await resolveDependencies([SSL_MODULE], config);
    assert.equal(closure.interpreter, undefined);
    assert.deepEqual(closure.libraries.slice(0, 3).map((l) => l.soname), ['libssl.so.3', 'libcrypto.so.3', 'libc.so.6']);
    assertMatchesLdd(closure, SSL_MODULE);
  });

  it('node', { skip: existsSync(NODE) ? false : `no ${NODE}` }, async () => {
    assertMatchesLdd(await resolveDependencies([NODE], config), NODE);
  });

  it('several roots merge by real path', { skip: existsSync(PYTHON) && existsSync(SSL_MODULE) ? false : 'no python3.11' }, async () => {
    const closure = await resolveDependencies([PYTHON, SSL_MODULE], config);
    const real = closure.libraries.map((l) => l.realPath);
    assert.equal(new Set(real).size, real.length);
    assert.equal(closure.libraries.length, 7); // libm libz libexpat libc libssl libcrypto ld.so
    assert.equal(closure.libraries.at(-1)?.path, '/lib64/ld-linux-x86-64.so.2');
    assert.ok(closure.libraries.find((l) => l.soname === 'libc.so.6')?.neededBy.includes(SSL_MODULE));
  });

  it('a missing root object is FILE_NOT_FOUND', async () => {
    await rejectsWith(resolveDependencies(['/usr/bin/no-such-runtime'], config), 'FILE_NOT_FOUND');
  });
});

describe('resolveDependencies on gcc-built trees', { skip: hasGcc && hasLdd && isX86Debian ? false : 'needs gcc and ldd on x86_64 glibc' }, () => {
  let dir = '';
  let config: LoaderConfig;
  const gcc = (cwd: string, ...args: string[]) => execFileSync('gcc', args, { cwd, stdio: 'pipe' });

  before(async () => {
    config = await readLoaderConfig();
    dir = realpathSync(await mkdtemp(join(tmpdir(), 'reg-ldsearch-')));
    for (const d of ['src', 'app/bin', 'app/lib', 'app/lib/x86_64-linux-gnu', 'app/x86_64']) {
      await mkdir(join(dir, d), { recursive: true });
    }
    const src = join(dir, 'src');
    await writeFile(join(src, 'dep.c'), 'int dep(void) { return 1; }\n');
    await writeFile(join(src, 'demo.c'), 'int dep(void);\nint demo(void) { return dep() + 41; }\n');
    await writeFile(join(src, 'main.c'), 'int demo(void);\nint main(void) { return demo() == 42 ? 0 : 1; }\n');
    await writeFile(join(src, 'tok.c'), 'int tok(void) { return 1; }\nint plat(void);\nint demo(void) { return tok() + plat() + 40; }\n');
    await writeFile(join(src, 'plat.c'), 'int plat(void) { return 1; }\n');
    const lib = join(dir, 'app/lib');
    gcc(src, '-shared', '-fPIC', '-Wl,-soname,libdep.so', '-o', join(lib, 'libdep.so'), 'dep.c');
    gcc(src, '-shared', '-fPIC', '-Wl,-soname,libdemo.so.1', '-o', join(lib, 'libdemo.so.1.0'), 'demo.c', `-L${lib}`, '-ldep');
    await symlink('libdemo.so.1.0', join(lib, 'libdemo.so.1'));
    const bin = join(dir, 'app/bin');
    gcc(src, '-o', join(bin, 'with-rpath'), 'main.c', join(lib, 'libdemo.so.1'), '-Wl,-rpath,$ORIGIN/../lib', '-Wl,--disable-new-dtags');
    gcc(src, '-o', join(bin, 'with-runpath'), 'main.c', join(lib, 'libdemo.so.1'), '-Wl,-rpath,$ORIGIN/../lib', '-Wl,--enable-new-dtags');
    // $LIB and $PLATFORM: libtok lives in ../lib/x86_64-linux-gnu (Debian's $LIB), libplat in ../x86_64.
    gcc(src, '-shared', '-fPIC', '-Wl,-soname,libplat.so', '-o', join(dir, 'app/x86_64/libplat.so'), 'plat.c');
    gcc(src, '-shared', '-fPIC', '-Wl,-soname,libtok.so', '-o', join(lib, 'x86_64-linux-gnu/libtok.so'), 'tok.c', join(dir, 'app/x86_64/libplat.so'));
    gcc(src, '-o', join(bin, 'dst'), 'main.c', join(lib, 'x86_64-linux-gnu/libtok.so'), join(dir, 'app/x86_64/libplat.so'),
      '-Wl,-rpath,${ORIGIN}/../$LIB:$ORIGIN/../$PLATFORM', '-Wl,--disable-new-dtags');
    // A DT_NEEDED with a slash: a library without soname linked by a relative path.
    gcc(src, '-shared', '-fPIC', '-o', join(lib, 'libslash.so'), 'dep.c');
    await writeFile(join(src, 'slash.c'), 'int dep(void);\nint main(void) { return dep() - 1; }\n');
    gcc(bin, '-o', 'slash', '../../src/slash.c', '../lib/libslash.so');
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('DT_RPATH is inherited: libdemo finds libdep through the executable\'s RPATH', async () => {
    const exe = join(dir, 'app/bin/with-rpath');
    const closure = await resolveDependencies([exe], config);
    const demo = closure.libraries.find((l) => l.soname === 'libdemo.so.1');
    assert.equal(demo?.path, join(dir, 'app/lib/libdemo.so.1')); // $ORIGIN/../lib, normalized
    assert.equal(demo?.realPath, join(dir, 'app/lib/libdemo.so.1.0'));
    assert.equal(demo?.object.soname, 'libdemo.so.1');
    const dep = closure.libraries.find((l) => l.soname === 'libdep.so');
    assert.equal(dep?.path, join(dir, 'app/lib/libdep.so'));
    assert.deepEqual(dep?.neededBy, [join(dir, 'app/lib/libdemo.so.1')]);
    assertMatchesLdd(closure, exe);
  });

  it('DT_RUNPATH is not inherited: libdep is LIBRARY_NOT_FOUND, as ldd says', async () => {
    const exe = join(dir, 'app/bin/with-runpath');
    assert.deepEqual(ldd(exe).find((e) => e.name === 'libdep.so'), { name: 'libdep.so', path: undefined });
    await rejectsWith(resolveDependencies([exe], config), 'LIBRARY_NOT_FOUND', (e) => {
      assert.match(e.message, /libdep\.so/);
      assert.ok(e.message.includes(join(dir, 'app/lib/libdemo.so.1')), e.message);
      assert.ok(e.message.includes('/usr/lib/x86_64-linux-gnu'), 'lists the dirs searched');
      assert.equal(e.file, join(dir, 'app/lib/libdemo.so.1'));
      assert.match(e.hint ?? '', /install the package that provides libdep\.so/);
    });
  });

  it('expands ${ORIGIN}, $LIB and $PLATFORM like ld.so', async () => {
    const exe = join(dir, 'app/bin/dst');
    const closure = await resolveDependencies([exe], config);
    assert.equal(closure.libraries.find((l) => l.soname === 'libtok.so')?.path, join(dir, 'app/lib/x86_64-linux-gnu/libtok.so'));
    assert.equal(closure.libraries.find((l) => l.soname === 'libplat.so')?.path, join(dir, 'app/x86_64/libplat.so'));
    assertMatchesLdd(closure, exe);
  });

  it('a DT_NEEDED path with a slash resolves against the object\'s directory', async () => {
    const exe = join(dir, 'app/bin/slash');
    const closure = await resolveDependencies([exe], config);
    const slash = closure.libraries[0];
    assert.equal(slash?.soname, join(dir, 'app/lib/libslash.so'));
    assert.equal(slash?.path, join(dir, 'app/lib/libslash.so'));
    assertMatchesLdd(closure, exe, join(dir, 'app/bin')); // ld.so uses the cwd: run ldd from there
  });
});

describe('resolveDependencies under a fake root', { skip: hasGcc && isX86Debian ? false : 'needs gcc on x86_64 glibc' }, () => {
  let root = '';
  let config: LoaderConfig;

  before(async () => {
    root = realpathSync(await mkdtemp(join(tmpdir(), 'reg-fakeroot-')));
    const at = (p: string) => join(root, p);
    for (const d of ['etc/ld.so.conf.d', 'opt/x32/lib', 'opt/demo/lib', 'usr/bin', 'usr/lib/x86_64-linux-gnu', 'lib64', 'src']) {
      await mkdir(at(d), { recursive: true });
    }
    await writeFile(at('etc/ld.so.conf'), 'include /etc/ld.so.conf.d/*.conf\n');
    await writeFile(at('etc/ld.so.conf.d/10-x32.conf'), '/opt/x32/lib\n');
    await writeFile(at('etc/ld.so.conf.d/20-demo.conf'), '# demo\n/opt/demo/lib\n');

    const src = at('src');
    await writeFile(join(src, 'dep.c'), 'int dep(void) { return 1; }\n');
    await writeFile(join(src, 'demo.c'), 'int dep(void);\nint demo(void) { return dep() + 41; }\n');
    await writeFile(join(src, 'main.c'), 'int demo(void);\nint main(void) { return demo() == 42 ? 0 : 1; }\n');
    execFileSync('gcc', ['-shared', '-fPIC', '-Wl,-soname,libdep.so', '-o', at('usr/lib/x86_64-linux-gnu/libdep.so'), 'dep.c'], { cwd: src });
    execFileSync('gcc', ['-shared', '-fPIC', '-Wl,-soname,libdemo.so.1', '-o', at('opt/demo/lib/libdemo.so.1.0'), 'demo.c',
      at('usr/lib/x86_64-linux-gnu/libdep.so')], { cwd: src });
    execFileSync('gcc', ['-o', at('usr/bin/app'), 'main.c', at('opt/demo/lib/libdemo.so.1.0'),
      `-Wl,-rpath-link,${at('usr/lib/x86_64-linux-gnu')}`], { cwd: src });

    // Absolute symlinks must be followed inside the root: /lib -> /usr/lib exists on the host too.
    await symlink('/usr/lib', at('lib'));
    await symlink('/opt/demo/lib/libdemo.so.1.0', at('opt/demo/lib/libdemo.so.1'));
    await symlink('/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2', at('lib64/ld-linux-x86-64.so.2'));
    await copyFile(LIBC, at('usr/lib/x86_64-linux-gnu/libc.so.6'));
    await copyFile(LDSO, at('usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2'));
    // An ELF32 i386 header named like the wanted library, earlier on the path: skipped, not fatal.
    const elf32 = Buffer.alloc(52);
    elf32.set([0x7f, 0x45, 0x4c, 0x46, 1, 1, 1], 0);
    elf32.writeUInt16LE(3, 16); // ET_DYN
    elf32.writeUInt16LE(3, 18); // EM_386
    elf32.writeUInt16LE(52, 40);
    await writeFile(at('opt/x32/lib/libdemo.so.1'), elf32);
    await writeFile(at('opt/x32/lib/libonly32.so.1'), elf32);
    if (existsSync(PYTHON)) await copyFile(PYTHON, at('usr/bin/python3'));
    config = await readLoaderConfig(root);
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('reports container paths and resolves symlinks inside the root', async () => {
    assert.deepEqual(config.confDirs, ['/opt/x32/lib', '/opt/demo/lib']);
    const closure = await resolveDependencies(['/usr/bin/app'], config);
    assert.equal(closure.interpreter, '/lib64/ld-linux-x86-64.so.2');
    assert.deepEqual(
      closure.libraries.map((l) => [l.soname, l.path, l.realPath]),
      [
        ['libdemo.so.1', '/opt/demo/lib/libdemo.so.1', '/opt/demo/lib/libdemo.so.1.0'],
        ['libc.so.6', '/lib/x86_64-linux-gnu/libc.so.6', '/usr/lib/x86_64-linux-gnu/libc.so.6'],
        ['libdep.so', '/lib/x86_64-linux-gnu/libdep.so', '/usr/lib/x86_64-linux-gnu/libdep.so'],
        ['ld-linux-x86-64.so.2', '/lib64/ld-linux-x86-64.so.2', '/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2'],
      ],
    );
    for (const l of closure.libraries) assert.equal(l.object.path, l.realPath);
    assert.deepEqual(closure.libraries[2]?.neededBy, ['/opt/demo/lib/libdemo.so.1']);
    assert.deepEqual(closure.libraries[3]?.neededBy, ['/usr/bin/app', '/lib/x86_64-linux-gnu/libc.so.6']);
    assert.ok(!JSON.stringify(closure).includes(root), 'no host path leaks into the closure');
  });

  it('a library only on the host is LIBRARY_NOT_FOUND inside the root', { skip: existsSync(PYTHON) ? false : `no ${PYTHON}` }, async () => {
    await rejectsWith(resolveDependencies(['/usr/bin/python3'], config), 'LIBRARY_NOT_FOUND', (e) => {
      assert.match(e.message, /libm\.so\.6, needed by \/usr\/bin\/python3, was not found/);
      assert.ok(e.message.includes('/opt/demo/lib'), e.message);
      assert.equal(e.file, '/usr/bin/python3');
      assert.equal(e.field, 'DT_NEEDED');
    });
  });

  it('names the incompatible candidates it skipped', async () => {
    const src = join(root, 'src');
    await writeFile(join(src, 'only32.c'), 'int main(void) { return 0; }\n');
    await writeFile(join(src, 'stub.c'), 'int stub(void) { return 0; }\n');
    execFileSync('gcc', ['-shared', '-fPIC', '-Wl,-soname,libonly32.so.1', '-o', join(src, 'libonly32.so.1'), 'stub.c'], { cwd: src });
    execFileSync('gcc', ['-o', join(root, 'usr/bin/app32'), 'only32.c', '-Wl,--no-as-needed', join(src, 'libonly32.so.1')], { cwd: src });
    await rejectsWith(resolveDependencies(['/usr/bin/app32'], config), 'LIBRARY_NOT_FOUND', (e) => {
      assert.match(e.message, /libonly32\.so\.1/);
      assert.match(e.message, /skipped incompatible \/opt\/x32\/lib\/libonly32\.so\.1 \(ELF32/);
    });
  });

  it('a missing root object is FILE_NOT_FOUND, a text file NOT_ELF', async () => {
    await rejectsWith(resolveDependencies(['/usr/bin/absent'], config), 'FILE_NOT_FOUND', (e) =>
      assert.equal(e.file, '/usr/bin/absent'),
    );
    await rejectsWith(resolveDependencies(['/etc/ld.so.conf'], config), 'NOT_ELF');
  });
});
