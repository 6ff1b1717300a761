// readElf against the host's real runtimes, objects gcc builds for the test, hand-built big-endian
// and 32-bit images, and broken input (text, truncation, lies in the headers, missing files).

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isRegError } from '../errors.js';
import { isElfFile, readElf } from './elf.js';

const PYTHON = '/usr/bin/python3.11';
const NODE = '/usr/bin/node';
const LIBC = '/usr/lib/x86_64-linux-gnu/libc.so.6';
const SSL_MODULE = '/usr/lib/python3.11/lib-dynload/_ssl.cpython-311-x86_64-linux-gnu.so';
const hasGcc = spawnSync('gcc', ['--version']).status === 0;

function skipUnless(path: string): string | false {
  return existsSync(path) ? false : `${path} is not installed`;
}

async function rejectsWith(p: Promise<unknown>, code: string, check?: (e: { message: string; field?: string; file?: string; hint?: string }) => void) {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(isRegError(e), `expected a RegError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    check?.(e);
    return true;
  });
}

describe('readElf on the host runtime', () => {
  it('parses python3.11: interpreter and DT_NEEDED in order', { skip: skipUnless(PYTHON) }, async () => {
    const obj = await readElf(PYTHON);
    assert.equal(obj.path, PYTHON);
    assert.equal(obj.elfClass, 64);
    assert.equal(obj.endian, 'le');
    assert.equal(obj.machine, 62);
    assert.ok(obj.type === 'EXEC' || obj.type === 'DYN');
    assert.equal(obj.interpreter, '/lib64/ld-linux-x86-64.so.2');
    assert.deepEqual(obj.needed, ['libm.so.6', 'libz.so.1', 'libexpat.so.1', 'libc.so.6']);
    assert.deepEqual(obj.rpath, []);
    assert.deepEqual(obj.runpath, []);
  });

  it('parses node (~100 MB) with bounded reads', { skip: skipUnless(NODE) }, async () => {
    const obj = await readElf(NODE);
    assert.equal(obj.interpreter, '/lib64/ld-linux-x86-64.so.2');
    for (const lib of ['libstdc++.so.6', 'libm.so.6', 'libc.so.6']) assert.ok(obj.needed.includes(lib), lib);
  });

  it('reads the DT_SONAME of libc', { skip: skipUnless(LIBC) }, async () => {
    const obj = await readElf(LIBC);
    assert.equal(obj.type, 'DYN');
    assert.equal(obj.soname, 'libc.so.6');
  });

  it('parses a lib-dynload extension module', { skip: skipUnless(SSL_MODULE) }, async () => {
    const obj = await readElf(SSL_MODULE);
    assert.equal(obj.type, 'DYN');
    assert.equal(obj.interpreter, undefined);
    assert.deepEqual(obj.needed, ['libssl.so.3', 'libcrypto.so.3', 'libc.so.6']);
  });

  it('isElfFile is a cheap magic check', { skip: skipUnless(PYTHON) }, async () => {
    assert.equal(await isElfFile(PYTHON), true);
    assert.equal(await isElfFile('/etc/passwd'), false);
    assert.equal(await isElfFile('/usr/bin'), false);
    assert.equal(await isElfFile('/dev/null'), false);
    assert.equal(await isElfFile('/nonexistent/x'), false);
  });
});

describe('readElf on objects built by gcc', { skip: hasGcc ? false : 'gcc is not installed' }, () => {
  let dir = '';
  const gcc = (...args: string[]) => execFileSync('gcc', args, { cwd: dir, stdio: 'pipe' });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'reg-elf-'));
    await writeFile(join(dir, 'lib.c'), 'int demo(void) { return 42; }\n');
    await writeFile(join(dir, 'main.c'), 'int demo(void);\nint main(void) { return demo() == 42 ? 0 : 1; }\n');
    await writeFile(join(dir, 'static.c'), 'int main(void) { return 0; }\n');
    gcc('-shared', '-fPIC', '-Wl,-soname,libdemo.so.1', '-o', 'libdemo.so.1', 'lib.c');
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads the soname of a shared library', async () => {
    const obj = await readElf(join(dir, 'libdemo.so.1'));
    assert.equal(obj.type, 'DYN');
    assert.equal(obj.soname, 'libdemo.so.1');
    assert.equal(obj.interpreter, undefined);
  });

  it('tells DT_RUNPATH (new dtags) from DT_RPATH (old dtags)', async () => {
    gcc('-o', 'runpath', 'main.c', join(dir, 'libdemo.so.1'), "-Wl,-rpath,$ORIGIN/../lib", '-Wl,--enable-new-dtags');
    gcc('-o', 'rpath', 'main.c', join(dir, 'libdemo.so.1'), "-Wl,-rpath,$ORIGIN/../lib:/opt/x", '-Wl,--disable-new-dtags');
    const withRunpath = await readElf(join(dir, 'runpath'));
    assert.deepEqual(withRunpath.runpath, ['$ORIGIN/../lib']);
    assert.deepEqual(withRunpath.rpath, []);
    assert.deepEqual(withRunpath.needed, ['libdemo.so.1', 'libc.so.6']);
    const withRpath = await readElf(join(dir, 'rpath'));
    assert.deepEqual(withRpath.rpath, ['$ORIGIN/../lib', '/opt/x']);
    assert.deepEqual(withRpath.runpath, []);
  });

  it('a static executable has no interpreter and no DT_NEEDED', async (t) => {
    const r = spawnSync('gcc', ['-static', '-o', 'static', 'static.c'], { cwd: dir });
    if (r.status !== 0) return t.skip(`gcc -static failed (no static libc?): ${r.stderr.toString().trim()}`);
    const obj = await readElf(join(dir, 'static'));
    assert.equal(obj.type, 'EXEC');
    assert.equal(obj.interpreter, undefined);
    assert.deepEqual(obj.needed, []);
  });

  it('reads 32-bit objects from gcc -m32', async (t) => {
    const compile = spawnSync('gcc', ['-m32', '-c', '-o', 'lib32.o', 'lib.c'], { cwd: dir });
    if (compile.status !== 0) return t.skip(`gcc -m32 cannot compile: ${compile.stderr.toString().trim()}`);
    const obj = await readElf(join(dir, 'lib32.o'));
    assert.deepEqual([obj.elfClass, obj.machine, obj.type], [32, 3, 'REL']);
    assert.deepEqual(obj.needed, []);

    const link = spawnSync('gcc', ['-m32', '-o', 'exe32', 'static.c'], { cwd: dir });
    if (link.status !== 0) {
      const reason = link.stderr.toString().split('\n').find((l) => l.includes('cannot find')) ?? 'link failed';
      console.log(`# skipping the linked -m32 executable: no 32-bit libc/libgcc (${reason.trim()})`);
      return;
    }
    const exe = await readElf(join(dir, 'exe32'));
    assert.equal(exe.elfClass, 32);
    assert.equal(exe.interpreter, '/lib/ld-linux.so.2');
    assert.ok(exe.needed.includes('libc.so.6'));
  });
});

