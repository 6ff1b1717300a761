// The RET document: the paper's form (name, version, files, libs) extended with what a real
// template needs — requires, env, a default command — and a lock that records every file of the
// template by its path inside the tree, sha256 digest, mode and symlink target (like a package
// lock). Validation is structural (zod) plus the path rules that keep a template inside its tree.

import { posix } from 'node:path';
import { z } from 'zod';
import { isValidRange, isValidVersion } from './version.js';
import { RET_NAME_RE } from './lock.js';

export const RET_API_VERSION = 'reg/v1';
// Zod-free helpers live in lock.ts (the hot paths import them from there); re-exported for everyone else.
export { isLocked, modeToNumber, RET_NAME_RE } from './lock.js';
const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;
const ENV_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
const REF_RE = /^([a-z0-9][a-z0-9._+-]*)(?:@(.+))?$/;

/** Why a path inside the tree is unacceptable, or undefined when it is fine. */
export function treePathProblem(p: string): string | undefined {
  if (p.length === 0) return 'is empty';
  if (p.length > 4096) return 'is longer than 4096 characters';
  if (p.includes('\0')) return 'contains a NUL byte';
  if (p.startsWith('/')) return 'is absolute: lock paths are relative to the container root (write usr/bin/x, not /usr/bin/x)';
  const parts = p.split('/');
  if (parts.some((s) => s === '..')) return 'contains ".." and would escape the tree';
  if (parts.some((s) => s === '' || s === '.')) return 'is not normalised (empty or "." segment)';
  return undefined;
}

/** Why an absolute container path (the paper's `files` values, `command`) is unacceptable. */
export function containerPathProblem(p: string): string | undefined {
  if (!p.startsWith('/')) return 'must be an absolute path inside the container (e.g. /usr/bin/python3)';
  if (p === '/') return undefined;
  return treePathProblem(p.slice(1))?.replace(/lock paths are relative.*$/, 'must be absolute');
}

/** Why a symlink at `linkPath` (tree-relative) pointing at `target` is unacceptable. */
export function linkTargetProblem(linkPath: string, target: string): string | undefined {
  if (target.length === 0) return 'symlink target is empty';
  if (target.includes('\0')) return 'symlink target contains a NUL byte';
  if (target.startsWith('/')) return undefined; // resolved against the container's own root
  // Resolve relative to the link's directory: climbing above the root escapes the tree.
  let depth = posix.dirname(linkPath) === '.' ? 0 : posix.dirname(linkPath).split('/').length;
  for (const seg of target.split('/')) {
    if (seg === '..') depth--;
    else if (seg !== '' && seg !== '.') depth++;
    if (depth < 0) return `symlink target "${target}" points out of the tree`;
  }
  return undefined;
}

const Mode = z.union([
  z.string().regex(/^0?[0-7]{3,4}$/, 'mode must be octal, e.g. "0755"'),
  z.number().int().min(0).max(0o7777),
]);

export function modeToString(mode: number): string {
  return '0' + (mode & 0o7777).toString(8).padStart(3, '0');
}

const TreePath = z.string().superRefine((p, ctx) => {
  const problem = treePathProblem(p);
  if (problem) ctx.addIssue({ code: 'custom', message: `path "${p}" ${problem}`, params: { reg: 'PATH_ESCAPES' } });
});

const ContainerPath = z.string().superRefine((p, ctx) => {
  const problem = containerPathProblem(p);
  if (problem) ctx.addIssue({ code: 'custom', message: `path "${p}" ${problem}`, params: { reg: 'PATH_ESCAPES' } });
});

const Ref = z.string().refine((r) => {
  const m = REF_RE.exec(r.trim());
  return m !== null && isValidRange(m[2] ?? '*');
}, 'must be name@version or name@range, e.g. libc@6 or python@>=3.11');

export const LockEntrySchema = z
  .strictObject({
    path: TreePath,
    /** Regular file: its content digest, size and mode. */
    digest: z.string().regex(DIGEST_RE, 'digest must be "sha256:" followed by 64 lowercase hex digits').optional(),
    size: z.number().int().nonnegative().optional(),
    mode: Mode.optional(),
    /**
     * Modification time (unix seconds) the blob carries. It matters: python trusts a .pyc only
     * if its source's mtime matches the one recorded inside it.
     */
    mtime: z.number().int().nonnegative().optional(),
    /** Symbolic link: its target, as stored (relative or absolute inside the container). */
    link: z.string().optional(),
    /** Directory that must exist even when empty. */
    dir: z.literal(true).optional(),
  })
  .superRefine((e, ctx) => {
    const kinds = [e.digest !== undefined, e.link !== undefined, e.dir !== undefined].filter(Boolean).length;
    if (kinds !== 1) {
      ctx.addIssue({ code: 'custom', message: 'an entry needs exactly one of digest (file), link (symlink) or dir: true' });
      return;
    }
    if (e.digest !== undefined && e.size === undefined) ctx.addIssue({ code: 'custom', path: ['size'], message: 'a file entry needs its size' });
    if (e.mtime !== undefined && e.digest === undefined) ctx.addIssue({ code: 'custom', path: ['mtime'], message: 'only a file entry has an mtime' });
    if (e.link !== undefined) {
      const problem = linkTargetProblem(e.path, e.link);
      if (problem) ctx.addIssue({ code: 'custom', path: ['link'], message: problem, params: { reg: 'PATH_ESCAPES' } });
    }
  });

