#!/usr/bin/env node
// The class-start rush over a cluster, against one host, in the same run (bench/src/experiments/
// rush.ts is the one-host version): N students of one class sign in, the instructor presses Start
// class, then every student clicks "Open terminal" within 10 s, through the web origin as a browser
// does (POST /api/classes/:id/terminals, a terminal token, a websocket that names its container,
// attach, the shell's prompt). Reported per cluster size: failures (with reasons), open-to-prompt
// median and p99, placement spread (terminals per host). Then, on the 3-host cluster, one host is
// killed (SIGKILL): the time from its death until each of its students has a prompt on another
// host (median, last), reopening the way the page does after "your sandbox host stopped".
//
// All hosts share this one 2-core machine, so three hosts cannot be faster than one here: the
// comparison shows what routing and the cluster cost, and that spreading works. Noisy while other
// work runs: read the ratios, not the absolute numbers.
//
// --cold: no Start class; every open is placed and prepared per student. Hosts 2… start with empty
// stores, so before a cold rush the class environment's RETs are pre-pulled onto every host (setup,
// not measured, as POST /api/cluster/prepull does for a Start class): the rush then measures placing
// and preparing, not the registry (a fresh host's first pull is ~25 s: README, Several sandbox hosts).
// --no-prepull keeps the empty stores (the first opens on hosts 2… wait for the pull).
//
// Usage: node bench/cluster.mjs [--n 200] [--hosts 3] [--cold] [--no-prepull]   (needs root and the build)

import { mkdtemp } from 'node:fs/promises';
import { createServer } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { io } from 'socket.io-client';
import { CLUSTER_HEADER, loadRequestKey, signRequest } from '../apps/web/host-router.mjs';
import { removeHome } from '../scripts/stack.mjs';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const N = arg('n', 200);
const HOSTS = arg('hosts', 3);
/** --cold: no Start class (every open prepares its container on the host placement picks). */
const COLD = process.argv.includes('--cold');
const PREPULL = COLD && !process.argv.includes('--no-prepull');
const SPREAD_MS = 10_000;
const PROMPT_TIMEOUT_MS = 180_000;
const REOPEN_TIMEOUT_MS = 120_000;

if (N < 1000) {
  console.log(`# N=${N}, not 1000: the one-host rush at N=300 already took minutes per phase on this shared 2-core machine (README, Benchmarks), and this run does it ${HOSTS > 1 ? 'twice' : 'once'} plus a failover; pass --n 1000 on a bigger machine`);
}

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] : NaN;
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
/** The machine is shared: every number is printed next to the load average it was measured under. */
const load = () => loadavg().map((x) => x.toFixed(1)).join(' ');

async function call(base, method, path, { token, body, csv, address } = {}) {
  const headers = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (address) headers['x-forwarded-for'] = address;
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (csv !== undefined) headers['content-type'] = 'text/csv';
  const res = await fetch(`${base}${path}`, { method, headers, ...(body !== undefined && { body: JSON.stringify(body) }), ...(csv !== undefined && { body: csv }) });
  return { status: res.status, body: await res.json().catch(() => null) };
}

async function pool(items, concurrency, fn) {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i], i);
    }
  }));
}

/**
 * The prompt, as a person sees it: the text with terminal control sequences removed. They matter:
 * a session's first prompt is usually printed before the browser attaches (through the origin the
 * token and the routed handshake take longer than bash -l needs), so it arrives inside the 'screen'
 * replay, which the host's serializer ends with the modes to restore (e.g. bracketed paste
 * ESC[?2004h) and cursor moves, after "$ ". Matching the raw bytes against /\$ $/ then never
 * succeeds (the cause of "no prompt" for nearly every student in the first runs).
 */
