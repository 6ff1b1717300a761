// The class-start rush: N students (300 by default with --only rush, 1000 in the full run) open
// terminals in one class within 10 s of each other, through the real host (a child process, as
// `npm start` runs it) over HTTP and socket.io, the way browsers do: POST
// /api/classes/:id/terminals, a terminal token, attach, wait for the shell's prompt. Measured
// twice in one run: after "Start class" (every student prepared ahead of time) and cold (a second
// class nobody started: workspaces and containers are made on demand). Reported: open-to-prompt
// median and p99, failures (with their reasons), the host's RSS and the machine's used memory.
//
// Sign-ins happen before the rush (each student from their own X-Forwarded-For address, as a
// classroom of machines would), and roster accounts replace their initial password first: the
// measured window is only "click Open terminal → prompt".

import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildFromHost, regHome } from '@reg/core';
import { io, type Socket } from 'socket.io-client';
import type { BenchContext } from '../context.js';
import { readMemInfo } from '../host.js';
import { percentile } from '../stats.js';

// @ts-expect-error: a plain .mjs module without types
import { startStack } from '../../../scripts/stack.mjs';

const PASSWORD = 'bench-rush-password';
const SPREAD_MS = 10_000;
const PROMPT_TIMEOUT_MS = 120_000;

export interface RushPhase {
  label: 'started' | 'cold';
  n: number;
  ok: number;
  failures: number;
  failureReasons: Record<string, number>;
  openToPromptMs: { median: number; p99: number; max: number };
  /** Wall time from the first click to the last prompt. */
  allPromptsMs: number;
  /** Start class until every student was prepared (started phase only). */
  startClassMs?: number;
  hostRssBytes: number;
  usedMemoryDeltaBytes: number;
}

export interface RushResult {
  n: number;
  spreadMs: number;
  phases: RushPhase[];
}

type Student = { username: string; token: string; address: string };

async function json(base: string, method: string, path: string, opts: { token?: string; body?: unknown; raw?: string; address?: string } = {}): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = {};
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.address) headers['x-forwarded-for'] = opts.address;
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  if (opts.raw !== undefined) headers['content-type'] = 'text/csv';
  const res = await fetch(`${base}${path}`, { method, headers, ...(opts.body !== undefined && { body: JSON.stringify(opts.body) }), ...(opts.raw !== undefined && { body: opts.raw }) });
  return { status: res.status, body: await res.json().catch(() => null) };
}

async function pool<T>(items: T[], concurrency: number, fn: (x: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i]!, i);
    }
  }));
}

async function vmRss(pid: number): Promise<number> {
  const s = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  return Number(/VmRSS:\s+(\d+)/.exec(s)?.[1] ?? 0) * 1024;
}

/** One student: click → terminal token → attach → prompt. Resolves the open-to-prompt time. */
async function openOne(base: string, classId: string, s: Student, sockets: Socket[]): Promise<number> {
  const t0 = performance.now();
  const created = await json(base, 'POST', `/api/classes/${classId}/terminals`, { token: s.token, address: s.address });
  if (created.status !== 201) throw new Error(`open ${created.status} ${created.body?.error?.code ?? ''}`);
  const id = created.body.id as string;
  const tok = await json(base, 'POST', `/api/containers/${id}/terminal-token`, { token: s.token, address: s.address });
  if (tok.status !== 200) throw new Error(`token ${tok.status} ${tok.body?.error?.code ?? ''}`);
  const sock = io(`${base}/terminals`, { transports: ['websocket'], forceNew: true, reconnection: false });
  sockets.push(sock);
  let text = '';
  return new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no prompt')), PROMPT_TIMEOUT_MS);
    const take = (d: string) => {
      text = (text + d).slice(-512);
      sock.emit('ack', Math.max(1, d.length));
      if (/\$ $/.test(text)) {
        clearTimeout(timer);
        resolve(performance.now() - t0);
      }
    };
    sock.on('output', take);
    sock.on('screen', take);
    sock.on('connect_error', (e) => (clearTimeout(timer), reject(new Error(`socket ${e.message}`))));
    sock.on('connect', () => {
      sock.emit('attach', { containerId: id, token: tok.body.token, cols: 80, rows: 24 }, (reply: { ok: boolean; error?: { code?: string } }) => {
        if (!reply?.ok) (clearTimeout(timer), reject(new Error(`attach ${reply?.error?.code ?? 'refused'}`)));
      });
    });
  });
}