/** A minimal dynamic ELF image: [ehdr][phdrs: LOAD, INTERP, DYNAMIC][interp][dynstr][dynamic]. */
function buildElf(opts: { is64: boolean; le: boolean; machine: number; needed: string[]; soname?: string; interp?: string }): Buffer {
  const { is64, le } = opts;
  const ehsize = is64 ? 64 : 52;
  const phentsize = is64 ? 56 : 32;
  const dynentsize = is64 ? 16 : 8;
  const vbase = 0x10000;
  const strings = ['', ...opts.needed, ...(opts.soname ? [opts.soname] : [])];
  const strOffsets: number[] = [];
  let dynstr = '';
  for (const s of strings) {
    strOffsets.push(dynstr.length);
    dynstr += s + '\0';
  }
  const interp = (opts.interp ?? '') + '\0';
  const interpOff = ehsize + 3 * phentsize;
  const strOff = interpOff + interp.length;
  const dynOff = strOff + dynstr.length + ((8 - ((strOff + dynstr.length) % 8)) % 8);
  const dyn: Array<[number, number]> = [
    ...opts.needed.map((_, i) => [1, strOffsets[i + 1] as number] as [number, number]),
    ...(opts.soname ? [[14, strOffsets[strings.length - 1] as number] as [number, number]] : []),
    [5, vbase + strOff],
    [10, dynstr.length],
    [0, 0],
  ];
  const size = dynOff + dyn.length * dynentsize;
  const b = Buffer.alloc(size);
  const w16 = (o: number, v: number) => (le ? b.writeUInt16LE(v, o) : b.writeUInt16BE(v, o));
  const w32 = (o: number, v: number) => (le ? b.writeUInt32LE(v, o) : b.writeUInt32BE(v, o));
  const wAddr = (o: number, v: number) =>
    is64 ? (le ? b.writeBigUInt64LE(BigInt(v), o) : b.writeBigUInt64BE(BigInt(v), o)) : w32(o, v);
  b.set([0x7f, 0x45, 0x4c, 0x46, is64 ? 2 : 1, le ? 1 : 2, 1], 0);
  w16(16, 3); // ET_DYN
  w16(18, opts.machine);
  w32(20, 1);
  wAddr(is64 ? 32 : 28, ehsize); // e_phoff
  w16(is64 ? 52 : 40, ehsize);
  w16(is64 ? 54 : 42, phentsize);
  w16(is64 ? 56 : 44, opts.interp ? 3 : 2);
  const phdr = (i: number, type: number, off: number, len: number) => {
    const o = ehsize + i * phentsize;
    w32(o, type);
    if (is64) {
      wAddr(o + 8, off);
      wAddr(o + 16, vbase + off);
      wAddr(o + 32, len);
    } else {
      w32(o + 4, off);
      w32(o + 8, vbase + off);
      w32(o + 16, len);
    }
  };
  phdr(0, 1, 0, size);
  phdr(1, 2, dynOff, dyn.length * dynentsize);
  if (opts.interp) phdr(2, 3, interpOff, interp.length);
  b.write(interp, interpOff, 'latin1');
  b.write(dynstr, strOff, 'latin1');
  dyn.forEach(([tag, val], i) => {
    const o = dynOff + i * dynentsize;
    if (is64) {
      wAddr(o, tag);
      wAddr(o + 8, val);
    } else {
      w32(o, tag);
      w32(o + 4, val);
    }
  });
  return b;
}

