#!/usr/bin/env node
// Terminal benchmark, Reg vs a bare node-pty shell in the same run (same machine, same socket.io
// transport, same python3 REPL; the bare one has no container):
//   open → first prompt (median, p99), keystroke echo round trip with 1 terminal and with 200
//   (a closed loop that saturates, and a class typing 10 keys/s each), median and p99; 300
//   terminals opened at once (time until all prompts, failures).
// Needs root and the build (npm run build). Usage: node bench/terminals.mjs [--quick]
// `node bench/terminals.mjs --pool [--n 40] [--rush 200|--no-rush]` instead compares a host with
// warm terminals (parked launchers under ptys, held by Start class) against one without, in one
// run (bench/terminals-pool.mjs).
import { createServer } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as pty from 'node-pty';
import { Server } from 'socket.io';
import { io } from 'socket.io-client';
import { ensureRets, startStack } from '../scripts/stack.mjs';

if (process.argv.includes('--pool')) {
  await import('./terminals-pool.mjs');
  process.exit(0);
}

const quick = process.argv.includes('--quick');
const N_OPEN = quick ? 10 : 40;
const N_ECHO = quick ? 20 : 50;
const CONCURRENT = quick ? 50 : 200;
const BURST = quick ? 60 : 300;
const PASSWORD = 'bench-password';

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] : NaN;
};
const fmt = (xs) => `median ${pct(xs, 50).toFixed(1)} ms, p99 ${pct(xs, 99).toFixed(1)} ms (n=${xs.length})`;
const now = () => performance.now();

/** A terminal client: resolves waits on output patterns, acks like a browser. */
function client(url) {
  const s = io(url, { transports: ['websocket'], forceNew: true });
  let text = '';
  const waiters = [];
  const take = (d) => {
    text = (text + d).slice(-4096);
    s.emit('ack', Math.max(1, d.length));
    for (const w of [...waiters]) if (w.re.test(text)) (waiters.splice(waiters.indexOf(w), 1), w.resolve());
  };
  s.on('output', take);
  s.on('screen', take);
  return {
    s,
    clear: () => (text = ''),
    waitFor: (re, ms = 30_000) =>
      new Promise((resolve, reject) => {
        if (re.test(text)) return resolve();
        const w = { re, resolve };
        waiters.push(w);
        setTimeout(() => reject(new Error(`timeout waiting for ${re}`)), ms).unref();
      }),
  };
}