async function rushPhase(ctx: BenchContext, base: string, hostPid: number, classId: string, students: Student[], label: RushPhase['label'], teacher: string): Promise<RushPhase> {
  let startClassMs: number | undefined;
  if (label === 'started') {
    const t = performance.now();
    const r = await json(base, 'POST', `/api/classes/${classId}/start`, { token: teacher });
    if (r.status !== 200) throw new Error(`start class: ${r.status} ${JSON.stringify(r.body)}`);
    for (;;) {
      const run = (await json(base, 'GET', `/api/classes/${classId}/run`, { token: teacher })).body;
      if (run?.status !== 'starting') {
        if (run?.failed) ctx.log(`rush: start class: ${run.failed} failed, e.g. ${run.failures[0]?.message}`);
        break;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    startClassMs = performance.now() - t;
    ctx.log(`rush: class started in ${(startClassMs / 1000).toFixed(1)} s (${students.length} students prepared)`);
  }
  const usedBefore = (await readMemInfo()).usedBytes;
  const sockets: Socket[] = [];
  const times: number[] = [];
  const reasons: Record<string, number> = {};
  const t0 = performance.now();
  let lastPrompt = 0;
  // Within SPREAD_MS of each other: evenly spread clicks, in a shuffled order.
  const order = students.map((s, i) => ({ s, at: (i / students.length) * SPREAD_MS })).sort(() => Math.random() - 0.5);
  await Promise.all(
    order.map(async ({ s, at }) => {
      await new Promise((r) => setTimeout(r, at));
      try {
        times.push(await openOne(base, classId, s, sockets));
        lastPrompt = performance.now() - t0;
      } catch (e) {
        const why = (e as Error).message;
        reasons[why] = (reasons[why] ?? 0) + 1;
      }
    }),
  );
  const hostRssBytes = await vmRss(hostPid);
  const usedMemoryDeltaBytes = (await readMemInfo()).usedBytes - usedBefore;
  for (const s of sockets) s.close();
  // Stop class ends every session of the class (and with it the containers).
  await json(base, 'POST', `/api/classes/${classId}/stop`, { token: teacher });
  const failures = Object.values(reasons).reduce((a, b) => a + b, 0);
  const sorted = [...times].sort((a, b) => a - b);
  const phase: RushPhase = {
    label,
    n: students.length,
    ok: times.length,
    failures,
    failureReasons: reasons,
    openToPromptMs: { median: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted[sorted.length - 1] ?? Number.NaN },
    allPromptsMs: lastPrompt,
    ...(startClassMs !== undefined && { startClassMs }),
    hostRssBytes,
    usedMemoryDeltaBytes,
  };
  ctx.log(`rush (${label}): ${phase.ok}/${phase.n} prompts, open-to-prompt median ${phase.openToPromptMs.median.toFixed(0)} ms, p99 ${phase.openToPromptMs.p99.toFixed(0)} ms; ${failures} failures ${failures ? JSON.stringify(reasons) : ''}; host RSS ${(hostRssBytes / 2 ** 20).toFixed(0)} MiB`);
  return phase;
}

export async function rushExperiment(ctx: BenchContext): Promise<RushResult> {
  const n = ctx.opts.rushN;
  const home = join(ctx.tmp, 'rush-home');
  await mkdir(home, { recursive: true });
  // python and a bash RET from this machine: the rush measures the classroom, not a download.
  await buildFromHost(regHome(home), '/usr/bin/python3.11');
  await buildFromHost(regHome(home), '/usr/bin/bash');
  const stack = await startStack({ regHome: home, web: false, port: 0, hostPort: 0, env: { REG_DEMO_PASSWORD: PASSWORD, LOG_LEVEL: 'silent', MEMORY_SAMPLE_SECONDS: '0', IDLE_TIMEOUT_SECONDS: '0' } });
  ctx.cleanup.add('rush host', () => stack.stop());
  const base = stack.hostUrl as string;
  const hostPid = stack.host.pid as number;
  try {
    const teacher = (await json(base, 'POST', '/api/auth/sign-in', { body: { username: 'teacher', password: PASSWORD } })).body.token as string;
    const mkClass = async (name: string) => {
      const r = await json(base, 'POST', '/api/classes', { token: teacher, body: { name, ret: 'python@3.11', tools: ['bash'] } });
      if (r.status !== 201) throw new Error(`create class: ${r.status} ${JSON.stringify(r.body)}`);
      return r.body.id as string;
    };
    const started = await mkClass('Rush (started)');
    const cold = await mkClass('Rush (cold)');
    const csv = Array.from({ length: n }, (_, i) => `rush${String(i).padStart(4, '0')},Rush ${i},`).join('\n');
    ctx.log(`rush: importing ${n} students`);
    const imported = await json(base, 'POST', `/api/classes/${started}/roster`, { token: teacher, raw: csv });
    if (imported.status !== 200) throw new Error(`roster: ${imported.status} ${JSON.stringify(imported.body)}`);
    await json(base, 'POST', `/api/classes/${cold}/roster`, { token: teacher, raw: csv });
    ctx.log(`rush: ${n} students sign in and set their password`);
    const students: Student[] = [];
    await pool(imported.body.created as Array<{ username: string; password: string }>, 8, async (c, i) => {
      const address = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
      const s = await json(base, 'POST', '/api/auth/sign-in', { body: { username: c.username, password: c.password }, address });
      if (s.status !== 200) throw new Error(`sign-in ${c.username}: ${s.status} ${JSON.stringify(s.body)}`);
      const token = s.body.token as string;
      const ch = await json(base, 'POST', '/api/auth/password', { token, address, body: { newPassword: `Rush-${c.password}-x` } });
      if (ch.status !== 200) throw new Error(`password ${c.username}: ${ch.status} ${JSON.stringify(ch.body)}`);
      students.push({ username: c.username, token, address });
    });
    const phases = [await rushPhase(ctx, base, hostPid, started, students, 'started', teacher), await rushPhase(ctx, base, hostPid, cold, students, 'cold', teacher)];
    ctx.notes.push(
      `rush (N=${n}, clicks spread over ${SPREAD_MS / 1000} s, one shared 2-core machine): ` +
        phases.map((p) => `${p.label}: median ${p.openToPromptMs.median.toFixed(0)} ms, p99 ${p.openToPromptMs.p99.toFixed(0)} ms, ${p.failures} failures, host RSS ${(p.hostRssBytes / 2 ** 20).toFixed(0)} MiB${p.startClassMs ? `, Start class took ${(p.startClassMs / 1000).toFixed(1)} s` : ''}`).join('; '),
    );
    return { n, spreadMs: SPREAD_MS, phases };
  } finally {
    // The host's own shutdown ends every terminal and unmounts every workspace; what it leaves is
    // a leak, reported (a 15 s limit once left 1789 workspaces mounted after the N = 1000 run).
    const t0 = performance.now();
    await stack.stop();
    const mounts = (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').filter((l) => (l.split(' ')[4] ?? '').startsWith(`${home}/`)).length;
    ctx.log(`rush: the host shut down in ${((performance.now() - t0) / 1000).toFixed(1)} s (exit ${stack.host.process.exitCode ?? stack.host.process.signalCode}), ${mounts} mount(s) left under its home`);
    if (mounts) ctx.notes.push(`rush: LEAK: the host left ${mounts} mount(s) under ${home} after its shutdown`);
  }
}
