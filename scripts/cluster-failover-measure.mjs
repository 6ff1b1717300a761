#!/usr/bin/env node
// Measures the time from a sandbox host's death to its students having prompts on another host.
// A cluster of 2 hosts (scripts/cluster.mjs, no web app); N students of one class open terminals
// on host 1 (requests carry the cluster header, so host 1 serves them itself), each writes a file;
// host 1 is SIGKILLed; every student reopens at once (asking host 2, as the web origin would) and
// we time until each has a Python prompt and reads their file back. Reports detection time (kill →
// marked down) and kill → prompt median / max. The machine is shared: a ratio to the heartbeat
// window is the meaningful figure, not the absolute times.
//
// Usage: node scripts/cluster-failover-measure.mjs [--students 8] [--heartbeat 1] [--dir DIR]
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { io } from 'socket.io-client';
import { startCluster } from './cluster.mjs';

const a = parseArgs({ options: { students: { type: 'string', default: '8' }, heartbeat: { type: 'string', default: '1' }, dir: { type: 'string' } } }).values;
const N = Number(a.students);
const HB = Number(a.heartbeat);
// No web app: this script plays the origin, so the hosts take direct requests.
const cluster = await startCluster({ hosts: 2, dir: a.dir, hostPort: 0, web: false, heartbeatSeconds: HB, env: { REG_CLUSTER_ORIGIN_ONLY: '0' }, log: (m) => console.error(`cluster: ${m}`) });
const [h1, h2] = cluster.hosts;
const key = createHmac('sha256', Buffer.from(readFileSync(cluster.secretFile, 'utf8').trim(), 'hex')).update('reg-cluster:requests').digest();
const sign = (method, path) => {
  const at = Date.now();
  return `measure.${at}.${createHmac('sha256', key).update(`measure\n${at}\n${method}\n${path}`).digest('hex')}`;
};
const call = async (base, method, path, { token, body, cluster: signed } = {}) => {
  const res = await fetch(base + path, { method, headers: { ...(token && { authorization: `Bearer ${token}` }), ...(body && { 'content-type': 'application/json' }), ...(signed && { 'x-reg-cluster': sign(method, path) }) }, ...(body && { body: JSON.stringify(body) }) });
  const json = await res.json().catch(() => null);
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
};
const signIn = async (base, username, password) => (await call(base, 'POST', '/api/auth/sign-in', { body: { username, password } })).token;

async function terminal(base, token, id, script, until) {
  const sock = io(`${base}/terminals`, { transports: ['websocket'], forceNew: true });
  let text = '';
  sock.on('output', (d) => ((text += d), sock.emit('ack', Math.max(1, d.length))));
  sock.on('screen', (d) => ((text = d), sock.emit('ack', Math.max(1, d.length))));
  const { token: t } = await call(base, 'POST', `/api/containers/${id}/terminal-token`, { token });
  const r = await sock.emitWithAck('attach', { containerId: id, token: t, cols: 100, rows: 30 });
  if (!r.ok) throw new Error(`attach ${id}: ${JSON.stringify(r)}`);
  const wait = async (re) => {
    const deadline = Date.now() + 120_000;
    while (!re.test(text)) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${re} in ${JSON.stringify(text.slice(-200))}`);
      await new Promise((res) => setTimeout(res, 10));
    }
  };
  await wait(/>>> $|\$ $/);
  const promptAt = Date.now();
  sock.emit('input', script + '\r');
  await wait(until);
  return { sock, promptAt };
}

try {
  const pw = cluster.demo.password;
  const teacher = await signIn(h1.address, 'teacher', pw);
  const cls = await call(h1.address, 'POST', '/api/classes', { token: teacher, body: { name: `Failover ${Date.now()}`, ret: 'python@3.11' } });
  // Students: made by the roster import (passwords in the reply).
  const roster = Array.from({ length: N }, (_, i) => `fm${Date.now().toString(36)}${i}`);
  const imported = await fetch(`${h1.address}/api/classes/${cls.id}/roster`, { method: 'POST', headers: { authorization: `Bearer ${teacher}`, 'content-type': 'text/csv' }, body: roster.join('\n') }).then((r) => r.json());
  const students = [];
  for (const c of imported.created) {
    let token = await signIn(h1.address, c.username, c.password);
    const np = `pw-${c.username}-measure`;
    await call(h1.address, 'POST', '/api/auth/password', { token, body: { newPassword: np } });
    token = await signIn(h1.address, c.username, np);
    students.push({ username: c.username, token });
  }
  // Host 2 gets the class environment ahead (as a class start's pre-pull would).
  const pre = await call(h2.address, 'POST', '/api/cluster/prepull', { body: { refs: ['python@3.11'] }, cluster: true });
  console.error(`host-2 pre-pull: ${JSON.stringify(pre.results.map((r) => `${r.ref}:${r.status}`))}`);
  const path = `/api/classes/${cls.id}/terminals`;
  const before = [];
  for (const s of students) {
    const v = await call(h1.address, 'POST', path, { token: s.token, cluster: true });
    const t = await terminal(h1.address, s.token, v.id, `open('mine.txt','w').write('${s.username}')*0+42`, /\b42\b/);
    before.push(t.sock);
  }
  console.error(`${N} students on host-1; killing it`);
  const killedAt = Date.now();
  await cluster.kill(0);
  // Students reopen as soon as they are told (poll the way a browser would retry).
  let downAt;
  const results = await Promise.all(
    students.map(async (s) => {
      for (;;) {
        try {
          const v = await call(h2.address, 'POST', path, { token: s.token });
          downAt ??= Date.now();
          const t = await terminal(h2.address, s.token, v.id, `print(open('mine.txt').read().upper())`, new RegExp(s.username.toUpperCase()));
          t.sock.close();
          return t.promptAt - killedAt;
        } catch (e) {
          if (!/409|503|502|CONFLICT|NO_HOST|fetch failed/.test(String(e))) throw e;
          await new Promise((r) => setTimeout(r, 200));
        }
      }
    }),
  );
  for (const s of before) s.close();
  results.sort((x, y) => x - y);
  const med = results[Math.floor(results.length / 2)];
  console.log(JSON.stringify({ students: N, heartbeatSeconds: HB, downWindowSeconds: 3 * HB, firstReopenAcceptedMs: downAt - killedAt, promptMedianMs: med, promptMaxMs: results.at(-1), ratioMedianToWindow: +(med / (3000 * HB)).toFixed(2), note: 'shared 2-core machine, noisy' }));
} finally {
  await cluster.stop();
}
