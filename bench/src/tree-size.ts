// Bytes and files of a directory tree, counted the same way for a Reg closure (exported as hard
// links) and a Docker image tree: regular files' apparent sizes, each inode once (hard links in
// one tree are one file on disk and one entry in an image layer).

import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';

export interface TreeSize {
  files: number;
  bytes: number;
  symlinks: number;
  dirs: number;
}

export async function treeSize(root: string): Promise<TreeSize> {
  const out: TreeSize = { files: 0, bytes: 0, symlinks: 0, dirs: 0 };
  const seen = new Set<string>();
  const walk = async (dir: string) => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) {
        out.dirs++;
        await walk(p);
      } else if (e.isSymbolicLink()) {
        out.symlinks++;
      } else if (e.isFile()) {
        out.files++;
        const st = await lstat(p);
        const key = `${st.dev}:${st.ino}`;
        if (!seen.has(key)) {
          seen.add(key);
          out.bytes += st.size;
        }
      }
    }
  };
  await walk(root);
  return out;
}
