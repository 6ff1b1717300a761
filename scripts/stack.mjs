// Starts the Reg stack as child processes: the host (apps/sandbox-host/dist/main.js) and the web
// app (apps/web/server.mjs: Next.js plus the one-origin proxy of /api and /socket.io/ to the
// host), after building the python and node RETs from this machine if REG_HOME lacks them. Used by scripts/start.mjs (npm start), the e2e tests and the benchmark.
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { buildFromHost, cgroupParentFor, listRets, regHome, removeCgroupParent } from '@reg/core';
import { ensureToolboxRets } from './build-rets.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));

/** The RETs `npm start` offers, and the host binaries they are built from. */
export const DEFAULT_RETS = [
  { name: 'python', binary: '/usr/bin/python3.11' },
  { name: 'node', binary: '/usr/bin/node' },
];

/** Builds the default RETs that REG_HOME does not have yet; returns the names built. */
export async function ensureRets(home, log = () => {}) {
  const have = new Set((await listRets(regHome(home))).map((r) => r.name));
  const built = [];
  for (const { name, binary } of DEFAULT_RETS) {
    if (have.has(name)) continue;
    log(`building the ${name} RET from ${binary} (once)…`);
    const report = await buildFromHost(regHome(home), binary);
    built.push(`${report.runtime.name}@${report.runtime.version}`);
  }
  // The toolbox (a shell, editors, git) and python-tools / node-tools environments.
  built.push(...(await ensureToolboxRets(home, log)));
  return built;
}

/** Resolves the first {"event":"ready"} line a child prints; rejects (with errTail()) if it exits first. */
export function waitForReady(child, what, errTail = () => '') {
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout });
    const onExit = (code) => reject(new Error(`${what} exited (${code}) before it was ready${errTail() ? `:\n${errTail()}` : ''}`));
    child.once('exit', onExit);
    lines.on('line', (line) => {
      if (!line.startsWith('{')) return;
      try {
        const msg = JSON.parse(line);
        if (msg.event === 'ready') {
          child.off('exit', onExit);
          resolve(msg);
        }
      } catch {
        // not ours
      }
    });
  });
}

export async function waitForHttp(url, child, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`the web app exited (${child.exitCode}) before it was ready`);
    try {
      const res = await fetch(url);
      await res.body?.cancel();
      if (res.status < 500) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error(`${url} did not answer within ${timeoutMs} ms`);
}

/**
 * Starts host + web. opts: { regHome, port, hostPort, env, stdio: 'inherit'|'pipe', web: true }.
 * Returns { host: {pid, port, socket, demo}, webUrl, hostUrl, stop() }.
 */
export async function startStack(opts = {}) {
  const env = {
    ...process.env,
    REG_HOME: opts.regHome ?? process.env.REG_HOME ?? '/var/lib/reg',
    PORT: String(opts.port ?? process.env.PORT ?? 3000),
    HOST_PORT: String(opts.hostPort ?? process.env.HOST_PORT ?? 3001),
    NEXT_TELEMETRY_DISABLED: '1',
    ...opts.env,
  };
  const stderr = opts.stdio === 'inherit' ? 'inherit' : 'pipe';
  const host = spawn(process.execPath, [`${root}apps/sandbox-host/dist/main.js`], { env, stdio: ['ignore', 'pipe', stderr] });
  const children = [host];
  let hostErr = '';
  host.stderr?.on('data', (d) => (hostErr = (hostErr + d).slice(-4000)));
  let ready;
  try {
    ready = await waitForReady(host, 'the host');
  } catch (e) {
    throw new Error(`${e.message}\n${hostErr}`);
  }
  env.HOST_PORT = String(ready.port);
  let web;
  if (opts.web !== false) {
    web = spawn(process.execPath, [`${root}apps/web/server.mjs`], { cwd: `${root}apps/web`, env: { ...env, HOST: opts.webBind ?? '0.0.0.0', NODE_ENV: 'production' }, stdio: ['ignore', opts.stdio === 'inherit' ? 'inherit' : 'ignore', stderr] });
    children.push(web);
    await waitForHttp(`http://127.0.0.1:${env.PORT}/sign-in`, web);
  }
  host.stdout.resume();
  const stop = async (signal = 'SIGTERM') => {
    await Promise.all(
      children.map(
        (c) =>
          new Promise((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null) return resolve();
            c.once('exit', resolve);
            c.kill(signal);
          }),
      ),
    );
  };
  return {
    host: { pid: host.pid, port: ready.port, socket: ready.socket, demo: ready.demo, process: host },
    web: web && { pid: web.pid, process: web },
    webUrl: `http://localhost:${env.PORT}`,
    hostUrl: `http://127.0.0.1:${ready.port}`,
    stop,
  };
}

/**
 * Removes a REG_HOME a test or a run made: unmounts whatever is mounted below it first (quota
 * volumes of workspaces and spares outlive the host by design; `rm -r` would descend into them
 * and then fail on the mount point, leaking the loop device), deepest first, lazily if busy.
 */
export async function removeHome(home) {
  if (!home || home === '/') return;
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((m) => m.startsWith(`${home}/`))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) if (spawnSync('umount', [m]).status !== 0) spawnSync('umount', ['-l', m]);
  await rm(home, { recursive: true, force: true });
  // Its cgroup parent with the idle pool members and the cgroups of parked launchers a killed
  // host left (their processes end on their pty's hangup: waited for a moment).
  await removeCgroupParent(cgroupParentFor(regHome(home))).catch(() => {});
}
