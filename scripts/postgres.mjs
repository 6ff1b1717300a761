#!/usr/bin/env node
// A private PostgreSQL cluster for the tests (`scripts/test.mjs`), `npm run cluster` and anyone who
// wants the host on PostgreSQL without touching the machine's own server: Debian's postgresql
// binaries, initdb into a directory of ours, listening on a loopback address only, password
// (scram-sha-256) authentication. PostgreSQL refuses to run as root, so as root initdb and the
// server run as the `postgres` user (the data directory is chowned to it).
//
//   import { startPostgres, createDatabase } from './postgres.mjs';
//   const pg = await startPostgres({ dir });          // { url, host, port, dataDir, pid, stop() }
//   const url = await createDatabase(pg.url, 'reg');  // DATABASE_URL for the hosts
//
// CLI: node scripts/postgres.mjs --dir DIR [--port N] [--host 127.0.0.1]
//   runs one in the foreground, prints DATABASE_URL=..., stops on Ctrl-C / SIGTERM.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, existsSync, mkdirSync, openSync, closeSync, readdirSync, readFileSync, statSync, writeFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
// `pg` is the host's dependency; resolve it from there so this script needs nothing of its own.
const requireFromHost = createRequire(join(root, 'apps/sandbox-host/package.json'));

/** The directory holding initdb/postgres (REG_PG_BINDIR, else Debian's newest /usr/lib/postgresql/<v>/bin). */
export function postgresBinDir() {
  if (process.env.REG_PG_BINDIR) return existsSync(join(process.env.REG_PG_BINDIR, 'postgres')) ? process.env.REG_PG_BINDIR : undefined;
  const base = '/usr/lib/postgresql';
  let versions = [];
  try {
    versions = readdirSync(base).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a));
  } catch {
    return undefined;
  }
  for (const v of versions) if (existsSync(join(base, v, 'bin', 'postgres')) && existsSync(join(base, v, 'bin', 'initdb'))) return join(base, v, 'bin');
  return undefined;
}

/** Why a private cluster cannot start here (undefined: it can). */
export function postgresUnavailableReason() {
  if (!postgresBinDir()) return 'PostgreSQL is not installed (Debian package postgresql; scripts/setup.mjs installs it)';
  if (process.getuid?.() === 0 && !postgresUser()) return 'running as root but there is no `postgres` user to run PostgreSQL as';
  return undefined;
}

