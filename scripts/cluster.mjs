#!/usr/bin/env node
// `npm run cluster -- --hosts 3`: a whole Reg cluster on this machine. PostgreSQL (a private
// server, scripts/postgres.mjs), an OCI registry (docker-registry, scripts/docker-registry.mjs),
// N sandbox hosts, each with its own REG_HOME (so its own store and cgroup parent reg-<hash>)
// on its own loopback address (127.0.0.2, 127.0.0.3, … port 3001), one shared directory for
// workspaces and the cluster secret, and the web app as the one origin (apps/web/server.mjs
// routes every request and websocket to the right host). Host 1's store gets the default RETs
// (built from this machine once) and pushes them to the registry; the other hosts start empty and
// pull on demand or when a class start pre-pulls. Demo accounts and the demo class are seeded by
// host 1, once. Ctrl-C stops everything; nothing is left mounted or running.
//
// Usage: node scripts/cluster.mjs [--hosts N] [--dir DIR] [--port 3000] [--host-port 3001] [--fresh] [--no-web]
// State lives in DIR (default .reg-dev/cluster) and is reused by the next run (--fresh starts over).
// Also a module: startCluster(opts) → { hosts, webUrl, databaseUrl, registry, demo, kill(i), stop() } (e2e tests).
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { cgroupParentFor, listRets, pushRet, regHome, removeCgroupParent } from '@reg/core';
import { startRegistry } from './docker-registry.mjs';
import { createDatabase, startPostgres } from './postgres.mjs';
import { ensureRets, waitForHttp, waitForReady } from './stack.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));

function stopChild(c, signal = 'SIGTERM', forceMs = 20_000) {
  return new Promise((res) => {
    if (!c || c.exitCode !== null || c.signalCode !== null) return res();
    const t = setTimeout(() => c.kill('SIGKILL'), forceMs);
    c.once('exit', () => {
      clearTimeout(t);
      res();
    });
    c.kill(signal);
  });
}

/** Mount points under `dir` (deepest first). */
function mountsUnder(dir) {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => (l.split(' ')[4] ?? '').replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8))))
    .filter((m) => m.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
}

/**
 * Starts the cluster. opts: { hosts = 3, dir, port = 3000, hostPort = 3001, fresh, web = true,
 * heartbeatSeconds, log, stdio: 'inherit' | 'pipe' }. hostPort 0 gives each host a free port.
 */