const PROMPT = /(\$|>>>)\s*$/;
// eslint-disable-next-line no-control-regex
const visible = (s) => s.replace(/\x1b\[[0-?]*[ -\/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][0-9A-Za-z]|\x1b[=>78]|[\x00-\x08\x0e-\x1f]/g, '');

/** Open → token → websocket (routed by its container) → attach → "$ ". Resolves { ms, id, hostId, sock }. */
async function openOne(base, classId, s, sockets) {
  const t0 = performance.now();
  const created = await call(base, 'POST', `/api/classes/${classId}/terminals`, { token: s.token, address: s.address });
  if (created.status !== 201) throw new Error(`open ${created.status} ${created.body?.error?.code ?? ''}`);
  const id = created.body.id;
  const tok = await call(base, 'POST', `/api/containers/${id}/terminal-token`, { token: s.token, address: s.address });
  if (tok.status !== 200) throw new Error(`token ${tok.status} ${tok.body?.error?.code ?? ''}`);
  const sock = io(`${base}/terminals`, { transports: ['websocket'], forceNew: true, reconnection: false, query: { container: id } });
  sockets.push(sock);
  let text = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no prompt')), PROMPT_TIMEOUT_MS);
    const take = (d) => {
      text = (text + d).slice(-512);
      sock.emit('ack', Math.max(1, d.length));
      if (PROMPT.test(visible(text))) {
        clearTimeout(timer);
        resolve({ ms: performance.now() - t0, id, hostId: '?', sock });
      }
    };
    sock.on('output', take);
    // As the browser does: the screen replaces what was shown (xterm.reset(), then write).
    sock.on('screen', (d) => ((text = ''), take(d)));
    sock.on('connect_error', (e) => (clearTimeout(timer), reject(new Error(`socket ${e.message}`))));
    sock.on('disconnect', (why) => (clearTimeout(timer), reject(new Error(`socket closed (${why})`))));
    sock.on('connect', () => {
      sock.emit('attach', { containerId: id, token: tok.body.token, cols: 80, rows: 24 }, (reply) => {
        if (!reply?.ok) (clearTimeout(timer), reject(new Error(`attach ${reply?.error?.code ?? 'refused'}`)));
      });
    });
  });
}

/**
 * What the hosts go through during a rush, every second: whether each process still runs, its
 * heartbeat's age and status in the database (a host whose heartbeat is older than 3 intervals is
 * marked down by the others, and routing stops using it), and two timed requests: one answered
 * before any database work (a signed GET /api/cluster/place with no query: 400 after the signature
 * check, so it waits only for the event loop) and GET /api/health (one query: the loop plus a
 * connection from the host's pool). Their difference says whether a stall is the loop or the pool.
 */
function watchHosts(cluster, sql, key) {
  const t0 = performance.now();
  const per = Object.fromEntries(cluster.hosts.map((h) => [h.id, { loopMs: [], healthMs: [], maxAgeS: 0, down: [], exited: undefined }]));
  for (const h of cluster.hosts) {
    h.process.once('exit', (code, signal) => (per[h.id].exited = `${signal ?? `code ${code}`} at +${((performance.now() - t0) / 1000).toFixed(0)} s`));
  }
  const timed = async (url, headers, into) => {
    const a = performance.now();
    try {
      const res = await fetch(url, { headers, signal: AbortSignal.timeout(30_000) });
      await res.body?.cancel();
      into.push(performance.now() - a);
    } catch {
      into.push(30_000);
    }
  };
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const tick = performance.now();
      const rows = await sql.query(`SELECT id, status, "downReason", EXTRACT(EPOCH FROM now() - "heartbeatAt")::float AS age FROM "Host"`).then((r) => r.rows, () => []);
      for (const r of rows) {
        const w = per[r.id];
        if (!w) continue;
        w.maxAgeS = Math.max(w.maxAgeS, r.age);
        const last = w.down.at(-1);
        if (r.status !== 'up' && r.status !== 'left' && !last?.open) w.down.push({ at: (performance.now() - t0) / 1000, reason: r.downReason, open: true });
        if (r.status === 'up' && last?.open) last.open = false;
      }
      await Promise.all(cluster.hosts.filter((h) => !per[h.id].exited).map((h) => Promise.all([
        timed(`${h.address}/api/cluster/place`, { [CLUSTER_HEADER]: signRequest(key, 'GET', '/api/cluster/place') }, per[h.id].loopMs),
        timed(`${h.address}/api/health`, { [CLUSTER_HEADER]: signRequest(key, 'GET', '/api/health') }, per[h.id].healthMs),
      ])));
      await sleep(Math.max(0, 1000 - (performance.now() - tick)));
    }
  })();
  return {
    /** Whether a host went down (marked by the others) or exited while watched. */
    lost: (id) => per[id].exited !== undefined || per[id].down.length > 0,
    async stop() {
      stopped = true;
      await loop;
      return Object.fromEntries(Object.entries(per).map(([id, w]) => [id, {
        loopMedianMs: pct(w.loopMs, 50), loopMaxMs: Math.max(0, ...w.loopMs),
        healthMedianMs: pct(w.healthMs, 50), healthMaxMs: Math.max(0, ...w.healthMs),
        maxHeartbeatAgeS: w.maxAgeS,
        markedDown: w.down.map((d) => `+${d.at.toFixed(0)} s (${d.reason}${d.open ? '' : ', up again later'})`),
        exited: w.exited,
      }]));
    },
  };
}