describe('readElf on hand-built images and broken input', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'reg-elf-bad-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  for (const [is64, le] of [[true, false], [false, false], [false, true], [true, true]] as const) {
    it(`parses ELF${is64 ? 64 : 32} ${le ? 'little' : 'big'}-endian`, async () => {
      const file = join(dir, `img-${is64}-${le}`);
      await writeFile(file, buildElf({ is64, le, machine: 21, needed: ['liba.so.1', 'libb.so'], soname: 'libme.so.2', interp: '/lib/ld.so' }));
      const obj = await readElf(file);
      assert.deepEqual(
        { ...obj, path: undefined },
        {
          path: undefined,
          elfClass: is64 ? 64 : 32,
          endian: le ? 'le' : 'be',
          machine: 21,
          type: 'DYN',
          interpreter: '/lib/ld.so',
          needed: ['liba.so.1', 'libb.so'],
          soname: 'libme.so.2',
          rpath: [],
          runpath: [],
        },
      );
    });
  }

  it('a text file is NOT_ELF with a hint', async () => {
    const file = join(dir, 'script.sh');
    await writeFile(file, '#!/bin/sh\necho hi\n');
    await rejectsWith(readElf(file), 'NOT_ELF', (e) => {
      assert.equal(e.file, file);
      assert.match(e.hint ?? '', /expected an ELF executable or shared library/);
    });
    await rejectsWith(readElf(dir), 'NOT_ELF');
  });

  it('a missing file is FILE_NOT_FOUND', async () => {
    await rejectsWith(readElf(join(dir, 'nope')), 'FILE_NOT_FOUND', (e) => assert.equal(e.file, join(dir, 'nope')));
  });

  it('a truncated copy of a real ELF is ELF_INVALID naming the field', { skip: skipUnless(PYTHON) }, async () => {
    const real = await readFile(PYTHON);
    const cases: Array<[number, RegExp]> = [
      [40, /ELF header/],
      [4096, /PT_DYNAMIC|PT_INTERP|DT_/],
      [Math.floor(real.length / 2), /PT_DYNAMIC|DT_/],
    ];
    for (const [len, field] of cases) {
      const file = join(dir, `python-${len}`);
      await writeFile(file, real.subarray(0, len));
      await rejectsWith(readElf(file), 'ELF_INVALID', (e) => {
        assert.equal(e.file, file);
        assert.match(e.field ?? '', field, `${len} bytes: ${e.message}`);
        assert.ok(e.message.includes(file));
      });
    }
  });

  it('inconsistent headers are ELF_INVALID', async () => {
    const good = buildElf({ is64: true, le: true, machine: 62, needed: ['liba.so'] });
    const patched = async (name: string, patch: (b: Buffer) => void) => {
      const b = Buffer.from(good);
      patch(b);
      const file = join(dir, name);
      await writeFile(file, b);
      return file;
    };
    // Program header table pointing past the end of the file.
    await rejectsWith(readElf(await patched('phoff', (b) => b.writeBigUInt64LE(1n << 40n, 32))), 'ELF_INVALID', (e) =>
      assert.equal(e.field, 'e_phoff'),
    );
    // Unknown EI_CLASS.
    await rejectsWith(readElf(await patched('class', (b) => (b[4] = 7))), 'ELF_INVALID', (e) =>
      assert.equal(e.field, 'e_ident[EI_CLASS]'),
    );
    // DT_STRTAB outside every PT_LOAD: shrink the PT_LOAD to 1 byte.
    await rejectsWith(readElf(await patched('strtab', (b) => b.writeBigUInt64LE(1n, 64 + 32))), 'ELF_INVALID', (e) =>
      assert.equal(e.field, 'DT_STRTAB'),
    );
  });

  it('a file truncated to fewer bytes than the magic is NOT_ELF, an empty one too', async () => {
    const file = join(dir, 'empty');
    await writeFile(file, '');
    await rejectsWith(readElf(file), 'NOT_ELF');
    const fh = await open(join(dir, 'magic-only'), 'w');
    await fh.write(Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2]));
    await fh.close();
    await rejectsWith(readElf(join(dir, 'magic-only')), 'ELF_INVALID', (e) => assert.equal(e.field, 'e_ident'));
  });

  it('copies of a real object parse identically', { skip: skipUnless(LIBC) }, async () => {
    await mkdir(join(dir, 'copy'), { recursive: true });
    await copyFile(LIBC, join(dir, 'copy', 'libc.so.6'));
    const a = await readElf(LIBC);
    const b = await readElf(join(dir, 'copy', 'libc.so.6'));
    assert.deepEqual({ ...a, path: '' }, { ...b, path: '' });
  });
});