export async function startCluster(opts = {}) {
  const n = opts.hosts ?? 3;
  if (!Number.isInteger(n) || n < 1 || n > 200) throw new Error(`--hosts ${n}: a whole number from 1 to 200`);
  const log = opts.log ?? (() => {});
  const dir = resolve(opts.dir ?? join(root, '.reg-dev', 'cluster'));
  if (opts.fresh) {
    for (const m of mountsUnder(dir)) if (spawnSync('umount', [m]).status !== 0) spawnSync('umount', ['-l', m]);
    await rm(dir, { recursive: true, force: true });
  }
  // 0711: PostgreSQL runs as the postgres user and must traverse it to its own directory.
  mkdirSync(dir, { recursive: true, mode: 0o711 });
  chmodSync(dir, 0o711);
  const shared = join(dir, 'shared');
  mkdirSync(shared, { recursive: true, mode: 0o711 });
  const passwordFile = join(dir, 'demo-password');
  if (!existsSync(passwordFile)) writeFileSync(passwordFile, randomBytes(9).toString('base64url') + '\n', { mode: 0o600 });
  const demoPassword = readFileSync(passwordFile, 'utf8').trim();

  const children = [];
  const started = { pg: undefined, registry: undefined };
  const stop = async () => {
    // The web origin first (no new requests), then the hosts (each ends its terminals and
    // unmounts what it leased), then the registry and the database they used.
    await Promise.all(children.filter((c) => c.kind === 'web').map((c) => stopChild(c.process)));
    await Promise.all(children.filter((c) => c.kind === 'host').map((c) => stopChild(c.process)));
    await started.registry?.stop().catch(() => {});
    await started.pg?.stop().catch(() => {});
    // A host that was killed leaves its workspace mounts in the shared directory.
    for (const m of mountsUnder(dir)) if (spawnSync('umount', [m]).status !== 0) spawnSync('umount', ['-l', m]);
    // And the cgroups a killed host's parked launchers and idle pool members kept (made again at the next start).
    for (const c of children.filter((c) => c.kind === 'host')) await removeCgroupParent(cgroupParentFor(regHome(c.regHome))).catch(() => {});
  };

  try {
    log(`PostgreSQL (${join(dir, 'postgres')})…`);
    started.pg = await startPostgres({ dir: join(dir, 'postgres'), port: 0, host: '127.0.0.1' });
    const databaseUrl = await createDatabase(started.pg.url, 'reg');
    log('registry (docker-registry)…');
    started.registry = await startRegistry({ dir: join(dir, 'registry') });
    const registry = `${started.registry.host}/reg`;

    // Host 1's store: the default RETs (built from this machine once), pushed to the registry.
    const homes = Array.from({ length: n }, (_, i) => join(dir, `host-${i + 1}`));
    for (const h of homes) mkdirSync(h, { recursive: true, mode: 0o711 });
    await ensureRets(homes[0], (m) => log(`host-1: ${m}`));
    // The RETs nothing else requires: pushing one pushes its closure (a registry that has a blob
    // already is not sent it again, so later runs are quick).
    const rets = await listRets(regHome(homes[0]));
    const required = new Set(rets.flatMap((r) => r.requires.map((q) => q.split('@')[0])));
    for (const r of rets.filter((x) => !required.has(x.name))) {
      const t0 = Date.now();
      const report = await pushRet(regHome(homes[0]), `${r.name}@${r.version}`, registry);
      log(`pushed ${r.name}@${r.version} to ${registry} (${report.rets?.length ?? '?'} RETs, ${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    }

    const secretFile = join(shared, 'cluster-secret');
    const startHost = async (i) => {
      const address = `127.0.0.${i + 2}`;
      const env = {
        ...process.env,
        REG_HOME: homes[i],
        REG_CLUSTER: '1',
        REG_SHARED_DIR: shared,
        REG_CLUSTER_SECRET_FILE: secretFile,
        DATABASE_URL: databaseUrl,
        REG_HOST_ID: `host-${i + 1}`,
        HOST_BIND: address,
        HOST_PORT: String(opts.hostPort ?? 3001),
        PORT: String(opts.port ?? 3000),
        REG_REGISTRY: registry,
        REG_DEMO_PASSWORD: demoPassword,
        ...(opts.heartbeatSeconds && { REG_HEARTBEAT_SECONDS: String(opts.heartbeatSeconds) }),
        ...opts.env,
      };
      const proc = spawn(process.execPath, [join(root, 'apps/sandbox-host/dist/main.js')], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let err = '';
      proc.stderr.on('data', (d) => {
        err = (err + d).slice(-4000);
        if (opts.stdio === 'inherit') process.stderr.write(String(d).replace(/^reg-host: /gm, `host-${i + 1}: `));
      });
      const entry = { kind: 'host', id: `host-${i + 1}`, process: proc, regHome: homes[i] };
      children.push(entry);
      const ready = await waitForReady(proc, `host-${i + 1}`, () => err);
      proc.stdout.resume();
      return Object.assign(entry, { pid: proc.pid, address: `http://${address}:${ready.port}`, port: ready.port, demo: ready.demo });
    };
    // Host 1 alone first: it applies the migrations and seeds the demo accounts and class.
    const hosts = [await startHost(0)];
    hosts.push(...(await Promise.all(homes.slice(1).map((_, i) => startHost(i + 1)))));
    for (const h of hosts) log(`${h.id}: ${h.address} (REG_HOME ${h.regHome})`);

    let webUrl;
    if (opts.web !== false) {
      const port = opts.port ?? 3000;
      const proc = spawn(process.execPath, [join(root, 'apps/web/server.mjs')], {
        cwd: join(root, 'apps/web'),
        env: { ...process.env, PORT: String(port), HOST: opts.webBind ?? '0.0.0.0', NODE_ENV: 'production', NEXT_TELEMETRY_DISABLED: '1', REG_CLUSTER: '1', REG_HOST_URLS: hosts.map((h) => h.address).join(','), REG_HOST_URL: hosts[0].address, REG_CLUSTER_SECRET_FILE: secretFile },
        stdio: ['ignore', 'ignore', opts.stdio === 'inherit' ? 'inherit' : 'ignore'],
      });
      children.push({ kind: 'web', process: proc });
      await waitForHttp(`http://127.0.0.1:${port}/sign-in`, proc, 90_000);
      webUrl = `http://localhost:${port}`;
    }
    return {
      dir,
      hosts,
      webUrl,
      databaseUrl,
      registry,
      secretFile,
      demo: { password: demoPassword, users: hosts[0].demo?.users ?? [] },
      /** SIGKILLs host i (0-based), as a crash would. */
      kill: (i) => stopChild(hosts[i].process, 'SIGKILL'),
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}

/** Cgroup parents of the cluster's homes still present (should be none after stop). */
export function leftoverCgroupParents(homes) {
  const marks = '/run/reg/cgroup-parents';
  if (!existsSync(marks)) return [];
  return readdirSync(marks).filter((p) => homes.includes(readFileSync(join(marks, p), 'utf8')) && existsSync(join('/sys/fs/cgroup/pids', p)));
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  let args;
  try {
    args = parseArgs({ options: { hosts: { type: 'string', default: '3' }, dir: { type: 'string' }, port: { type: 'string', default: process.env.PORT ?? '3000' }, 'host-port': { type: 'string', default: '3001' }, fresh: { type: 'boolean', default: false }, 'no-web': { type: 'boolean', default: false } } }).values;
  } catch (e) {
    console.error(`cluster: ${e.message}\nusage: npm run cluster -- [--hosts N] [--dir DIR] [--port 3000] [--host-port 3001] [--fresh] [--no-web]`);
    process.exit(2);
  }
  if (process.getuid?.() !== 0) console.warn('cluster: not root: containers need root (namespaces, cgroups, overlay and loop mounts)');
  let cluster;
  try {
    cluster = await startCluster({ hosts: Number(args.hosts), dir: args.dir, port: Number(args.port), hostPort: Number(args['host-port']), fresh: args.fresh, web: !args['no-web'], stdio: 'inherit', log: (m) => console.log(`cluster: ${m}`) });
  } catch (e) {
    console.error(`cluster: ${e.message}`);
    process.exit(1);
  }
  console.log(`
  Reg cluster is running: ${cluster.webUrl ?? '(no web app: --no-web)'}
  ${cluster.hosts.length} sandbox host(s): ${cluster.hosts.map((h) => `${h.id} ${h.address}`).join(', ')}
  PostgreSQL ${cluster.databaseUrl.replace(/:[^:@/]+@/, ':…@')}, registry ${cluster.registry}
  State in ${cluster.dir} (reused next time; --fresh starts over)

  Sign in with one of the demo accounts, password: ${cluster.demo.password}
    ${cluster.demo.users.map((u) => `${u.username} (${u.role})`).join(', ')}

  Try: kill -9 <a host's pid> — its students get "your sandbox host stopped" and reopen on another.
  Host pids: ${cluster.hosts.map((h) => `${h.id}=${h.pid}`).join(' ')}
  Ctrl-C stops everything.
`);
  let stopping = false;
  const shutdown = (code) => {
    if (stopping) return;
    stopping = true;
    console.log('cluster: stopping…');
    void cluster.stop().then(() => {
      const left = leftoverCgroupParents(cluster.hosts.map((h) => h.regHome));
      if (left.length) console.error(`cluster: cgroup parents left behind: ${left.join(', ')}`);
      process.exit(code);
    });
  };
  for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => shutdown(0));
  for (const h of cluster.hosts) h.process.on('exit', (code, signal) => !stopping && console.error(`cluster: ${h.id} exited (${signal ?? code}); the others carry on (Ctrl-C stops all)`));
}
