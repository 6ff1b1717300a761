// Reading a roster file (CSV: username, display name, optional email; a header line is optional).
// Pure: bytes in, rows or every problem out, each named by its line and field, so the instructor
// fixes the whole file at once. Nothing is imported unless the whole file is valid (the importer
// runs one transaction over these rows).

import { parse } from 'csv-parse/sync';
import type { RosterIssue } from '@reg/protocol';

export interface RosterRow {
  line: number;
  username: string;
  displayName: string | null;
  email: string | null;
}

export const USERNAME_RE = /^[a-z0-9][a-z0-9._-]{1,63}$/;
const EMAIL_RE = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const HEADER_NAMES = new Set(['username', 'user', 'login', 'user name']);

export type RosterParse = { ok: true; rows: RosterRow[] } | { ok: false; issues: RosterIssue[] };

export function parseRoster(bytes: Uint8Array, maxRows = 5000): RosterParse {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return { ok: false, issues: [{ line: lineOfBadByte(bytes), field: 'file', message: 'the file is not UTF-8 text: save it as "CSV UTF-8" (Excel) or UTF-8 (LibreOffice), then upload it again' }] };
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (text.trim() === '') return { ok: false, issues: [{ line: 1, field: 'file', message: 'the file is empty: one student per line, "username,display name,email"' }] };

  let records: Array<{ record: string[]; info: { lines: number } }>;
  try {
    records = parse(text, { relax_column_count: true, skip_empty_lines: true, trim: true, info: true, bom: true }) as unknown as typeof records;
  } catch (e) {
    const err = e as { lines?: number; message: string };
    return { ok: false, issues: [{ line: err.lines ?? 1, field: 'file', message: `not valid CSV: ${err.message.replace(/^Invalid.*?:\s*/, '')}` }] };
  }

  const issues: RosterIssue[] = [];
  const rows: RosterRow[] = [];
  const seen = new Map<string, number>();
  for (const [i, { record, info }] of records.entries()) {
    const line = info.lines;
    const cells = record.map((c) => c.trim());
    if (cells.every((c) => c === '')) continue;
    if (i === 0 && HEADER_NAMES.has(cells[0]!.toLowerCase())) continue;
    if (cells.length > 3) {
      issues.push({ line, field: 'columns', message: `${cells.length} columns: expected username, display name and an optional email (quote a name that contains a comma)` });
      continue;
    }
    const [rawUser = '', displayName = '', email = ''] = cells;
    const username = rawUser.toLowerCase();
    if (username === '') issues.push({ line, field: 'username', message: 'the username is empty' });
    else if (!USERNAME_RE.test(username)) issues.push({ line, field: 'username', message: `"${rawUser}" is not a valid username: 2–64 characters, letters, digits, . _ and -, starting with a letter or digit` });
    else if (seen.has(username)) issues.push({ line, field: 'username', message: `"${username}" appears twice (also on line ${seen.get(username)})` });
    if (displayName.length > 120) issues.push({ line, field: 'display name', message: 'the display name is longer than 120 characters' });
    if (email !== '' && !EMAIL_RE.test(email)) issues.push({ line, field: 'email', message: `"${email}" is not an email address (leave the column empty if there is none)` });
    if (username !== '' && !seen.has(username)) seen.set(username, line);
    rows.push({ line, username, displayName: displayName || null, email: email || null });
  }
  if (rows.length === 0 && issues.length === 0) issues.push({ line: 1, field: 'file', message: 'the file has no students: one per line, "username,display name,email"' });
  if (rows.length > maxRows) issues.push({ line: rows[maxRows]!.line, field: 'file', message: `more than ${maxRows} students in one file: split it` });
  return issues.length ? { ok: false, issues } : { ok: true, rows };
}

/** The 1-based line of the first byte sequence that is not UTF-8 (for the error message). */
function lineOfBadByte(bytes: Uint8Array): number {
  let line = 1;
  let start = 0;
  for (let i = 0; i <= bytes.length; i++) {
    if (i === bytes.length || bytes[i] === 0x0a) {
      try {
        new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(start, i));
      } catch {
        return line;
      }
      line++;
      start = i + 1;
    }
  }
  return 1;
}
