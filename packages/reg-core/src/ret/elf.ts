// Reads what the dynamic loader would read from an ELF object: class, byte order, machine, type,
// PT_INTERP and the DT_NEEDED / DT_SONAME / DT_RPATH / DT_RUNPATH entries of PT_DYNAMIC.
// Reg learns a runtime's dependencies this way instead of executing it (or ldd, which runs ld.so
// on the target): building a template must never run code from the host's runtime.
//
// Reads are bounded and positioned through one FileHandle: `node` is ~100 MB and its .dynstr alone
// is several MB, so we read the headers, the dynamic segment and only the strings we need. Every
// offset and size comes from the file itself, so each is checked against the file size before use;
// a bad one is ELF_INVALID naming the header field, never a RangeError from a Buffer.

import { open, stat, type FileHandle } from 'node:fs/promises';
import { RegError } from '../errors.js';

export type ElfType = 'EXEC' | 'DYN' | 'REL' | 'CORE' | 'OTHER';

export interface ElfObject {
  path: string;
  elfClass: 32 | 64;
  endian: 'le' | 'be';
  /** e_machine (62 = x86-64, 183 = AArch64, 3 = i386, 40 = ARM, 243 = RISC-V). */
  machine: number;
  type: ElfType;
  /** PT_INTERP: the program interpreter (dynamic loader) the kernel maps for an executable. */
  interpreter?: string;
  /** DT_NEEDED, in order. */
  needed: string[];
  /** DT_SONAME. */
  soname?: string;
  /** DT_RPATH split on ':' (unexpanded: $ORIGIN etc. are left as written). */
  rpath: string[];
  /** DT_RUNPATH split on ':' (unexpanded). */
  runpath: string[];
}

const ELF_MAGIC = [0x7f, 0x45, 0x4c, 0x46]; // "\x7fELF"
const NOT_ELF_HINT = 'expected an ELF executable or shared library';
const INVALID_HINT = 'the file looks truncated or corrupt; reinstall the package that provides it';

const PT_LOAD = 1;
const PT_DYNAMIC = 2;
const PT_INTERP = 3;
const PN_XNUM = 0xffff;

const DT_NULL = 0n;
const DT_NEEDED = 1n;
const DT_STRTAB = 5n;
const DT_STRSZ = 10n;
const DT_SONAME = 14n;
const DT_RPATH = 15n;
const DT_RUNPATH = 29n;

/** Longest string we accept from .dynstr or PT_INTERP; paths longer than PATH_MAX are nonsense. */
const MAX_STRING = 4096;
/** The dynamic segment is read in slices this big until DT_NULL, so a lying p_filesz costs little. */
const DYNAMIC_CHUNK = 64 * 1024;

const TYPES: Record<number, ElfType> = { 1: 'REL', 2: 'EXEC', 3: 'DYN', 4: 'CORE' };

/** True when `path` is a regular file starting with the ELF magic. Never throws. */
export async function isElfFile(path: string): Promise<boolean> {
  try {
    // stat before open: opening a FIFO or a device could block or have side effects.
    if (!(await stat(path)).isFile()) return false;
    const fh = await open(path, 'r');
    try {
      const buf = Buffer.alloc(4);
      const { bytesRead } = await fh.read(buf, 0, 4, 0);
      return bytesRead === 4 && ELF_MAGIC.every((b, i) => buf[i] === b);
    } finally {
      await fh.close();
    }
  } catch {
    return false;
  }
}

/** Parses the loader-relevant parts of the ELF object at `path`. */
export async function readElf(path: string): Promise<ElfObject> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    throw openError(e, path);
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) {
      throw new RegError('NOT_ELF', `${path} is not a regular file`, { file: path, hint: NOT_ELF_HINT });
    }
    return await new ElfReader(fh, path, st.size).read();
  } finally {
    await fh.close();
  }
}

function openError(e: unknown, path: string): unknown {
  const errno = (e as NodeJS.ErrnoException | undefined)?.code;
  if (errno === 'ENOENT' || errno === 'ENOTDIR') {
    return new RegError('FILE_NOT_FOUND', `${path} does not exist`, { file: path, cause: e });
  }
  if (errno === 'EACCES' || errno === 'EPERM') {
    return new RegError('PERMISSION_DENIED', `cannot read ${path}: permission denied`, { file: path, cause: e });
  }
  return e;
}

interface ProgramHeader {
  type: number;
  offset: bigint;
  vaddr: bigint;
  filesz: bigint;
}

/** One parse of one open file; holds the class/endianness needed to decode every later field. */
class ElfReader {
  private is64 = false;
  private le = true;

  constructor(
    private readonly fh: FileHandle,
    private readonly path: string,
    private readonly size: number,
  ) {}