const describeHosts = (h) => Object.entries(h).map(([id, w]) => `${id}: heartbeat age max ${w.maxHeartbeatAgeS.toFixed(1)} s, loop probe median/max ${w.loopMedianMs.toFixed(0)}/${w.loopMaxMs.toFixed(0)} ms, /api/health median/max ${w.healthMedianMs.toFixed(0)}/${w.healthMaxMs.toFixed(0)} ms${w.markedDown.length ? `, MARKED DOWN ${w.markedDown.join('; ')}` : ''}${w.exited ? `, EXITED ${w.exited}` : ''}`).join('\n  ');

const freePort = () =>
  new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });

async function phase(startCluster, hosts, dir, fresh) {
  console.log(`\n## ${hosts} host${hosts > 1 ? 's' : ''}`);
  // As `npm run cluster` starts it (PostgreSQL, registry, hosts on 127.0.0.2…, the web origin), on free
  // ports. The second phase reuses the first one's directory (host 1's RETs, the database; new students).
  const cluster = await startCluster({ hosts, dir, fresh, port: await freePort(), hostPort: 0, webBind: '127.0.0.1', stdio: 'inherit', env: { REG_CLUSTER_ORIGIN_ONLY: '1', LOG_LEVEL: 'silent', MEMORY_SAMPLE_SECONDS: '0', IDLE_TIMEOUT_SECONDS: '0' } });
  const base = cluster.webUrl;
  const sockets = [];
  // Which host runs a container: the cluster's database (browsers never see host ids).
  // A pool: the watcher and the failover's students query at the same time.
  const sql = new pg.Pool({ connectionString: cluster.databaseUrl, max: 4 });
  const key = await loadRequestKey(cluster.secretFile);
  let watch;
  // Stopped at the end: a class left started is resumed by the next phase's hosts (same database),
  // which then prepare all its students again during that phase's rush and failover.
  let started;
  try {
    const teacher = (await call(base, 'POST', '/api/auth/sign-in', { body: { username: 'teacher', password: cluster.demo.password } })).body?.token;
    if (!teacher) throw new Error('teacher sign-in failed (demo password?)');
    const demo = (await call(base, 'GET', '/api/classes', { token: teacher })).body?.[0];
    const cls = await call(base, 'POST', '/api/classes', { token: teacher, body: { name: `Rush ${hosts}`, ret: demo?.environment?.ret ?? 'python@3.11', tools: demo?.environment?.tools ?? [] } });
    if (cls.status !== 201) throw new Error(`create class: ${cls.status} ${JSON.stringify(cls.body)}`);
    const classId = cls.body.id;
    if (PREPULL) {
      // Setup, not measured: every host gets the class environment's RETs (as a Start class's
      // pre-pull does), signed as the web origin signs what it forwards.
      const refs = [cls.body.environment?.ret ?? cls.body.ret, ...(cls.body.environment?.tools ?? cls.body.tools ?? [])].filter(Boolean);
      const t0 = performance.now();
      const per = await Promise.all(cluster.hosts.map(async (h) => {
        const res = await fetch(`${h.address}/api/cluster/prepull`, { method: 'POST', headers: { 'content-type': 'application/json', [CLUSTER_HEADER]: signRequest(key, 'POST', '/api/cluster/prepull') }, body: JSON.stringify({ refs }) });
        const body = await res.json().catch(() => null);
        if (res.status !== 200) throw new Error(`prepull on ${h.id}: ${res.status} ${JSON.stringify(body)}`);
        const failed = body.results.filter((r) => r.status === 'failed');
        if (failed.length) throw new Error(`prepull on ${h.id}: ${failed.map((r) => `${r.ref}: ${r.message}`).join('; ')}`);
        return `${h.id} ${body.results.map((r) => r.status).join('/')}`;
      }));
      console.log(`setup: pre-pulled ${refs.join(', ')} onto every host in ${((performance.now() - t0) / 1000).toFixed(1)} s (${per.join(', ')})`);
    }
    const csv = Array.from({ length: N }, (_, i) => `rush${hosts}h${String(i).padStart(4, '0')},Rush ${i},`).join('\n');
    const roster = await call(base, 'POST', `/api/classes/${classId}/roster`, { token: teacher, csv });
    if (roster.status !== 200) throw new Error(`roster: ${roster.status} ${JSON.stringify(roster.body)}`);
    const students = [];
    // Setup, not measured: a call the origin could not deliver (502/503) is tried again, and counted.
    let setupRetries = 0;
    const retried = async (f) => {
      for (let i = 0; ; i++) {
        const r = await f();
        if (![502, 503].includes(r.status) || i === 3) return r;
        setupRetries++;
        await sleep(500);
      }
    };
    await pool(roster.body.created, 4, async (c, i) => {
      const address = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
      const s = await retried(() => call(base, 'POST', '/api/auth/sign-in', { body: { username: c.username, password: c.password }, address }));
      if (s.status !== 200) throw new Error(`sign-in ${c.username}: ${s.status}`);
      const ch = await retried(() => call(base, 'POST', '/api/auth/password', { token: s.body.token, address, body: { newPassword: `Rush-${c.password}-x` } }));
      if (ch.status !== 200) throw new Error(`password ${c.username}: ${ch.status}`);
      students.push({ username: c.username, token: s.body.token, address });
    });

    if (setupRetries) console.log(`setup: ${setupRetries} sign-in/password calls answered 502/503 and were tried again`);
    const t = performance.now();
    if (!COLD) {
      const start = await call(base, 'POST', `/api/classes/${classId}/start`, { token: teacher });
      if (start.status !== 200) throw new Error(`start class: ${start.status} ${JSON.stringify(start.body)}`);
      started = { classId, teacher };
      for (;;) {
        const run = (await call(base, 'GET', `/api/classes/${classId}/run`, { token: teacher })).body;
        if (run?.status !== 'starting') break;
        await sleep(300);
      }
    }
    const startClassMs = COLD ? 0 : performance.now() - t;

    const loadBefore = load();
    watch = watchHosts(cluster, sql, key);
    const times = [];
    const reasons = {};
    const opened = new Map();
    const order = students.map((s, i) => ({ s, at: (i / students.length) * SPREAD_MS })).sort(() => Math.random() - 0.5);
    await Promise.all(order.map(async ({ s, at }) => {
      await sleep(at);
      try {
        const r = await openOne(base, classId, s, sockets);
        times.push(r.ms);
        opened.set(s.username, r);
      } catch (e) {
        reasons[e.message] = (reasons[e.message] ?? 0) + 1;
      }
    }));
    const where = (await sql.query('SELECT id, "hostId" FROM "Container" WHERE id = ANY($1)', [[...opened.values()].map((r) => r.id)])).rows;
    const hostOf = new Map(where.map((r) => [r.id, r.hostId]));
    for (const r of opened.values()) r.hostId = hostOf.get(r.id) ?? '?';
    const loadAfter = load();
    // Every host, with the ones that got nobody (placement's point is that none is left out).
    const spread = Object.fromEntries(cluster.hosts.map((h) => [h.id, 0]));
    for (const r of opened.values()) spread[r.hostId] = (spread[r.hostId] ?? 0) + 1;
    const failures = N - times.length;
    const hostHealth = await watch.stop();
    const lost = Object.entries(hostHealth).filter(([, w]) => w.markedDown.length || w.exited).map(([id]) => id);
    const result = { hosts, n: N, ok: times.length, failures, reasons, medianMs: pct(times, 50), p99Ms: pct(times, 99), spread, startClassMs, load: `${loadBefore} → ${loadAfter}`, hostHealth, lost };
    console.log(`${COLD ? 'cold (no Start class)' : `Start class: ${(startClassMs / 1000).toFixed(1)} s`}; rush: ${times.length}/${N} prompts, open-to-prompt median ${result.medianMs.toFixed(0)} ms, p99 ${result.p99Ms.toFixed(0)} ms; failures ${failures} ${failures ? JSON.stringify(reasons) : ''}; load average ${result.load}`);
    console.log(`placement: ${JSON.stringify(spread)}`);
    console.log(`hosts during the rush:\n  ${describeHosts(hostHealth)}`);

    // A host that died or was marked down in the rush leaves nothing to measure a failover against.
    if (hosts > 1 && lost.length) result.failover = { error: `not measured: ${lost.join(', ')} went down or exited during the rush` };
    else if (hosts > 1) result.failover = await failover(cluster, base, classId, students, opened, sockets, sql);
    if (result.failover?.error) console.log(`host death: ${result.failover.error}`);
    return result;
  } finally {
    for (const s of sockets) s.close();
    await watch?.stop().catch(() => {});
    if (started) {
      const stop = await call(base, 'POST', `/api/classes/${started.classId}/stop`, { token: started.teacher }).catch((e) => ({ status: e.message }));
      if (stop.status !== 200) console.log(`stop class: ${stop.status} ${JSON.stringify(stop.body ?? '')} (the next phase may resume it)`);
    }
    await sql.end().catch(() => {});
    await cluster.stop();
  }
}

