// Rendering for the terminal: sizes, tables, and errors (message, where, hint — never a stack).

import { isRegError } from '../errors.js';

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (Math.abs(v) >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(1)} ${units[u]}`;
}

export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n');
}

export function renderError(e: unknown): string {
  if (isRegError(e)) {
    const lines = [`reg: error[${e.code}]: ${e.message}`];
    if (e.field && !e.message.includes(e.field)) lines.push(`  field: ${e.field}`);
    if (e.issues && e.issues.length > 1) for (const i of e.issues.slice(0, 20)) lines.push(`  - ${i.line ? `line ${i.line}: ` : ''}${i.path || '(document)'}: ${i.message}`);
    if (e.hint) lines.push(`  hint: ${e.hint}`);
    return lines.join('\n');
  }
  const err = e as Error;
  return `reg: internal error: ${err?.message ?? String(e)}\n  hint: this is a bug in Reg; rerun with REG_DEBUG=1 for a stack trace and report it`;
}
