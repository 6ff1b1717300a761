// Test support: a throwaway REG_HOME, and a snapshot of every file under it (to prove that a
// failed operation left the store exactly as it was).

import { mkdtempSync, readdirSync, lstatSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { regHome, type RegHome } from '../home.js';

export function tempHome(prefix = 'reg-test-'): RegHome & { cleanup: () => void } {
  const root = mkdtempSync(join(tmpdir(), prefix));
  return { ...regHome(root), cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

/** path → "type size mode" for every entry below root (directories included). */
export function snapshot(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (dir: string) => {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return;
    }
    for (const n of names) {
      const p = join(dir, n);
      const st = lstatSync(p);
      out.set(relative(root, p), `${st.isDirectory() ? 'd' : st.isSymbolicLink() ? 'l' : 'f'} ${st.size} ${(st.mode & 0o7777).toString(8)}`);
      if (st.isDirectory()) walk(p);
    }
  };
  walk(root);
  return out;
}
