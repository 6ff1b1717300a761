// Reading a roster file (CSV: username, display name, optional email; a header line is optional):
// the bytes must be UTF-8 (the first bad line is named), then auth/people-csv.ts reads the rows or
// names every problem by line and field. Nothing is imported unless the whole file is valid (the
// importer runs one transaction over these rows).

import type { RosterIssue } from '@reg/protocol';
import { parsePeopleCsv, type PersonRow } from '../auth/people-csv.js';

export type RosterRow = PersonRow;
export type RosterParse = { ok: true; rows: RosterRow[] } | { ok: false; issues: RosterIssue[] };

export function parseRoster(bytes: Uint8Array, maxRows = 5000): RosterParse {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return { ok: false, issues: [{ line: lineOfBadByte(bytes), field: 'file', message: 'the file is not UTF-8 text: save it as "CSV UTF-8" (Excel) or UTF-8 (LibreOffice), then upload it again' }] };
  }
  return parsePeopleCsv(text, { noun: 'student', withRole: false, maxRows });
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