export const RetSchema = z.strictObject({
  apiVersion: z.literal(RET_API_VERSION).optional(),
  name: z.string().regex(RET_NAME_RE, 'name must be lowercase letters, digits and . _ + - (e.g. python, libc, libstdc++)'),
  version: z.unknown().transform((v, ctx): string => {
    if (typeof v === 'number' && !Number.isInteger(v)) {
      ctx.addIssue({ code: 'custom', message: `YAML reads an unquoted ${v} as a number: quote the version, e.g. "3.10"` });
      return z.NEVER;
    }
    const s = typeof v === 'number' ? String(v) : v;
    if (typeof s !== 'string' || !isValidVersion(s)) {
      ctx.addIssue({ code: 'custom', message: 'version must be dotted, e.g. 3.11.2, 6 or 1.2.13' });
      return z.NEVER;
    }
    return s;
  }),
  kind: z.enum(['runtime', 'library', 'data', 'base', 'package']).default('runtime'),
  description: z.string().max(1000).optional(),
  /** The paper's form: a name for each thing the template provides → its container path. */
  files: z.record(z.string().min(1), ContainerPath).optional(),
  /** The paper's form: the library RETs the executable needs (shorthand for requires). */
  libs: z.array(Ref).optional(),
  requires: z.array(Ref).optional(),
  env: z.record(z.string().regex(ENV_NAME_RE, 'environment variable names are letters, digits and _'), z.string()).optional(),
  command: z.array(z.string().min(1)).min(1).optional(),
  workdir: ContainerPath.optional(),
  /** Where a built RET came from (informational). */
  source: z
    .strictObject({
      host: z.string().optional(),
      builtAt: z.string().optional(),
      builder: z.string().optional(),
      /** The Debian package the RET was built from (`reg ret build --from-deb`): full version, digest of the .deb. */
      deb: z.strictObject({ package: z.string(), version: z.string(), architecture: z.string(), multiArch: z.string().optional(), sha256: z.string().optional(), provides: z.array(z.string()).optional() }).optional(),
      /** The npm package the RET was built from (`reg ret build --from-npm`). */
      npm: z.strictObject({ package: z.string(), version: z.string(), integrity: z.string().optional() }).optional(),
    })
    .optional(),
  lock: z
    .strictObject({ files: z.array(LockEntrySchema).min(1, 'a lock lists at least one entry (leave lock out of a hand-written RET: `reg ret add` fills it in)') })
    .superRefine((lock, ctx) => lockShapeProblems(lock.files, ctx))
    .optional(),
});

/**
 * A lock must describe one tree: no path twice, and nothing below a symlink or a file (a symlink
 * that is the parent of other entries would let them be written through it, outside the tree).
 */
function lockShapeProblems(files: ReadonlyArray<{ path: string; link?: string | undefined; digest?: string | undefined }>, ctx: z.RefinementCtx): void {
  const index = new Map<string, number>();
  files.forEach((e, i) => {
    const norm = e.path.replace(/\/+$/, '');
    const first = index.get(norm);
    if (first !== undefined) ctx.addIssue({ code: 'custom', path: ['files', i, 'path'], message: `"${e.path}" is listed twice (also lock.files[${first}])` });
    else index.set(norm, i);
  });
  files.forEach((e, i) => {
    const parts = e.path.replace(/\/+$/, '').split('/');
    for (let k = 1; k < parts.length; k++) {
      const parent = parts.slice(0, k).join('/');
      const j = index.get(parent);
      if (j === undefined) continue;
      const p = files[j]!;
      if (p.link !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['files', i, 'path'], message: `"${e.path}" lies below "${parent}", which is a symlink (lock.files[${j}]): list the entries under the link's target instead`, params: { reg: 'PATH_ESCAPES' } });
        break;
      }
      if (p.digest !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['files', i, 'path'], message: `"${e.path}" lies below "${parent}", which is a file (lock.files[${j}])` });
        break;
      }
    }
  });
}

export type RetInput = z.input<typeof RetSchema>;
export type Ret = z.output<typeof RetSchema>;
export type LockEntry = z.output<typeof LockEntrySchema>;
/** A RET with its lock: the only form the store keeps. */
export type LockedRet = Ret & { lock: { files: LockEntry[] } };
