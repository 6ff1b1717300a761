// Test support: a real OCI registry (Debian's docker-registry, i.e. CNCF distribution) on
// 127.0.0.1 with a random free port and a temp storage dir, optionally behind htpasswd basic auth
// (bcrypt entries from apache2-utils' htpasswd). stop() kills it and removes the dir.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const DOCKER_REGISTRY = '/usr/bin/docker-registry';

export interface TestRegistry {
  /** 127.0.0.1:PORT */
  host: string;
  port: number;
  /** The storage root: docker/registry/v2/… lives below it. */
  storage: string;
  /** Where distribution keeps a blob's bytes (to corrupt it in tests). */
  blobData(digest: string): string;
  stop(): Promise<void>;
}

/** Why the registry tests cannot run here, or undefined when they can. */
export function registryUnavailable(opts: { auth?: boolean } = {}): string | undefined {
  if (!existsSync(DOCKER_REGISTRY)) return `${DOCKER_REGISTRY} is missing (apt-get install docker-registry)`;
  if (opts.auth && spawnSync('htpasswd', ['-h']).error) return 'htpasswd is missing (apt-get install apache2-utils)';
  return undefined;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

function htpasswdLine(user: string, password: string): string {
  const r = spawnSync('htpasswd', ['-nbB', '-C', '5', user, password], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`htpasswd failed: ${r.stderr}`);
  return r.stdout.trim();
}

export async function startTestRegistry(opts: { users?: Record<string, string> } = {}): Promise<TestRegistry> {
  const dir = mkdtempSync(join(tmpdir(), 'reg-registry-'));
  const storage = join(dir, 'storage');
  const port = await freePort();
  let auth = '';
  if (opts.users) {
    const file = join(dir, 'htpasswd');
    writeFileSync(file, Object.entries(opts.users).map(([u, p]) => htpasswdLine(u, p)).join('\n') + '\n');
    auth = `auth:\n  htpasswd:\n    realm: reg-test\n    path: ${file}\n`;
  }
  const config = join(dir, 'config.yml');
  writeFileSync(
    config,
    `version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: ${storage}
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:${port}
  secret: ${randomBytes(16).toString('hex')}
${auth}`,
  );
  const child: ChildProcess = spawn(DOCKER_REGISTRY, ['serve', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`docker-registry exited (${child.exitCode}): ${stderr}`);
    }
    try {
      const res = await fetch(`http://127.0.0.1:${port}/v2/`);
      await res.body?.cancel();
      if (res.status === 200 || res.status === 401) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`docker-registry did not come up on 127.0.0.1:${port}: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    host: `127.0.0.1:${port}`,
    port,
    storage,
    blobData: (digest) => {
      const hex = digest.replace(/^sha256:/, '');
      return join(storage, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
    },
    stop,
  };
}
