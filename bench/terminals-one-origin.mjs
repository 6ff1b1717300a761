#!/usr/bin/env node
// What the one origin costs: terminal open → first prompt and keystroke echo, through the web
// app's server (apps/web/server.mjs forwards /api and the /socket.io/ websocket to the host) and
// straight to the host, alternating in the same run (same stack, same python RET, the method of
// bench/terminals.mjs). Needs root, the build (npm run build) and the built web app.
// Usage: node bench/terminals-one-origin.mjs [N=20]
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { io } from 'socket.io-client';
import { buildFromHost, regHome } from '@reg/core';
import { startStack } from '../scripts/stack.mjs';

const N = Number(process.argv[2] ?? 20);
const ECHO = 20;
const PASSWORD = 'bench-password';
const now = () => performance.now();
const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] : NaN;
};
const fmt = (xs) => `median ${pct(xs, 50).toFixed(1)} ms, p99 ${pct(xs, 99).toFixed(1)} ms (n=${xs.length})`;

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

function client(url, headers) {
  const s = io(url, { transports: ['websocket'], forceNew: true, extraHeaders: headers });
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
        waiters.push({ re, resolve });
        setTimeout(() => reject(new Error(`timeout waiting for ${re}`)), ms).unref();
      }),
  };
}

const home = await mkdtemp(join(tmpdir(), 'reg-bench-origin-'));
let stack;
try {
  await buildFromHost(regHome(home), '/usr/bin/python3.11');
  stack = await startStack({ regHome: home, port: await freePort(), hostPort: await freePort(), env: { REG_DEMO_PASSWORD: PASSWORD, LOG_LEVEL: 'silent', MEMORY_SAMPLE_SECONDS: '0' }, webBind: '127.0.0.1' });
  const webUrl = stack.webUrl.replace('localhost', '127.0.0.1');
  const sign = await (await fetch(`${stack.hostUrl}/api/auth/sign-in`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'student1', password: PASSWORD }) })).json();
  const H = { authorization: `Bearer ${sign.token}`, 'content-type': 'application/json' };

  async function open(base) {
    const c = client(`${base}/terminals`, { authorization: H.authorization });
    const t0 = now();
    const created = await (await fetch(`${base}/api/containers`, { method: 'POST', headers: H, body: JSON.stringify({ ret: 'python@3.11' }) })).json();
    if (!created.id) throw new Error(JSON.stringify(created));
    const { token } = await (await fetch(`${base}/api/containers/${created.id}/terminal-token`, { method: 'POST', headers: H })).json();
    const r = await c.s.emitWithAck('attach', { containerId: created.id, token, cols: 80, rows: 24 });
    if (!r.ok) throw new Error(r.error.message);
    await c.waitFor(/>>> $/);
    const ms = now() - t0;
    const echoes = [];
    for (let i = 0; i < ECHO; i++) {
      c.clear();
      const e0 = now();
      c.s.emit('input', 'a');
      await c.waitFor(/a$/);
      echoes.push(now() - e0);
      c.clear();
      c.s.emit('input', '\x7f');
      await c.waitFor(/\x08\x1b\[K$|\x08 \x08$|\x1b\[K$/).catch(() => {});
    }
    await fetch(`${base}/api/containers/${created.id}`, { method: 'DELETE', headers: H });
    c.s.close();
    return { ms, echoes };
  }

  const via = { 'through the web origin (proxy)': { base: webUrl, open: [], echo: [] }, 'direct to the host': { base: stack.hostUrl, open: [], echo: [] } };
  await open(webUrl); // warm both paths (Next's first request, the RET's page cache)
  await open(stack.hostUrl);
  for (let i = 0; i < N; i++) {
    for (const v of Object.values(via)) {
      const r = await open(v.base);
      v.open.push(r.ms);
      v.echo.push(...r.echoes);
    }
  }
  for (const [name, v] of Object.entries(via)) {
    console.log(`${name}:\n  open → prompt ${fmt(v.open)}\n  keystroke echo ${fmt(v.echo)}`);
  }
} finally {
  await stack?.stop();
  await rm(home, { recursive: true, force: true });
}
