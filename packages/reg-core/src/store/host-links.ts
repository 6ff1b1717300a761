// Blobs that are the host's own inodes. When a RET is built from host files and the store sits on
// the same filesystem, the importer hard-links the host file into the store instead of copying it
// (pnpm's importer does the same: link first, copy as the fallback), so a container maps the very
// pages the host's own processes map — memory like a bare process. Each such blob gets a record,
// store/links/<2 hex>/<rest>[-x].json, naming the host path and the inode as it was when linked,
// so that `reg store verify` can tell a package upgrade (the host path now names a new inode: the
// store still holds the old one, which is correct) from an in-place write (the blob's own content
// changed: named, with the host path and the RETs using it).
//
// The record is written before the blob is renamed into place, so a linked blob always has one; a
// record whose blob is gone (a crash between the two, or gc) is removed by gc.

import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import type { RegHome } from '../home.js';

export interface HostLink {
  digest: string;
  executable: boolean;
  /** The host file that was linked (canonical path). */
  hostPath: string;
  /** The inode as it was when linked (decimal strings: bigint stat values). */
  dev: string;
  ino: string;
  size: number;
  mtimeNs: string;
  /** Informational only: every link anyone makes to the inode (a layer tree's included) changes it. */
  ctimeNs?: string;
  linkedAt: string;
}

export function linksDir(home: RegHome): string {
  return join(home.root, 'store', 'links');
}

/** The record of a blob (given by its path under blobs/). */
export function linkRecordPath(home: RegHome, blob: string): string {
  return join(linksDir(home), `${relative(home.blobs, blob)}.json`);
}

export async function writeHostLink(home: RegHome, blob: string, rec: HostLink): Promise<void> {
  const path = linkRecordPath(home, blob);
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await writeFile(tmp, `${JSON.stringify(rec)}\n`, { mode: 0o644 });
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true }).catch(() => {});
    throw e;
  }
}

/** The record of a blob, or undefined when it was copied (or the record is unreadable). */
export async function readHostLink(home: RegHome, blob: string): Promise<HostLink | undefined> {
  try {
    return JSON.parse(await readFile(linkRecordPath(home, blob), 'utf8')) as HostLink;
  } catch {
    return undefined;
  }
}

export async function removeHostLink(home: RegHome, blob: string): Promise<void> {
  await rm(linkRecordPath(home, blob), { force: true });
}

/**
 * The modes a linked blob may have. A copied blob is 0444/0555; a linked one keeps the host's
 * inode and so its mode, which must still be writable by root alone, without set-id bits.
 */
export function isAcceptableLinkedMode(mode: number, executable: boolean): boolean {
  const m = mode & 0o7777;
  return executable ? m === 0o755 || m === 0o555 : m === 0o644 || m === 0o444;
}