/** Kills the host with the most terminals; each of its students reopens until a prompt appears elsewhere. */
async function failover(cluster, base, classId, students, opened, sockets, sql) {
  const counts = {};
  for (const r of opened.values()) counts[r.hostId] = (counts[r.hostId] ?? 0) + 1;
  const [victim] = Object.entries(counts).sort((a, b) => b[1] - a[1])[0] ?? [];
  const index = cluster.hosts.findIndex((h) => h.id === victim);
  if (index < 0) return { error: `no host id ${victim} among ${cluster.hosts.map((h) => h.id)}` };
  const proc = cluster.hosts[index].process;
  if (proc.exitCode !== null || proc.signalCode !== null) return { error: `${victim} had already exited (${proc.signalCode ?? proc.exitCode})` };
  const theirs = students.filter((s) => opened.get(s.username)?.hostId === victim);
  console.log(`killing ${victim} (${theirs.length} students)`);
  const killed = performance.now();
  await cluster.kill(index);
  const back = [];
  const stuck = {};
  await Promise.all(theirs.map(async (s) => {
    // As the page does: the socket drops; the student presses Open terminal again until it works.
    for (;;) {
      if (performance.now() - killed > REOPEN_TIMEOUT_MS) return void (stuck.timeout = (stuck.timeout ?? 0) + 1);
      try {
        const r = await openOne(base, classId, s, sockets);
        r.hostId = (await sql.query('SELECT "hostId" FROM "Container" WHERE id = $1', [r.id])).rows[0]?.hostId;
        if (r.hostId === victim) throw new Error('placed on the dead host');
        back.push(performance.now() - killed);
        return;
      } catch (e) {
        stuck[e.message] = (stuck[e.message] ?? 0) + 1;
        await sleep(500);
      }
    }
  }));
  const out = { load: load(), students: theirs.length, back: back.length, medianMs: pct(back, 50), lastMs: Math.max(...back), retriesByReason: stuck };
  console.log(`host death → prompts elsewhere: ${back.length}/${theirs.length} students, median ${(out.medianMs / 1000).toFixed(1)} s, last ${(out.lastMs / 1000).toFixed(1)} s; retries ${JSON.stringify(stuck)}; load average ${out.load}`);
  return out;
}

