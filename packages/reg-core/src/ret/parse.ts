// Reading and writing RET documents. Parse errors stay structured (zod issue path + the YAML line
// they point at) until the CLI or the UI renders them.

import yaml from 'js-yaml';
import type { z } from 'zod';
import { RegError } from '../errors.js';
import { sortLock } from './lock.js';
import { RET_API_VERSION, RetSchema, type Ret } from './schema.js';

/** The largest RET document read (a python RET with ~3,300 lock entries is about 0.5 MiB). */
export const MAX_RET_BYTES = 16 * 1024 * 1024;

/**
 * The size a loaded document has once every alias is expanded (strings by length, each node a
 * little), computed over the object graph with memoisation so a "billion laughs" document costs
 * no more to measure than to parse. Stops counting past `limit`.
 */
export function expandedSize(doc: unknown, limit = Number.MAX_SAFE_INTEGER): number {
  const memo = new Map<object, number>();
  const size = (v: unknown): number => {
    if (typeof v === 'string') return v.length + 2;
    if (v === null || typeof v !== 'object') return 8;
    const known = memo.get(v);
    if (known !== undefined) return known;
    memo.set(v, 0); // a cycle (a recursive alias) counts once
    let n = 2;
    for (const [k, child] of Object.entries(v)) {
      n += k.length + 2 + size(child);
      if (n > limit) break;
    }
    memo.set(v, n);
    return n;
  };
  return size(doc);
}

/** Parses and validates a RET document. `file` names it in errors. */
export function parseRet(text: string, file: string): Ret {
  if (text.length > MAX_RET_BYTES) {
    throw new RegError('RET_INVALID', `${file}: the document is ${text.length} bytes, more than the ${MAX_RET_BYTES} a RET may have`, { file, hint: 'a RET lists files, it does not contain them; split it into several RETs' });
  }
  let doc: unknown;
  try {
    doc = yaml.load(text, { filename: file, schema: yaml.CORE_SCHEMA });
  } catch (e) {
    const mark = (e as { mark?: { line: number; column: number } }).mark;
    const reason = (e as { reason?: string }).reason ?? (e as Error).message;
    throw new RegError('RET_INVALID', `${file}${mark ? `:${mark.line + 1}:${mark.column + 1}` : ''}: malformed YAML: ${reason}`, {
      file,
      hint: 'fix the YAML syntax (indentation, quoting) at the line shown',
      issues: [{ path: '', message: reason, ...(mark && { line: mark.line + 1 }) }],
      cause: e,
    });
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    throw new RegError('RET_INVALID', `${file}: a RET must be a YAML mapping with at least name and version`, { file });
  }
  // Aliases (*anchor) let a small document stand for a huge one, which would be stored and
  // re-read expanded: the expansion may not be much larger than the text itself.
  const bound = Math.min(MAX_RET_BYTES, 2 * text.length + 64 * 1024);
  const expanded = expandedSize(doc, bound);
  if (expanded > bound) {
    throw new RegError('RET_INVALID', `${file}: YAML aliases expand the ${text.length}-byte document to more than ${bound} bytes`, {
      file,
      hint: 'write the values out instead of repeating them through anchors and aliases (&name / *name)',
    });
  }
  const result = RetSchema.safeParse(doc);
  if (!result.success) throw invalid(result.error, text, file);
  return result.data;
}

function dotted(path: ReadonlyArray<PropertyKey>): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i === 0 ? '' : '.'}${String(p)}`)).join('');
}

function invalid(error: z.ZodError, text: string, file: string): RegError {
  const issues = error.issues.map((i) => {
    const path = dotted(i.path);
    const line = lineOfPath(text, i.path);
    const message = i.code === 'unrecognized_keys' ? `unknown field(s) ${i.keys.map((k) => `"${k}"`).join(', ')}` : i.message;
    return { path, message, ...(line !== undefined && { line }) };
  });
  const first = error.issues[0]!;
  const escapes = error.issues.some((i) => i.code === 'custom' && (i.params as { reg?: string } | undefined)?.reg === 'PATH_ESCAPES');
  const head = issues[0]!;
  const where = `${file}${head.line !== undefined ? `:${head.line}` : ''}`;
  const more = issues.length > 1 ? ` (and ${issues.length - 1} more problem${issues.length > 2 ? 's' : ''})` : '';
  return new RegError(escapes ? 'PATH_ESCAPES' : 'RET_INVALID', `${where}: ${head.path || '(document)'}: ${head.message}${more}`, {
    file,
    field: dotted(first.path) || undefined,
    issues,
    hint:
      first.code === 'unrecognized_keys'
        ? 'known fields: apiVersion, name, version, kind, description, files, libs, requires, env, command, workdir, source, lock'
        : 'see the RET format in the README',
  });
}

/**
 * Best-effort line number (1-based) of a value in block-style YAML, for error messages only:
 * follows mapping keys by indentation and sequence items by their "- " markers.
 */
export function lineOfPath(text: string, path: ReadonlyArray<PropertyKey>): number | undefined {
  const lines = text.split('\n');
  let from = 0;
  let minIndent = -1;
  let found: number | undefined;
  for (const key of path) {
    let hit: number | undefined;
    let seen = -1;
    for (let i = from; i < lines.length; i++) {
      const line = lines[i]!;
      if (line.trim() === '' || line.trimStart().startsWith('#')) continue;
      const indent = line.length - line.trimStart().length;
      if (i > from && indent <= minIndent && !line.trimStart().startsWith('- ')) break;
      const body = line.trimStart();
      if (typeof key === 'number') {
        if (body.startsWith('- ') || body === '-') {
          seen++;
          if (seen === key) { hit = i; break; }
        }
      } else {
        const stripped = body.startsWith('- ') ? body.slice(2).trimStart() : body;
        if (stripped.startsWith(`${String(key)}:`) || stripped.startsWith(`"${String(key)}":`) || stripped.includes(`{${String(key)}:`) || stripped.includes(` ${String(key)}:`)) {
          hit = i;
          break;
        }
      }
    }
    if (hit === undefined) return found;
    found = hit + 1;
    from = hit;
    const l = lines[hit]!;
    minIndent = l.length - l.trimStart().length;
  }
  return found;
}

/** Entries sorted by path: the canonical order of a lock. */
// The lock's identity lives in lock.ts (no zod, no YAML); re-exported for everyone else.
export { lockId, sortLock } from './lock.js';

/** Serialises a RET to YAML in a stable layout: header fields first, one lock entry per line. */
export function stringifyRet(ret: Ret): string {
  const ordered: Record<string, unknown> = { apiVersion: ret.apiVersion ?? RET_API_VERSION };
  for (const key of ['name', 'version', 'kind', 'description', 'files', 'libs', 'requires', 'env', 'command', 'workdir', 'source'] as const) {
    if (ret[key] !== undefined) ordered[key] = ret[key];
  }
  let text = yaml.dump(ordered, { lineWidth: -1, noRefs: true, schema: yaml.CORE_SCHEMA, quotingType: '"' });
  if (ret.lock) {
    const entries = sortLock(ret.lock.files).map((e) => yaml.dump(e, { flowLevel: 0, lineWidth: -1, schema: yaml.CORE_SCHEMA, quotingType: '"' }).trimEnd());
    text += `lock:\n  files:\n${entries.map((e) => `    - ${e}`).join('\n')}\n`;
  }
  return text;
}
