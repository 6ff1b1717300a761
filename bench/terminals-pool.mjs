#!/usr/bin/env node
// Warm terminal pool vs no pool, in one run: two hosts side by side (each its own REG_HOME with
// python and bash RETs built from this machine), one with the terminal pool (parked launchers
// under ptys, held per student by Start class) and one with TERMINAL_POOL_MAX=0 (every open forks
// its pty and starts its launcher cold, as before). Opens alternate between the two hosts so the
// shared machine's noise falls on both. Measured over the browser-facing path (HTTP + socket.io):
//   1. a class terminal after Start class: click (POST /api/classes/:id/terminals) → terminal
//      token → attach → the first byte of the shell's prompt; one student at a time;
//   2. an ad-hoc python terminal (POST /api/containers {terminal}, which generates the container
//      in the path) → the REPL's `>>> `; one at a time;
//   3. the rush (--rush N, default 200): N students of a started class click within 10 s.
// Usage: node bench/terminals-pool.mjs [--n 40] [--rush 200] [--no-rush] [--rush-only]
// (also `node bench/terminals.mjs --pool …`). Needs root and the build.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildFromHost, regHome } from '@reg/core';
import { io } from 'socket.io-client';
import { removeHome, startStack } from '../scripts/stack.mjs';

const arg = (name, def) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
};
const N = arg('--n', 40);
const RUSH = process.argv.includes('--no-rush') ? 0 : arg('--rush', 200);
const RUSH_ONLY = process.argv.includes('--rush-only');
const SPREAD_MS = 10_000;
const PASSWORD = 'bench-pool-password';

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] : NaN;
};
const fmt = (xs) => `median ${pct(xs, 50).toFixed(1)} ms, p99 ${pct(xs, 99).toFixed(1)} ms (n=${xs.length})`;
const now = () => performance.now();

async function call(base, method, path, { token, body, raw, address } = {}) {
  const headers = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (address) headers['x-forwarded-for'] = address;
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (raw !== undefined) headers['content-type'] = 'text/csv';
  const res = await fetch(`${base}${path}`, { method, headers, ...(body !== undefined && { body: JSON.stringify(body) }), ...(raw !== undefined && { body: raw }) });
  return { status: res.status, body: await res.json().catch(() => null) };
}

async function forEachLimit(items, n, fn) {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i], i);
    }
  }));
}

/** Click → token → attach → prompt; resolves { ms, close }. */
async function openTerminal(base, student, create, prompt) {
  const t0 = now();
  const created = await create();
  const tCreated = now();
  if (created.status !== 201) throw new Error(`open ${created.status} ${created.body?.error?.code ?? ''} ${created.body?.error?.message ?? ''}`);
  const id = created.body.id;
  const tok = await call(base, 'POST', `/api/containers/${id}/terminal-token`, { token: student.token, address: student.address });
  if (tok.status !== 200) throw new Error(`token ${tok.status}`);
  const tToken = now();
  let tAttached = 0;
  const sock = io(`${base}/terminals`, { transports: ['websocket'], forceNew: true, reconnection: false });
  let text = '';
  const ms = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no prompt')), 120_000);
    const take = (d) => {
      text = (text + d).slice(-512);
      sock.emit('ack', Math.max(1, d.length));
      if (prompt.test(text)) {
        clearTimeout(timer);
        resolve(now() - t0);
      }
    };
    sock.on('output', take);
    sock.on('screen', take);
    sock.on('connect_error', (e) => (clearTimeout(timer), reject(new Error(`socket ${e.message}`))));
    sock.on('connect', () => {
      sock.emit('attach', { containerId: id, token: tok.body.token, cols: 80, rows: 24 }, (r) => {
        tAttached = now();
        if (!r?.ok) (clearTimeout(timer), reject(new Error(`attach ${r?.error?.code ?? 'refused'}`)));
      });
    });
  });
  return {
    ms,
    phases: { open: tCreated - t0, token: tToken - tCreated, attach: tAttached - tToken, prompt: t0 + ms - tAttached },
    close: async () => {
      await call(base, 'DELETE', `/api/containers/${id}`, { token: student.token, address: student.address });
      sock.close();
    },
  };
}

