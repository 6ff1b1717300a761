// Reading a list of people from CSV — an instructor's roster (username, display name, email) and
// an admin's user import (the same, plus a role). Pure: text in, rows or every problem out, each
// named by its line and field, so the file is fixed whole; the importers create all or nothing.

import { parse } from 'csv-parse/sync';
import { ROLES, type Role } from '@reg/protocol';

export interface PersonRow {
  line: number;
  username: string;
  displayName: string | null;
  email: string | null;
  /** Only with `withRole` (empty cell: student). */
  role: Role;
}

export interface CsvIssue {
  line: number;
  field: string;
  message: string;
}

export const USERNAME_RE = /^[a-z0-9][a-z0-9._-]{1,63}$/;
const EMAIL_RE = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const HEADER_NAMES = new Set(['username', 'user', 'login', 'user name']);

export function parsePeopleCsv(text: string, opts: { noun: 'student' | 'user'; withRole: boolean; maxRows?: number }): { ok: true; rows: PersonRow[] } | { ok: false; issues: CsvIssue[] } {
  const maxRows = opts.maxRows ?? 5000;
  const shape = opts.withRole ? '"username,display name,email,role"' : '"username,display name,email"';
  const columns = opts.withRole ? 4 : 3;
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (text.trim() === '') return { ok: false, issues: [{ line: 1, field: 'file', message: `the file is empty: one ${opts.noun} per line, ${shape}` }] };

  let records: Array<{ record: string[]; info: { lines: number } }>;
  try {
    records = parse(text, { relax_column_count: true, skip_empty_lines: true, trim: true, info: true, bom: true }) as unknown as typeof records;
  } catch (e) {
    const err = e as { lines?: number; message: string };
    return { ok: false, issues: [{ line: err.lines ?? 1, field: 'file', message: `not valid CSV: ${err.message.replace(/^Invalid.*?:\s*/, '')}` }] };
  }

  const issues: CsvIssue[] = [];
  const rows: PersonRow[] = [];
  const seen = new Map<string, number>();
  for (const [i, { record, info }] of records.entries()) {
    const line = info.lines;
    const cells = record.map((c) => c.trim());
    if (cells.every((c) => c === '')) continue;
    if (i === 0 && HEADER_NAMES.has(cells[0]!.toLowerCase())) continue;
    if (cells.length > columns) {
      const expected = opts.withRole ? 'username, display name, email and role' : 'username, display name and an optional email';
      issues.push({ line, field: 'columns', message: `${cells.length} columns: expected ${expected} (quote a name that contains a comma)` });
      continue;
    }
    const [rawUser = '', displayName = '', email = '', rawRole = ''] = cells;
    const username = rawUser.toLowerCase();
    if (username === '') issues.push({ line, field: 'username', message: 'the username is empty' });
    else if (!USERNAME_RE.test(username)) issues.push({ line, field: 'username', message: `"${rawUser}" is not a valid username: 2–64 characters, letters, digits, . _ and -, starting with a letter or digit` });
    else if (seen.has(username)) issues.push({ line, field: 'username', message: `"${username}" appears twice (also on line ${seen.get(username)})` });
    if (displayName.length > 120) issues.push({ line, field: 'display name', message: 'the display name is longer than 120 characters' });
    if (email !== '' && !EMAIL_RE.test(email)) issues.push({ line, field: 'email', message: `"${email}" is not an email address (leave the column empty if there is none)` });
    const role = (rawRole === '' ? 'student' : rawRole.toLowerCase()) as Role;
    if (!ROLES.includes(role)) issues.push({ line, field: 'role', message: `"${rawRole}" is not a role: student, instructor or admin (empty: student)` });
    if (username !== '' && !seen.has(username)) seen.set(username, line);
    rows.push({ line, username, displayName: displayName || null, email: email || null, role });
  }
  if (rows.length === 0 && issues.length === 0) issues.push({ line: 1, field: 'file', message: `the file has no ${opts.noun}s: one per line, ${shape}` });
  if (rows.length > maxRows) issues.push({ line: rows[maxRows]!.line, field: 'file', message: `more than ${maxRows} ${opts.noun}s in one file: split it` });
  return issues.length ? { ok: false, issues } : { ok: true, rows };
}
