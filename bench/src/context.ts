// What every experiment gets: options, the temp dir, cleanup, a log, Reg (one REG_HOME for the
// whole run) and the peers, each set up the first time an experiment asks for it. A peer that
// cannot be set up becomes a note in the report and its rows are skipped; the bench goes on.

import { join } from 'node:path';
import type { Cleanup } from './cleanup.js';
import { ensurePackages } from './host.js';
import { MemoryGroup } from './memory-cgroup.js';
import type { BenchOptions } from './options.js';
import { Dockerd } from './peers/docker.js';
import { bwrapWorks, OciRuntime } from './peers/oci.js';
import { IMAGES, RootfsCache } from './peers/rootfs.js';
import { which } from './processes.js';
import type { RegHarness } from './reg-harness.js';

export type ImageName = keyof typeof IMAGES;

/** Debian packages the peers need (installed at bench time if missing). */
export const PEER_PACKAGES: Record<string, string> = {
  debootstrap: 'image trees for Docker, crun, runc and bubblewrap',
  'docker.io': 'the Docker peer',
  crun: 'the crun peer',
  runc: 'the runc peer (and Docker’s runtime)',
  bubblewrap: 'the bubblewrap peer',
};

/** Services of the mixed-memory experiment, run bare, in Reg and in Docker. */
export const SERVICE_PACKAGES: Record<string, string> = {
  nginx: 'the nginx service of the mixed-memory experiment',
  'mariadb-server': 'the MariaDB (MySQL) service of the mixed-memory experiment',
  tomcat10: 'the Tomcat service of the mixed-memory experiment',
};

export class BenchContext {
  readonly notes: string[] = [];
  private rootfs: RootfsCache;
  private dockerd: Promise<Dockerd | undefined> | undefined;
  private readonly images = new Map<string, Promise<string>>();
  private readonly oci = new Map<string, Promise<OciRuntime | undefined>>();
  private bwrapOk: Promise<boolean> | undefined;
  /** The memory cgroup dockerd, containerd and the shims run in. */
  dockerGroup: MemoryGroup | undefined;
  private packages: Promise<void> | undefined;
  /** RET build timings, recorded when each runtime is first built into the (empty) store. */
  readonly builds = new Map<string, { ms: number; runtime: string; rets: number; newBytes: number }>();

  constructor(
    readonly opts: BenchOptions,
    readonly tmp: string,
    readonly cleanup: Cleanup,
    readonly reg: RegHarness,
    readonly log: (l: string) => void,
  ) {
    this.rootfs = new RootfsCache(opts.cacheDir, cleanup, log);
  }

  note(text: string): void {
    if (!this.notes.includes(text)) this.notes.push(text);
    this.log(`note: ${text}`);
  }

  ensurePackages(): Promise<void> {
    this.packages ??= ensurePackages({ ...PEER_PACKAGES, ...SERVICE_PACKAGES }, this.log);
    return this.packages;
  }

  /** Builds a runtime's RETs from the host once; the first build of each is timed. */
  async buildRuntime(binary: string): Promise<string> {
    const have = this.builds.get(binary);
    if (have) return have.runtime;
    const b = await this.reg.build(binary);
    this.builds.set(binary, b);
    this.log(`built ${b.runtime} from ${binary} in ${(b.ms / 1000).toFixed(1)} s (${b.rets} RETs)`);
    return b.runtime;
  }

  tree(name: ImageName): Promise<string> {
    return this.ensurePackages().then(() => this.rootfs.tree(IMAGES[name]));
  }

  packageVersion(tree: string, pkg: string): Promise<string | undefined> {
    return this.rootfs.packageVersion(tree, pkg);
  }

  docker(): Promise<Dockerd | undefined> {
    this.dockerd ??= (async () => {
      if (this.opts.noDocker) return undefined;
      try {
        await this.ensurePackages();
        this.dockerGroup = await MemoryGroup.create('dockerd', this.cleanup);
        return await Dockerd.start(join(this.tmp, 'docker'), this.cleanup, this.log, this.dockerGroup);
      } catch (e) {
        this.note(`Docker skipped: ${(e as Error).message}`);
        return undefined;
      }
    })();
    return this.dockerd;
  }

  /** The Docker image of a runtime (imported from its tree once per run); undefined without Docker. */
  async image(name: ImageName): Promise<string | undefined> {
    const d = await this.docker();
    if (!d) return undefined;
    let p = this.images.get(name);
    if (!p) {
      p = (async () => {
        const tag = `bench/${name}:latest`;
        await d.importTree(await this.tree(name), tag);
        return tag;
      })();
      this.images.set(name, p);
    }
    return p;
  }

  ociRuntime(name: 'crun' | 'runc'): Promise<OciRuntime | undefined> {
    let p = this.oci.get(name);
    if (!p) {
      p = (async () => {
        if (this.opts.noDocker) return undefined;
        try {
          await this.ensurePackages();
          const bin = await which(name);
          if (!bin) throw new Error(`${name} is not installed`);
          const { runtime, note } = await OciRuntime.open(name, bin, join(this.tmp, name), await this.tree('python'), this.cleanup);
          this.note(note);
          return runtime;
        } catch (e) {
          this.note(`${name} skipped: ${(e as Error).message}`);
          return undefined;
        }
      })();
      this.oci.set(name, p);
    }
    return p;
  }

  bwrap(): Promise<boolean> {
    this.bwrapOk ??= (async () => {
      if (this.opts.noDocker) return false;
      try {
        await this.ensurePackages();
        await bwrapWorks(await this.tree('python'));
        return true;
      } catch (e) {
        this.note(`bubblewrap skipped: ${(e as Error).message}`);
        return false;
      }
    })();
    return this.bwrapOk;
  }
}