/** A host with python + bash RETs, a class with `n` students signed in. */
async function setUp(label, env, n) {
  const home = await mkdtemp(join(tmpdir(), `reg-bench-pool-${label}-`));
  await buildFromHost(regHome(home), '/usr/bin/python3.11');
  await buildFromHost(regHome(home), '/usr/bin/bash');
  const stack = await startStack({ regHome: home, web: false, port: 0, hostPort: 0, env: { REG_DEMO_PASSWORD: PASSWORD, LOG_LEVEL: 'silent', MEMORY_SAMPLE_SECONDS: '0', IDLE_TIMEOUT_SECONDS: '0', ...env } });
  const base = stack.hostUrl;
  const teacher = (await call(base, 'POST', '/api/auth/sign-in', { body: { username: 'teacher', password: PASSWORD } })).body.token;
  const classes = [];
  const students = [];
  const mkClass = async (name) => {
    const r = await call(base, 'POST', '/api/classes', { token: teacher, body: { name, ret: 'python@3.11', tools: ['bash'] } });
    if (r.status !== 201) throw new Error(`create class: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body.id;
  };
  const csv = Array.from({ length: n }, (_, i) => `pool${String(i).padStart(4, '0')},Pool ${i},`).join('\n');
  const cls = await mkClass(`Pool bench ${label}`);
  const imported = await call(base, 'POST', `/api/classes/${cls}/roster`, { token: teacher, raw: csv });
  if (imported.status !== 200) throw new Error(`roster: ${imported.status} ${JSON.stringify(imported.body)}`);
  await forEachLimit(imported.body.created, 8, async (c, i) => {
    const address = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
    const s = await call(base, 'POST', '/api/auth/sign-in', { body: { username: c.username, password: c.password }, address });
    if (s.status !== 200) throw new Error(`sign-in ${c.username}: ${s.status}`);
    const ch = await call(base, 'POST', '/api/auth/password', { token: s.body.token, address, body: { newPassword: `Pool-${c.password}-x` } });
    if (ch.status !== 200) throw new Error(`password ${c.username}: ${ch.status}`);
    students[i] = { username: c.username, token: s.body.token, address };
  });
  classes.push(cls);
  return {
    label,
    base,
    pid: stack.host.pid,
    teacher,
    classId: cls,
    students,
    async startClass() {
      const t = now();
      const r = await call(base, 'POST', `/api/classes/${cls}/start`, { token: teacher });
      if (r.status !== 200) throw new Error(`start class: ${r.status} ${JSON.stringify(r.body)}`);
      for (;;) {
        const run = (await call(base, 'GET', `/api/classes/${cls}/run`, { token: teacher })).body;
        if (run?.status !== 'starting') {
          if (run?.failed) console.error(`bench: ${label}: start class: ${run.failed} failed, e.g. ${run.failures[0]?.message}`);
          break;
        }
        await new Promise((r) => setTimeout(r, 200));
      }
      return now() - t;
    },
    stopClass: () => call(base, 'POST', `/api/classes/${cls}/stop`, { token: teacher }),
    openClass: (s) => openTerminal(base, s, () => call(base, 'POST', `/api/classes/${cls}/terminals`, { token: s.token, address: s.address }), /\$ $/),
    openPython: (s) => openTerminal(base, s, () => call(base, 'POST', '/api/containers', { token: s.token, address: s.address, body: { ret: 'python@3.11', terminal: true } }), />>> $/),
    async stop() {
      await stack.stop();
      await removeHome(home);
    },
  };
}

async function rush(h) {
  const startMs = await h.startClass();
  // The pool fills in the background after Start class answers; students come minutes later in a
  // real class: give it the time a class would (bounded), so the rush measures warm members.
  await new Promise((r) => setTimeout(r, Math.min(20_000, 50 * h.students.length)));
  const times = [];
  const reasons = {};
  const closes = [];
  const order = h.students.map((s, i) => ({ s, at: (i / h.students.length) * SPREAD_MS })).sort(() => Math.random() - 0.5);
  const t0 = now();
  await Promise.all(order.map(async ({ s, at }) => {
    await new Promise((r) => setTimeout(r, at));
    try {
      const t = await h.openClass(s);
      times.push(t.ms);
      closes.push(t.close);
    } catch (e) {
      reasons[e.message] = (reasons[e.message] ?? 0) + 1;
    }
  }));
  const allMs = now() - t0;
  await h.stopClass();
  for (const c of closes) await c().catch(() => {});
  const failures = Object.values(reasons).reduce((a, b) => a + b, 0);
  return `${fmt(times)}; ${failures} failures${failures ? ` ${JSON.stringify(reasons)}` : ''}; all prompts ${(allMs / 1000).toFixed(1)} s after the first click; Start class ${(startMs / 1000).toFixed(1)} s`;
}

async function main() {
  if (process.getuid?.() !== 0) throw new Error('run as root (containers)');
  const n = Math.max(RUSH, N);
  let warm;
  let cold;
  try {
    console.error(`bench: two hosts, ${n} students each`);
    [warm, cold] = [await setUp('pool', {}, n), await setUp('nopool', { TERMINAL_POOL_MAX: '0' }, n)];
    const rows = [];
    if (!RUSH_ONLY) {
      // 1. Class terminals after Start class, one student at a time, alternating hosts.
      await Promise.all([warm.startClass(), cold.startClass()]);
      await new Promise((r) => setTimeout(r, 3000));
      const cls = { pool: [], nopool: [] };
      const phases = { pool: [], nopool: [] };
      for (let i = 0; i < N; i++) {
        for (const h of i % 2 ? [cold, warm] : [warm, cold]) {
          const t = await h.openClass(h.students[i]);
          cls[h.label].push(t.ms);
          phases[h.label].push(t.phases);
          await t.close();
        }
      }
      await Promise.all([warm.stopClass(), cold.stopClass()]);
      // 2. Ad-hoc python terminals (generate in the path), alternating.
      const adhoc = { pool: [], nopool: [] };
      for (let i = 0; i < N; i++) {
        for (const h of i % 2 ? [cold, warm] : [warm, cold]) {
          const t = await h.openPython(h.students[i]);
          adhoc[h.label].push(t.ms);
          await t.close();
        }
      }
      const ph = (label) => ['open', 'token', 'attach', 'prompt'].map((k) => `${k} ${pct(phases[label].map((x) => x[k]), 50).toFixed(1)}`).join(', ');
      console.log(`phases (medians, ms): pool: ${ph('pool')}; no pool: ${ph('nopool')}`);
      rows.push(['class terminal after Start class: click → bash prompt, one at a time', fmt(cls.pool), fmt(cls.nopool), (pct(cls.nopool, 50) / pct(cls.pool, 50)).toFixed(2)]);
      rows.push(['ad-hoc python terminal (generate in the path): click → `>>> `, one at a time', fmt(adhoc.pool), fmt(adhoc.nopool), (pct(adhoc.nopool, 50) / pct(adhoc.pool, 50)).toFixed(2)]);
    }
    if (RUSH) {
      console.error(`bench: rush of ${RUSH} on the pool host`);
      warm.students.splice(RUSH);
      cold.students.splice(RUSH);
      const w = await rush(warm);
      console.error(`bench: rush of ${RUSH} on the no-pool host`);
      const c = await rush(cold);
      rows.push([`rush: ${RUSH} students of a started class click within ${SPREAD_MS / 1000} s`, w, c, '']);
    }
    console.log(`\n| | warm pool | no pool | no pool / pool (median) |\n| --- | --- | --- | --- |`);
    for (const r of rows) console.log(`| ${r.join(' | ')} |`);
  } finally {
    await warm?.stop();
    await cold?.stop();
  }
}

await main();
process.exit(0);