  async read(): Promise<ElfObject> {
    const ident = await this.readAt(0n, Math.min(16, this.size));
    if (ident.length < 4 || !ELF_MAGIC.every((b, i) => ident[i] === b)) {
      throw new RegError('NOT_ELF', `${this.path} is not an ELF file (no ELF magic)`, {
        file: this.path,
        hint: NOT_ELF_HINT,
      });
    }
    if (ident.length < 16) this.invalid('e_ident', 'the ELF identification is truncated');
    const cls = ident[4];
    const data = ident[5];
    if (cls !== 1 && cls !== 2) this.invalid('e_ident[EI_CLASS]', `unknown ELF class ${cls}`);
    if (data !== 1 && data !== 2) this.invalid('e_ident[EI_DATA]', `unknown data encoding ${data}`);
    this.is64 = cls === 2;
    this.le = data === 1;

    const ehsize = this.is64 ? 64 : 52;
    if (this.size < ehsize) this.invalid('ELF header', `the file is ${this.size} bytes, shorter than the ELF header`);
    const eh = await this.readAt(0n, ehsize);
    const eType = this.u16(eh, 16);
    const machine = this.u16(eh, 18);
    const phoff = this.is64 ? this.u64(eh, 32) : BigInt(this.u32(eh, 28));
    const shoff = this.is64 ? this.u64(eh, 40) : BigInt(this.u32(eh, 32));
    const phentsize = this.u16(eh, this.is64 ? 54 : 42);
    let phnum = this.u16(eh, this.is64 ? 56 : 44);
    const shentsize = this.u16(eh, this.is64 ? 58 : 46);
    if (phnum === PN_XNUM) phnum = await this.extendedPhnum(shoff, shentsize);

    const obj: ElfObject = {
      path: this.path,
      elfClass: this.is64 ? 64 : 32,
      endian: this.le ? 'le' : 'be',
      machine,
      type: TYPES[eType] ?? 'OTHER',
      needed: [],
      rpath: [],
      runpath: [],
    };
    if (phnum === 0) return obj; // relocatable objects and core stubs have no segments

    const phdrs = await this.programHeaders(phoff, phentsize, phnum);
    const interp = phdrs.find((p) => p.type === PT_INTERP);
    if (interp) obj.interpreter = await this.interpreter(interp);
    const dynamic = phdrs.find((p) => p.type === PT_DYNAMIC);
    if (dynamic && dynamic.filesz > 0n) await this.dynamic(dynamic, phdrs, obj);
    return obj;
  }

  /** With more than 0xfffe segments, e_phnum is PN_XNUM and the count lives in section 0's sh_info. */
  private async extendedPhnum(shoff: bigint, shentsize: number): Promise<number> {
    const need = this.is64 ? 64 : 40;
    if (shoff === 0n || shentsize < need) this.invalid('e_phnum', 'PN_XNUM without a section header 0 to hold the count');
    this.checkRange(shoff, BigInt(need), 'e_shoff', 'section header 0');
    const sh = await this.readAt(shoff, need);
    return this.u32(sh, this.is64 ? 44 : 28);
  }

  private async programHeaders(phoff: bigint, phentsize: number, phnum: number): Promise<ProgramHeader[]> {
    const minEntry = this.is64 ? 56 : 32;
    if (phentsize < minEntry) this.invalid('e_phentsize', `program header entry size ${phentsize} is below ${minEntry}`);
    this.checkRange(phoff, BigInt(phentsize) * BigInt(phnum), 'e_phoff', 'the program header table');
    const table = await this.readAt(phoff, phentsize * phnum);
    const out: ProgramHeader[] = [];
    for (let i = 0; i < phnum; i++) {
      const o = i * phentsize;
      if (this.is64) {
        out.push({
          type: this.u32(table, o),
          offset: this.u64(table, o + 8),
          vaddr: this.u64(table, o + 16),
          filesz: this.u64(table, o + 32),
        });
      } else {
        out.push({
          type: this.u32(table, o),
          offset: BigInt(this.u32(table, o + 4)),
          vaddr: BigInt(this.u32(table, o + 8)),
          filesz: BigInt(this.u32(table, o + 16)),
        });
      }
    }
    return out;
  }

  private async interpreter(ph: ProgramHeader): Promise<string> {
    this.checkRange(ph.offset, ph.filesz, 'PT_INTERP', 'the PT_INTERP segment');
    if (ph.filesz === 0n || ph.filesz > BigInt(MAX_STRING)) {
      this.invalid('PT_INTERP', `PT_INTERP size ${ph.filesz} is not a plausible path length`);
    }
    const buf = await this.readAt(ph.offset, Number(ph.filesz));
    const nul = buf.indexOf(0);
    const name = buf.toString('latin1', 0, nul === -1 ? buf.length : nul);
    if (name === '') this.invalid('PT_INTERP', 'PT_INTERP names an empty path');
    return name;
  }