function postgresUser() {
  const uid = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
  const gid = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
  if (uid.status !== 0 || gid.status !== 0) return undefined;
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

function freePort(host) {
  return new Promise((resolvePort, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, host, () => {
      const { port } = s.address();
      s.close(() => resolvePort(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function canConnect(url) {
  const { Client } = requireFromHost('pg');
  const c = new Client({ connectionString: url, connectionTimeoutMillis: 1000 });
  try {
    await c.connect();
    await c.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await c.end().catch(() => {});
  }
}

/**
 * Starts (initialising it first if new) a cluster in `dir`. Reuses an existing one (its password
 * is kept in DIR/password, mode 0600). `fast` turns durability off (fsync, synchronous_commit):
 * for throwaway test clusters only.
 * @param {{ dir: string, port?: number, host?: string, fast?: boolean, log?: (line: string) => void }} opts
 */
export async function startPostgres({ dir, port = 0, host = '127.0.0.1', fast = false, log = () => {} }) {
  const why = postgresUnavailableReason();
  if (why) throw new Error(`cannot start PostgreSQL: ${why}`);
  if (!/^127\.\d+\.\d+\.\d+$/.test(host) && host !== 'localhost') throw new Error(`PostgreSQL host ${host}: a private cluster listens on loopback (127.0.0.0/8) only`);
  const bin = postgresBinDir();
  dir = resolve(dir);
  const dataDir = join(dir, 'data');
  const socketDir = join(dir, 'sock');
  const owner = process.getuid?.() === 0 ? postgresUser() : undefined;
  const as = owner ? { uid: owner.uid, gid: owner.gid } : {};
  mkdirSync(socketDir, { recursive: true, mode: 0o700 });
  if (owner) for (const d of [dir, socketDir]) chownSync(d, owner.uid, owner.gid);
  if (owner) {
    // The server runs as postgres: every directory above ours must let it through.
    for (let up = dirname(dir); ; up = dirname(up)) {
      const st = statSync(up);
      if (!(st.mode & 0o001) && st.uid !== owner.uid) throw new Error(`cannot start PostgreSQL in ${dir}: it runs as the postgres user, who cannot enter ${up} (mode ${(st.mode & 0o777).toString(8)}); chmod o+x ${up} or choose a directory elsewhere`);
      if (up === dirname(up)) break;
    }
  }

  // Who runs this cluster: reapStalePostgres() stops clusters whose owner died without stopping them.
  writeFileSync(join(dir, 'owner.pid'), `${process.pid}\n`);
  const pwFile = join(dir, 'password');
  if (!existsSync(join(dataDir, 'PG_VERSION'))) {
    const password = randomBytes(18).toString('base64url');
    writeFileSync(pwFile, `${password}\n`, { mode: 0o600 });
    if (owner) chownSync(pwFile, owner.uid, owner.gid);
    log(`initdb ${dataDir}`);
    const r = spawnSync(join(bin, 'initdb'), ['-D', dataDir, '-U', 'postgres', `--pwfile=${pwFile}`, '--auth=scram-sha-256', '-E', 'UTF8', '--no-locale', '--no-sync'], { ...as, cwd: dir, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`initdb failed in ${dataDir}: ${(r.stderr || r.stdout || String(r.error)).trim()}`);
  }
  const password = readFileSync(pwFile, 'utf8').trim();

  // A free port can be taken between our probe and the server's bind: retry with another.
  for (let attempt = 0; ; attempt++) {
    const p = port || (await freePort(host));
    const logFile = join(dir, 'postgres.log');
    const fd = openSync(logFile, 'a', 0o600);
    const args = ['-D', dataDir, '-c', `listen_addresses=${host}`, '-c', `port=${p}`, '-c', `unix_socket_directories=${socketDir}`, '-c', 'max_connections=300'];
    if (fast) args.push('-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off');
    const child = spawn(join(bin, 'postgres'), args, { ...as, cwd: dir, stdio: ['ignore', fd, fd], detached: true });
    closeSync(fd);
    let exited = false;
    child.once('exit', () => (exited = true));
    const url = `postgresql://postgres:${encodeURIComponent(password)}@${host}:${p}/postgres`;
    for (let i = 0; i < 300 && !exited; i++) {
      if (await canConnect(url)) break;
      await sleep(100);
    }
    if (!exited && (await canConnect(url))) {
      log(`PostgreSQL on ${host}:${p} (data ${dataDir}, log ${logFile})`);
      child.unref();
      return {
        url,
        host,
        port: p,
        dataDir,
        pid: child.pid,
        /** Fast shutdown (SIGINT: sessions are ended, then a clean checkpoint); SIGKILL after 15 s. */
        async stop() {
          if (exited) return;
          const gone = new Promise((r) => child.once('exit', r));
          try { process.kill(child.pid, 'SIGINT'); } catch { return; }
          const t = setTimeout(() => { try { process.kill(child.pid, 'SIGKILL'); } catch {} }, 15_000);
          await gone;
          clearTimeout(t);
        },
        /** For process 'exit' handlers: immediate shutdown, waits (synchronously) up to 5 s. */
        stopSync() {
          if (exited) return;
          try { process.kill(child.pid, 'SIGQUIT'); } catch { return; }
          const until = Date.now() + 5000;
          while (Date.now() < until) {
            try { process.kill(child.pid, 0); } catch { return; }
            Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
          }
          try { process.kill(child.pid, 'SIGKILL'); } catch {}
        },
      };
    }
    if (!exited) { try { process.kill(child.pid, 'SIGKILL'); } catch {} }
    const tail = readFileSync(logFile, 'utf8').split('\n').slice(-6).join('\n');
    if (port || attempt >= 3) throw new Error(`PostgreSQL did not start on ${host}:${p} (log ${logFile}):\n${tail}`);
  }
}

const alive = (pid) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return e.code === 'EPERM';
  }
};

/**
 * Stops and deletes private clusters under `parent` whose directory name starts with one of
 * `prefixes` and whose owner process (DIR/owner.pid) is gone: a test run killed with SIGKILL
 * cannot stop its server, the next run does. Returns the directories reaped.
 */
export function reapStalePostgres(parent, prefixes) {
  const reaped = [];
  let entries = [];
  try {
    entries = readdirSync(parent).filter((n) => prefixes.some((p) => n.startsWith(p)));
  } catch {
    return reaped;
  }
  for (const name of entries) {
    const dir = join(parent, name);
    let owner;
    try {
      owner = Number(readFileSync(join(dir, 'owner.pid'), 'utf8').trim());
    } catch {
      continue; // not ours, or still being created
    }
    if (!owner || alive(owner)) continue;
    try {
      const postmaster = Number(readFileSync(join(dir, 'data', 'postmaster.pid'), 'utf8').split('\n')[0]);
      if (postmaster && alive(postmaster)) {
        process.kill(postmaster, 'SIGQUIT');
        const until = Date.now() + 5000;
        while (alive(postmaster) && Date.now() < until) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
      }
    } catch {}
    rmSync(dir, { recursive: true, force: true });
    reaped.push(dir);
  }
  return reaped;
}

function withDatabase(url, name) {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

function checkName(name) {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`database name ${JSON.stringify(name)}: use lower-case letters, digits and _ (at most 63)`);
}

/** Creates database `name` (if missing) through the superuser URL; returns its URL. */
export async function createDatabase(adminUrl, name) {
  checkName(name);
  const { Client } = requireFromHost('pg');
  const c = new Client({ connectionString: adminUrl });
  await c.connect();
  try {
    const r = await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (r.rowCount === 0) await c.query(`CREATE DATABASE "${name}"`);
  } finally {
    await c.end();
  }
  return withDatabase(adminUrl, name);
}

/** Drops database `name`, ending its sessions first (PostgreSQL >= 13). */
export async function dropDatabase(adminUrl, name) {
  checkName(name);
  const { Client } = requireFromHost('pg');
  const c = new Client({ connectionString: adminUrl });
  await c.connect();
  try {
    await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  } finally {
    await c.end();
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const opt = (n) => {
    const i = args.indexOf(`--${n}`);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const dir = opt('dir');
  if (!dir) {
    console.error('usage: node scripts/postgres.mjs --dir DIR [--port N] [--host 127.0.0.1] [--database reg]');
    process.exit(2);
  }
  try {
    const pg = await startPostgres({ dir, port: Number(opt('port') ?? 0), host: opt('host') ?? '127.0.0.1', log: (l) => console.error(l) });
    const url = await createDatabase(pg.url, opt('database') ?? 'reg');
    console.log(`DATABASE_URL=${url}`);
    const stop = async () => {
      await pg.stop();
      process.exit(0);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    setInterval(() => {}, 1 << 30);
  } catch (e) {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  }
}
