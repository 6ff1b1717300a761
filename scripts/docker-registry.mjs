#!/usr/bin/env node
// A local OCI registry for `npm run cluster` and the cluster tests: Debian's docker-registry (CNCF
// distribution) on 127.0.0.1, storage in a directory of the caller's (kept between runs, so RETs
// pushed once stay), no auth (loopback only). stop() ends it; the storage stays unless asked.
//
//   import { startRegistry } from './docker-registry.mjs';
//   const r = await startRegistry({ dir, port: 0 });   // { host: '127.0.0.1:PORT', port, stop(opts) }
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

export const DOCKER_REGISTRY = '/usr/bin/docker-registry';

/** Why a registry cannot be started here, or undefined. */
export function registryUnavailableReason() {
  return existsSync(DOCKER_REGISTRY) ? undefined : `${DOCKER_REGISTRY} is missing (apt-get install docker-registry; npm run setup adds it)`;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

export async function startRegistry({ dir, port = 0 } = {}) {
  const why = registryUnavailableReason();
  if (why) throw new Error(why);
  if (!dir) throw new Error('startRegistry: dir is required');
  mkdirSync(join(dir, 'storage'), { recursive: true });
  const p = port || (await freePort());
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
    rootdirectory: ${join(dir, 'storage')}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:${p}
  secret: ${randomBytes(16).toString('hex')}
`,
  );
  const child = spawn(DOCKER_REGISTRY, ['serve', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const stop = async ({ removeStorage = false } = {}) => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(t);
    }
    if (removeStorage) rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited (${child.exitCode}): ${stderr}`);
    try {
      const res = await fetch(`http://127.0.0.1:${p}/v2/`);
      await res.body?.cancel();
      if (res.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`docker-registry did not come up on 127.0.0.1:${p}: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { host: `127.0.0.1:${p}`, port: p, pid: child.pid, process: child, stop };
}