  private async dynamic(ph: ProgramHeader, phdrs: ProgramHeader[], obj: ElfObject): Promise<void> {
    this.checkRange(ph.offset, ph.filesz, 'PT_DYNAMIC', 'the PT_DYNAMIC segment');
    const entsize = this.is64 ? 16 : 8;
    const total = Number(ph.filesz) - (Number(ph.filesz) % entsize);
    const entries: Array<{ tag: bigint; val: bigint }> = [];
    let strtab: bigint | undefined;
    let strsz: bigint | undefined;
    scan: for (let done = 0; done < total; ) {
      const len = Math.min(DYNAMIC_CHUNK - (DYNAMIC_CHUNK % entsize), total - done);
      const chunk = await this.readAt(ph.offset + BigInt(done), len);
      for (let o = 0; o < len; o += entsize) {
        const tag = this.is64 ? this.i64(chunk, o) : BigInt(this.i32(chunk, o));
        const val = this.is64 ? this.u64(chunk, o + 8) : BigInt(this.u32(chunk, o + 4));
        if (tag === DT_NULL) break scan;
        if (tag === DT_STRTAB) strtab = val;
        else if (tag === DT_STRSZ) strsz = val;
        else if (tag === DT_NEEDED || tag === DT_SONAME || tag === DT_RPATH || tag === DT_RUNPATH) {
          entries.push({ tag, val });
        }
      }
      done += len;
    }
    if (entries.length === 0) return;
    if (strtab === undefined) this.invalid('DT_STRTAB', 'the dynamic section names strings but has no DT_STRTAB');
    if (strsz === undefined) this.invalid('DT_STRSZ', 'the dynamic section has no DT_STRSZ');

    // DT_STRTAB is a virtual address; the PT_LOAD segment covering it gives its file offset.
    const load = phdrs.find((p) => p.type === PT_LOAD && strtab >= p.vaddr && strtab < p.vaddr + p.filesz);
    if (!load) this.invalid('DT_STRTAB', `DT_STRTAB address 0x${strtab.toString(16)} is not in any PT_LOAD segment`);
    const strOffset = load.offset + (strtab - load.vaddr);
    this.checkRange(strOffset, strsz, 'DT_STRSZ', 'the dynamic string table');

    for (const { tag, val } of entries) {
      const field = dtName(tag);
      if (val >= strsz) this.invalid(field, `${field} string offset ${val} is past DT_STRSZ ${strsz}`);
      const s = await this.string(strOffset + val, strsz - val, field);
      if (tag === DT_NEEDED) obj.needed.push(s);
      else if (tag === DT_SONAME) obj.soname = s;
      else if (tag === DT_RPATH) obj.rpath.push(...splitPath(s));
      else obj.runpath.push(...splitPath(s));
    }
  }

  /** A NUL-terminated string from .dynstr, reading at most what remains of the table. */
  private async string(offset: bigint, remaining: bigint, field: string): Promise<string> {
    const max = Number(remaining < BigInt(MAX_STRING) ? remaining : BigInt(MAX_STRING));
    const buf = await this.readAt(offset, max);
    const nul = buf.indexOf(0);
    if (nul === -1) this.invalid(field, `${field} string is not NUL-terminated within ${max} bytes`);
    return buf.toString('utf8', 0, nul);
  }

  private checkRange(offset: bigint, length: bigint, field: string, what: string): void {
    if (offset < 0n || length < 0n || offset + length > BigInt(this.size)) {
      this.invalid(
        field,
        `${what} (offset ${offset}, ${length} bytes) extends past the end of the file (${this.size} bytes)`,
      );
    }
  }

  private async readAt(offset: bigint, length: number): Promise<Buffer> {
    const buf = Buffer.alloc(length);
    let got = 0;
    while (got < length) {
      const { bytesRead } = await this.fh.read(buf, got, length - got, Number(offset) + got);
      if (bytesRead === 0) break; // the file shrank under us; callers check lengths
      got += bytesRead;
    }
    // Callers checked the range against the size from fstat, so only a concurrent truncate lands here.
    if (got < length) this.invalid('file size', `short read at offset ${offset}: the file changed while being read`);
    return buf;
  }

  private invalid(field: string, detail: string): never {
    throw new RegError('ELF_INVALID', `${this.path}: invalid ELF (${field}): ${detail}`, {
      file: this.path,
      field,
      hint: INVALID_HINT,
    });
  }

  private u16(b: Buffer, o: number): number {
    return this.le ? b.readUInt16LE(o) : b.readUInt16BE(o);
  }
  private u32(b: Buffer, o: number): number {
    return this.le ? b.readUInt32LE(o) : b.readUInt32BE(o);
  }
  private i32(b: Buffer, o: number): number {
    return this.le ? b.readInt32LE(o) : b.readInt32BE(o);
  }
  private u64(b: Buffer, o: number): bigint {
    return this.le ? b.readBigUInt64LE(o) : b.readBigUInt64BE(o);
  }
  private i64(b: Buffer, o: number): bigint {
    return this.le ? b.readBigInt64LE(o) : b.readBigInt64BE(o);
  }
}

function dtName(tag: bigint): string {
  if (tag === DT_NEEDED) return 'DT_NEEDED';
  if (tag === DT_SONAME) return 'DT_SONAME';
  if (tag === DT_RPATH) return 'DT_RPATH';
  return 'DT_RUNPATH';
}

/** ld.so splits search lists on ':'; empty elements (cwd) mean nothing for a static reading. */
function splitPath(s: string): string[] {
  return s.split(':').filter((d) => d !== '');
}