/** The baseline: socket.io + node-pty + python3, no container, no auth, no headless terminal. */
async function bareServer() {
  const http = createServer();
  const srv = new Server(http);
  srv.of('/terminals').on('connection', (sock) => {
    let p;
    sock.on('attach', (_req, reply) => {
      p = pty.spawn('/usr/bin/python3', [], { name: 'xterm-256color', cols: 80, rows: 24, cwd: '/tmp', env: { TERM: 'xterm-256color', PATH: '/usr/bin:/bin' } });
      p.onData((d) => sock.emit('output', d));
      reply?.({ ok: true });
    });
    sock.on('input', (d) => p?.write(d));
    sock.on('ack', () => {});
    sock.on('disconnect', () => p?.kill('SIGKILL'));
  });
  await new Promise((r) => http.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${http.address().port}/terminals`, close: () => new Promise((r) => srv.close(() => r())) };
}

async function main() {
  if (process.getuid?.() !== 0) throw new Error('run as root (containers)');
  const home = await mkdtemp(join(tmpdir(), 'reg-bench-'));
  const clients = [];
  let stack;
  let bare;
  try {
    await ensureRets(home);
    stack = await startStack({ regHome: home, hostPort: 0, web: false, env: { REG_DEMO_PASSWORD: PASSWORD, LOG_LEVEL: 'silent', MEMORY_SAMPLE_SECONDS: '0' } });
    bare = await bareServer();
    const sign = await (await fetch(`${stack.hostUrl}/api/auth/sign-in`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'student1', password: PASSWORD }) })).json();
    const H = { authorization: `Bearer ${sign.token}`, 'content-type': 'application/json' };

    const reg = {
      name: 'Reg (container)',
      async open() {
        const c = client(`${stack.hostUrl}/terminals`);
        clients.push(c);
        const t0 = now();
        const created = await (await fetch(`${stack.hostUrl}/api/containers`, { method: 'POST', headers: H, body: JSON.stringify({ ret: 'python@3.11' }) })).json();
        if (!created.id) throw new Error(JSON.stringify(created));
        const { token } = await (await fetch(`${stack.hostUrl}/api/containers/${created.id}/terminal-token`, { method: 'POST', headers: H })).json();
        const r = await c.s.emitWithAck('attach', { containerId: created.id, token, cols: 80, rows: 24 });
        if (!r.ok) throw new Error(r.error.message);
        await c.waitFor(/>>> $/);
        return { c, ms: now() - t0, close: () => fetch(`${stack.hostUrl}/api/containers/${created.id}`, { method: 'DELETE', headers: H }).then(() => c.s.close()) };
      },
    };
    const baseline = {
      name: 'bare node-pty',
      async open() {
        const c = client(bare.url);
        clients.push(c);
        const t0 = now();
        await c.s.emitWithAck('attach', {});
        await c.waitFor(/>>> $/);
        return { c, ms: now() - t0, close: async () => c.s.close() };
      },
    };

    const echo = async (t, n) => {
      const out = [];
      for (let i = 0; i < n; i++) {
        t.c.clear();
        const t0 = now();
        t.c.s.emit('input', 'a');
        await t.c.waitFor(/a$/);
        out.push(now() - t0);
        t.c.clear();
        t.c.s.emit('input', '\x7f');
        await t.c.waitFor(/\x08\x1b\[K$|\x08 \x08$|\x1b\[K$/).catch(() => {});
      }
      return out;
    };

    // A class typing: every terminal types one key every 100 ms (a fast typist), phases spread at
    // random — the load a lab of students makes, unlike the closed loop above, which saturates.
    const echoPaced = async (t, n, everyMs = 100) => {
      const out = [];
      await new Promise((r) => setTimeout(r, Math.random() * everyMs));
      for (let i = 0; i < n; i++) {
        const tick = now();
        out.push(...(await echo(t, 1)));
        const rest = everyMs - (now() - tick);
        if (rest > 0) await new Promise((r) => setTimeout(r, rest));
      }
      return out;
    };

    const rows = [];
    for (const kind of [baseline, reg]) {
      const opens = [];
      for (let i = 0; i < N_OPEN; i++) {
        const t = await kind.open();
        opens.push(t.ms);
        await t.close();
      }
      const one = await kind.open();
      const echo1 = await echo(one, N_ECHO * 2);
      await one.close();
      const many = [];
      for (let i = 0; i < CONCURRENT; i++) many.push(await kind.open());
      const echoMany = (await Promise.all(many.map((t) => echo(t, Math.ceil(N_ECHO / 5))))).flat();
      const echoPacedMany = (await Promise.all(many.map((t) => echoPaced(t, 20)))).flat();
      await Promise.all(many.map((t) => t.close()));
      await new Promise((r) => setTimeout(r, 1000));
      const t0 = now();
      const burst = await Promise.allSettled(Array.from({ length: BURST }, () => kind.open()));
      const allMs = now() - t0;
      const failures = burst.filter((b) => b.status === 'rejected');
      await Promise.all(burst.filter((b) => b.status === 'fulfilled').map((b) => b.value.close()));
      rows.push({ name: kind.name, open: fmt(opens), echo1: fmt(echo1), echoMany: fmt(echoMany), echoPaced: fmt(echoPacedMany), burst: `${BURST} opened, all prompts in ${(allMs / 1000).toFixed(2)} s, ${failures.length} failures${failures.length ? ` (${failures[0].reason?.message})` : ''}` });
      console.error(`bench: ${kind.name} done`);
      await new Promise((r) => setTimeout(r, 2000));
    }
    console.log(`\n| | open → first prompt | echo, 1 terminal | echo, ${CONCURRENT} terminals (closed loop) | echo, ${CONCURRENT} terminals typing 10 keys/s | ${BURST} at once |\n|---|---|---|---|---|---|`);
    for (const r of rows) console.log(`| ${r.name} | ${r.open} | ${r.echo1} | ${r.echoMany} | ${r.echoPaced} | ${r.burst} |`);
  } finally {
    for (const c of clients) c.s.close();
    await bare?.close();
    await stack?.stop();
    await rm(home, { recursive: true, force: true });
  }
}

await main();
process.exit(0);