async function main() {
  if (process.getuid?.() !== 0) throw new Error('run as root (containers)');
  const { startCluster } = await import('../scripts/cluster.mjs');
  const dir = await mkdtemp(join(tmpdir(), 'reg-bench-cluster-'));
  let one;
  let many;
  try {
    one = await phase(startCluster, 1, dir, true);
    many = await phase(startCluster, HOSTS, dir, false);
  } finally {
    await removeHome(dir);
  }
  console.log(`\n${COLD ? `cold (no Start class${PREPULL ? '; RETs pre-pulled onto every host' : '; hosts 2… pull on first open'})` : 'after Start class'}, ${new Date().toISOString()}`);
  console.log('\n| hosts | N | failures | open-to-prompt median | p99 | placement | Start class | load average (1/5/15 min, before → after the rush) | hosts lost in the rush | host death → prompts elsewhere (median / last) |');
  console.log('|---|---|---|---|---|---|---|---|---|---|');
  for (const r of [one, many]) {
    const f = r.failover && !r.failover.error ? `${(r.failover.medianMs / 1000).toFixed(1)} s / ${(r.failover.lastMs / 1000).toFixed(1)} s (${r.failover.back}/${r.failover.students})` : r.failover?.error ?? '–';
    const placement = Object.entries(r.spread).map(([h, k]) => `${h} ${k}`).join(', ');
    console.log(`| ${r.hosts} | ${r.n} | ${r.failures}${r.failures ? ` ${JSON.stringify(r.reasons)}` : ''} | ${r.medianMs.toFixed(0)} ms | ${r.p99Ms.toFixed(0)} ms | ${placement} | ${COLD ? '–' : `${(r.startClassMs / 1000).toFixed(1)} s`} | ${r.load} | ${r.lost.length ? r.lost.map((id) => `${id}${r.hostHealth[id].exited ? ' (exited)' : ' (marked down)'}`).join(', ') : 'none'} | ${f} |`);
  }
  console.log(`\nratio (${HOSTS} hosts / 1 host): median ×${(many.medianMs / one.medianMs).toFixed(2)}, p99 ×${(many.p99Ms / one.p99Ms).toFixed(2)} (same run, shared noisy machine)`);
}

main().catch((e) => {
  console.error(`bench/cluster: ${e.message}`);
  process.exitCode = 1;
});
