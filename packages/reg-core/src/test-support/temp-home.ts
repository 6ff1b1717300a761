// Test support: a throwaway REG_HOME, and a snapshot of every file under it (to prove that a
// failed operation left the store exactly as it was).

import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, lstatSync, rmdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { regHome, type RegHome } from '../home.js';

export function tempHome(prefix = 'reg-test-'): RegHome & { cleanup: () => void } {
  const root = mkdtempSync(join(tmpdir(), prefix));
  return { ...regHome(root), cleanup: () => {
    unmountUnder(root);
    rmSync(root, { recursive: true, force: true });
    removeIdleCgroups(root);
  } };
}

/**
 * The home's cgroup parent (reg-<hash>, as cgroupParentFor names it) with the idle pooled cgroups
 * a test's engines left in it: empty directories only (rmdir refuses a cgroup with processes).
 */
export function removeIdleCgroups(root: string, cgroupRoot = '/sys/fs/cgroup'): void {
  const parent = `reg-${createHash('sha256').update(root).digest('hex').slice(0, 12)}`;
  let hierarchies: string[];
  try {
    hierarchies = readdirSync(cgroupRoot);
  } catch {
    return;
  }
  for (const dir of [join(cgroupRoot, parent), ...hierarchies.map((h) => join(cgroupRoot, h, parent))]) {
    let children: string[];
    try {
      children = readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory() && d.name.startsWith('pool-')).map((d) => d.name);
    } catch {
      continue;
    }
    for (const c of children) try { rmdirSync(join(dir, c)); } catch { /* in use */ }
    try { rmdirSync(dir); } catch { /* in use */ }
  }
}

/** Unmounts every mount below root (quota volumes), deepest first, so rm -r never empties one. */
export function unmountUnder(root: string): string[] {
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4]?.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))))
    .filter((m): m is string => !!m && m.startsWith(`${root}/`))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) if (spawnSync('umount', [m]).status !== 0) spawnSync('umount', ['-l', m]);
  return mounts;
}

/**
 * path → "type size mode" for every entry below root (directories included), but for
 * containers/.trash: removed containers' directories being deleted in the background (an earlier
 * test's `rm` may still be emptying it), not state an operation could have changed.
 */
export function snapshot(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const trash = join(root, 'containers', '.trash');
  const walk = (dir: string) => {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return;
    }
    for (const n of names) {
      const p = join(dir, n);
      if (p === trash) continue;
      const st = lstatSync(p);
      out.set(relative(root, p), `${st.isDirectory() ? 'd' : st.isSymbolicLink() ? 'l' : 'f'} ${st.size} ${(st.mode & 0o7777).toString(8)}`);
      if (st.isDirectory()) walk(p);
    }
  };
  walk(root);
  return out;
}
