// Reading an admin's user import (CSV: username, display name, email, role; a header line is
// optional). Pure: text in, rows or every problem out, each named by its line and field, so the
// admin fixes the whole file at once; the importer creates all the accounts or none. The same
// strictness as an instructor's roster file (classes/roster-file.ts), plus the role column.

import { parse } from 'csv-parse/sync';
import { ROLES, type Role } from '@reg/protocol';

export interface ImportRow {
  line: number;
  username: string;
  displayName: string | null;
  email: string | null;
  role: Role;
}

export interface ImportIssue {
  line: number;
  field: string;
  message: string;
}

const USERNAME_RE = /^[a-z0-9][a-z0-9._-]{1,63}$/;
const EMAIL_RE = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const HEADER_NAMES = new Set(['username', 'user', 'login', 'user name']);

export function parseUserImport(text: string, maxRows = 5000): { ok: true; rows: ImportRow[] } | { ok: false; issues: ImportIssue[] } {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (text.trim() === '') return { ok: false, issues: [{ line: 1, field: 'file', message: 'the file is empty: one user per line, "username,display name,email,role"' }] };
  let records: Array<{ record: string[]; info: { lines: number } }>;
  try {
    records = parse(text, { relax_column_count: true, skip_empty_lines: true, trim: true, info: true }) as unknown as typeof records;
  } catch (e) {
    const err = e as { lines?: number; message: string };
    return { ok: false, issues: [{ line: err.lines ?? 1, field: 'file', message: `not valid CSV: ${err.message.replace(/^Invalid.*?:\s*/, '')}` }] };
  }
  const issues: ImportIssue[] = [];
  const rows: ImportRow[] = [];
  const seen = new Map<string, number>();
  for (const [i, { record, info }] of records.entries()) {
    const line = info.lines;
    const cells = record.map((c) => c.trim());
    if (cells.every((c) => c === '')) continue;
    if (i === 0 && HEADER_NAMES.has(cells[0]!.toLowerCase())) continue;
    if (cells.length > 4) {
      issues.push({ line, field: 'columns', message: `${cells.length} columns: expected username, display name, email and role (quote a name that contains a comma)` });
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
  if (rows.length === 0 && issues.length === 0) issues.push({ line: 1, field: 'file', message: 'the file has no users: one per line, "username,display name,email,role"' });
  if (rows.length > maxRows) issues.push({ line: rows[maxRows]!.line, field: 'file', message: `more than ${maxRows} users in one file: split it` });
  return issues.length ? { ok: false, issues } : { ok: true, rows };
}
