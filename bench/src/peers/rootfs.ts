// The image trees the peers run (Docker, crun, runc, bubblewrap): a `debootstrap --variant=minbase
// bookworm` tree plus the runtime's Debian packages installed in a chroot, cleaned the way a
// Dockerfile would be (apt lists and caches removed). Building them takes minutes, so they are
// cached between runs under --cache DIR, keyed by a manifest of what went in.
//
// node is the exception: the host's node is NodeSource's 20.x, not Debian's 18.x, so the node
// tree gets the host's own /usr/bin/node and npm copied in — the same files the Reg RET holds.

import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Cleanup } from '../cleanup.js';
import { capture, check } from '../processes.js';

export const MIRROR = 'http://deb.debian.org/debian';
const SOURCES = `deb ${MIRROR} bookworm main\ndeb ${MIRROR} bookworm-updates main\ndeb http://deb.debian.org/debian-security bookworm-security main\n`;
/** Bump when the recipe changes, so cached trees are rebuilt. */
const RECIPE = 3;

export interface ImageSpec {
  name: string;
  /** Debian packages installed in the chroot. */
  packages: string[];
  /** Host paths copied into the tree at the same paths (cp -a). */
  hostCopies?: string[];
}

export const IMAGES: Record<'python' | 'node' | 'nginx' | 'mariadb' | 'tomcat', ImageSpec> = {
  python: { name: 'python', packages: ['python3'] },
  node: { name: 'node', packages: [], hostCopies: ['/usr/bin/node', '/usr/bin/npm', '/usr/bin/npx', '/usr/lib/node_modules/npm'] },
  nginx: { name: 'nginx', packages: ['nginx'] },
  mariadb: { name: 'mariadb', packages: ['mariadb-server'] },
  tomcat: { name: 'tomcat', packages: ['tomcat10'] },
};

interface Manifest {
  recipe: number;
  packages: string[];
  hostCopies: string[];
  /** For host copies: size+mtime of each, so an upgraded host node rebuilds the tree. */
  hostStamp: string;
}

async function hostStamp(paths: string[]): Promise<string> {
  if (paths.length === 0) return '';
  return (await check('stat', ['-c', '%n %s %Y', ...paths])).trim();
}

async function readManifest(tree: string): Promise<Manifest | undefined> {
  try {
    return JSON.parse(await readFile(`${tree}.manifest.json`, 'utf8')) as Manifest;
  } catch {
    return undefined;
  }
}

export class RootfsCache {
  constructor(
    readonly dir: string,
    private readonly cleanup: Cleanup,
    private readonly log: (l: string) => void,
  ) {}

  private get base(): string {
    return join(this.dir, 'trees', 'base');
  }

  /** The minbase tree (with its apt lists, for installing more into copies of it). */
  private async ensureBase(): Promise<string> {
    const want: Manifest = { recipe: RECIPE, packages: [], hostCopies: [], hostStamp: '' };
    const have = await readManifest(this.base);
    if (have && existsSync(this.base) && JSON.stringify(have) === JSON.stringify(want)) return this.base;
    await mkdir(join(this.dir, 'trees'), { recursive: true });
    const tmp = `${this.base}.tmp`;
    await rm(tmp, { recursive: true, force: true });
    this.log('debootstrap --variant=minbase bookworm (once; cached)');
    const t0 = performance.now();
    await check('debootstrap', ['--variant=minbase', 'bookworm', tmp, MIRROR]);
    await writeFile(join(tmp, 'etc/apt/sources.list'), SOURCES);
    await this.inChroot(tmp, 'apt-get update -qq');
    await rm(this.base, { recursive: true, force: true });
    await rename(tmp, this.base);
    await writeFile(`${this.base}.manifest.json`, JSON.stringify(want));
    this.log(`  base tree ready in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    return this.base;
  }

  /** Runs a shell command in a chroot with /proc mounted (Java's postinst needs it), then unmounts. */
  private async inChroot(tree: string, script: string): Promise<void> {
    await writeFile(join(tree, 'etc/resolv.conf'), await readFile('/etc/resolv.conf', 'utf8').catch(() => 'nameserver 1.1.1.1\n'));
    // Services must not start inside the chroot.
    await writeFile(join(tree, 'usr/sbin/policy-rc.d'), '#!/bin/sh\nexit 101\n', { mode: 0o755 });
    const proc = join(tree, 'proc');
    await check('mount', ['-t', 'proc', 'proc', proc]);
    const undo = this.cleanup.add(`unmount ${proc}`, async () => {
      await capture('umount', ['-l', proc]);
    });
    try {
      await check('chroot', [tree, '/usr/bin/env', 'DEBIAN_FRONTEND=noninteractive', 'PATH=/usr/sbin:/usr/bin:/sbin:/bin', 'sh', '-c', script]);
    } finally {
      await undo();
      await rm(join(tree, 'usr/sbin/policy-rc.d'), { force: true });
      await rm(join(tree, 'etc/resolv.conf'), { force: true });
    }
  }

  /** The tree of one image, built (from a copy of the base) if missing or stale. */
  async tree(spec: ImageSpec): Promise<string> {
    const path = join(this.dir, 'trees', spec.name);
    const want: Manifest = { recipe: RECIPE, packages: spec.packages, hostCopies: spec.hostCopies ?? [], hostStamp: await hostStamp(spec.hostCopies ?? []) };
    const have = await readManifest(path);
    if (have && existsSync(path) && JSON.stringify(have) === JSON.stringify(want)) return path;
    const base = await this.ensureBase();
    this.log(`building the ${spec.name} image tree (once; cached)`);
    const tmp = `${path}.tmp`;
    await rm(tmp, { recursive: true, force: true });
    await check('cp', ['-a', base, tmp]);
    const cleanApt = 'apt-get clean && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin';
    if (spec.packages.length) {
      await this.inChroot(tmp, `apt-get update -qq && apt-get install -y -qq --no-install-recommends ${spec.packages.join(' ')} >/dev/null && ${cleanApt}`);
    } else {
      await this.inChroot(tmp, cleanApt);
    }
    for (const p of spec.hostCopies ?? []) {
      await mkdir(join(tmp, dirname(p)), { recursive: true });
      await check('cp', ['-a', p, join(tmp, p)]);
    }
    await rm(path, { recursive: true, force: true });
    await rename(tmp, path);
    await writeFile(`${path}.manifest.json`, JSON.stringify(want));
    return path;
  }

  /** The version of a Debian package installed in a tree. */
  async packageVersion(tree: string, pkg: string): Promise<string | undefined> {
    const r = await capture('dpkg-query', ['--admindir', join(tree, 'var/lib/dpkg'), '-W', '-f=${Version}', pkg]);
    return r.code === 0 ? r.stdout.trim() : undefined;
  }
}
