// Versions and version ranges of RETs. Versions are dotted segments ("3.11.2", "6", "1.0",
// "2024a"); ranges are what `requires` uses: a bare prefix ("3.11" matches 3.11 and 3.11.x,
// "6" matches 6.x — the soname major of a library), comparators (">=3.11 <4"), caret and tilde,
// an exact "=3.11.2", or "*". Kept deliberately small: RET versions are not npm semver.

import { RegError } from '../errors.js';

const VERSION_RE = /^[0-9][0-9A-Za-z]*(?:[.+~_-][0-9A-Za-z]+)*$/;
const REF_RE = /^([a-z0-9][a-z0-9._+-]*)(?:@(.+))?$/;

export function isValidVersion(v: string): boolean {
  return VERSION_RE.test(v) && v.length <= 64;
}

type Segment = number | string;

function segments(v: string): Segment[] {
  const out: Segment[] = [];
  for (const part of v.split(/[.+~_-]/)) {
    // "2024a" → 2024, "a": numbers compare numerically, letters lexically after numbers
    for (const m of part.matchAll(/(\d+)|([A-Za-z]+)/g)) out.push(m[1] !== undefined ? Number(m[1]) : m[2]!);
  }
  return out;
}

export function compareVersions(a: string, b: string): number {
  const sa = segments(a);
  const sb = segments(b);
  for (let i = 0; i < Math.max(sa.length, sb.length); i++) {
    const x = sa[i];
    const y = sb[i];
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    if (typeof x === 'number' && typeof y === 'number') {
      if (x !== y) return x < y ? -1 : 1;
    } else if (typeof x === 'number') return 1;
    else if (typeof y === 'number') return -1;
    else if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

type Comparator = (v: string) => boolean;

function startsWithSegments(v: string, prefix: string): boolean {
  const sv = segments(v);
  const sp = segments(prefix);
  return sp.every((s, i) => sv[i] === s);
}

function parseComparator(token: string): Comparator | undefined {
  const m = /^(>=|<=|>|<|=|\^|~)?(.+)$/.exec(token);
  if (!m || !isValidVersion(m[2]!)) return undefined;
  const op = m[1] ?? '';
  const base = m[2]!;
  const baseSegs = segments(base);
  switch (op) {
    case '':
      return (v) => startsWithSegments(v, base);
    case '=':
      return (v) => compareVersions(v, base) === 0;
    case '>=':
      return (v) => compareVersions(v, base) >= 0;
    case '>':
      return (v) => compareVersions(v, base) > 0;
    case '<=':
      return (v) => compareVersions(v, base) <= 0;
    case '<':
      return (v) => compareVersions(v, base) < 0;
    case '^':
      return (v) => compareVersions(v, base) >= 0 && segments(v)[0] === baseSegs[0];
    case '~':
      return (v) =>
        compareVersions(v, base) >= 0 && segments(v)[0] === baseSegs[0] && segments(v)[1] === baseSegs[1];
    default:
      return undefined;
  }
}

export function isValidRange(range: string): boolean {
  return compileRange(range) !== undefined;
}

function compileRange(range: string): Comparator | undefined {
  const r = range.trim();
  if (r === '' || r === '*' || r === 'latest') return () => true;
  const parts = r.split(/\s+/).map(parseComparator);
  if (parts.some((p) => p === undefined)) return undefined;
  return (v) => parts.every((p) => p!(v));
}

export function satisfies(version: string, range: string): boolean {
  return compileRange(range)?.(version) ?? false;
}

/** The highest version that satisfies the range, or undefined. */
export function maxSatisfying(versions: readonly string[], range: string): string | undefined {
  const match = compileRange(range);
  if (!match) return undefined;
  let best: string | undefined;
  for (const v of versions) if (match(v) && (best === undefined || compareVersions(v, best) > 0)) best = v;
  return best;
}

export interface RetRef {
  name: string;
  /** A version range; '*' when the reference named no version. */
  range: string;
}

/** Parses `name@range` (the form of the paper's `libs` and of `requires`). */
export function parseRef(ref: string, field = 'ref'): RetRef {
  const m = REF_RE.exec(ref.trim());
  const range = m?.[2] ?? '*';
  if (!m || !isValidRange(range)) {
    throw new RegError('USAGE', `"${ref}" is not a RET reference`, {
      field,
      hint: 'write name@version or name@range, e.g. python@3.11, libc@6, node@>=20 <21',
    });
  }
  return { name: m[1]!, range };
}

export function formatRef(ref: RetRef): string {
  return ref.range === '*' ? ref.name : `${ref.name}@${ref.range}`;
}
