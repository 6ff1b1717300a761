// Test support: a real host in-process on a temp REG_HOME (with the python RET built from this
// machine), signed-in API clients, and a socket.io terminal client that acks like a browser.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { buildFromHost, cgroupParentFor, listRets, regHome, removeCgroupParent } from '@reg/core';
import { io, type Socket } from 'socket.io-client';
import type { AttachReply, ClientToServerEvents, ServerToClientEvents, TerminalError } from '@reg/protocol';
import { loadConfig } from '../env.js';
import { startHost, type RunningHost } from '../host.js';
import { dropTestDatabase, testDatabaseEnv } from './postgres.js';

export const DEMO_PASSWORD = 'test-password';
export const isRoot = process.getuid?.() === 0;

export async function tempRegHome(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'reg-host-test-'));
  return {
    dir,
    cleanup: async () => {
      // Quota volumes of containers still present (stopped ones keep theirs) first: rm -r must not descend into a mount.
      const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4] ?? '').filter((m) => m.startsWith(`${dir}/`)).sort((a, b) => b.length - a.length);
      for (const m of mounts) if (spawnSync('umount', [m]).status !== 0) spawnSync('umount', ['-l', m]);
      await rm(dir, { recursive: true, force: true });
      // The home's cgroup parent with idle pool members and a killed host's parked launchers' cgroups.
      await removeCgroupParent(cgroupParentFor(regHome(dir))).catch(() => {});
      await dropTestDatabase(dir);
    },
  };
}

export async function ensurePythonRet(home: string): Promise<void> {
  if (!(await listRets(regHome(home))).some((r) => r.name === 'python')) await buildFromHost(regHome(home), '/usr/bin/python3.11');
}

export async function startTestHost(home: string, env: Record<string, string> = {}): Promise<RunningHost & { base: string }> {
  // REG_TEST_DATABASE=postgresql (scripts/test.mjs's second pass): a PostgreSQL database per home.
  const database = env.DATABASE_URL ? {} : await testDatabaseEnv(home);
  const config = loadConfig({ REG_HOME: home, HOST_PORT: '0', LOG_LEVEL: 'silent', REG_DEMO_PASSWORD: DEMO_PASSWORD, MEMORY_SAMPLE_SECONDS: '0', ...database, ...env });
  const host = await startHost(config);
  return Object.assign(host, { base: `http://127.0.0.1:${host.port}` });
}

/** A call over the host's unix socket, which the host trusts as the administrator. */
export function adminCall(host: RunningHost, method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: host.socketPath, path, method, headers: body ? { 'content-type': 'application/json' } : {} }, (res) => {
      let d = '';
      res.on('data', (c) => (d += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: d ? JSON.parse(d) : null }));
    });
    req.on('error', reject);
    req.end(body ? JSON.stringify(body) : undefined);
  });
}

export class ApiClient {
  constructor(
    readonly base: string,
    private token?: string,
  ) {}

  static async signIn(base: string, username: string, password = DEMO_PASSWORD): Promise<ApiClient> {
    const res = await fetch(`${base}/api/auth/sign-in`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password }) });
    if (res.status !== 200) throw new Error(`sign-in ${username}: ${res.status}`);
    return new ApiClient(base, ((await res.json()) as { token: string }).token);
  }

  async call(method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
    const headers: Record<string, string> = {};
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${this.base}${path}`, { method, headers, ...(body !== undefined && { body: typeof body === 'string' ? body : JSON.stringify(body) }) });
    return { status: res.status, json: await res.json().catch(() => null) };
  }

  async openPython(): Promise<string> {
    const r = await this.call('POST', '/api/containers', { ret: 'python@3.11' });
    if (r.status !== 201) throw new Error(`create: ${r.status} ${JSON.stringify(r.json)}`);
    return r.json.id as string;
  }

  async attachToken(id: string): Promise<string> {
    const r = await this.call('POST', `/api/containers/${id}/terminal-token`);
    if (r.status !== 200) throw new Error(`token: ${r.status} ${JSON.stringify(r.json)}`);
    return r.json.token as string;
  }
}

/** A terminal client that renders nothing but keeps the text and acks everything it receives. */
export class TestTerminal {
  readonly socket: Socket<ServerToClientEvents, ClientToServerEvents>;
  text = '';
  errors: TerminalError[] = [];
  exit: Parameters<ServerToClientEvents['exit']>[0] | undefined;
  /** When false, output is not acknowledged (a browser that fell behind). */
  acking = true;
  received = 0;

  constructor(base: string) {
    this.socket = io(`${base}/terminals`, { transports: ['websocket'], forceNew: true });
    this.socket.on('screen', (d) => this.take(d, true));
    this.socket.on('output', (d) => this.take(d, false));
    this.socket.on('error', (e) => this.errors.push(e));
    this.socket.on('exit', (e) => (this.exit = e));
  }

  async connected(): Promise<void> {
    if (this.socket.connected) return;
    await new Promise<void>((resolve, reject) => {
      this.socket.once('connect', () => resolve());
      this.socket.once('connect_error', reject);
    });
  }

  async attach(containerId: string, token: string, size = { cols: 100, rows: 30 }): Promise<AttachReply> {
    await this.connected();
    return this.socket.emitWithAck('attach', { containerId, token, ...size });
  }

  type(data: string): void {
    this.socket.emit('input', data);
  }

  /** Waits until the accumulated text matches. */
  async waitFor(re: RegExp, timeoutMs = 10_000): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = this.text.match(re);
      if (m) return m;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${re}; got …${JSON.stringify(this.text.slice(-400))}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  close(): void {
    this.socket.close();
  }

  private take(d: string, screen: boolean): void {
    if (screen) this.text = '';
    // Keep the tail only: floods must not grow the test's memory either.
    this.text = (this.text + d).slice(-200_000);
    this.received += d.length;
    if (this.acking) this.socket.emit('ack', Math.max(1, d.length));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every cgroup directory of a container, whatever the hierarchy (v1 or v2) and parent (reg, reg-<hash>). */
export function cgroupDirsOf(id: string): string[] {
  const root = '/sys/fs/cgroup';
  const hierarchies = ['', ...readdirSync(root)];
  const out: string[] = [];
  for (const h of hierarchies) {
    let entries: string[] = [];
    try {
      entries = readdirSync(join(root, h)).filter((e) => e === 'reg' || e.startsWith('reg-'));
    } catch {
      continue;
    }
    for (const parent of entries) if (existsSync(join(root, h, parent, id))) out.push(join(root, h, parent, id));
  }
  return out;
}

export interface ChildHost {
  proc: ChildProcess;
  base: string;
}

const MAIN = fileURLToPath(new URL('../main.ts', import.meta.url));

/** Starts a host in its own process (so it can be SIGKILLed or frozen) and waits for its ready line. */
export async function startChildHost(env: Record<string, string>): Promise<ChildHost> {
  const proc = spawn(process.execPath, ['--import', 'tsx', MAIN], { env: { ...process.env, HOST_PORT: '0', LOG_LEVEL: 'silent', MEMORY_SAMPLE_SECONDS: '0', REG_DEMO_PASSWORD: DEMO_PASSWORD, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr!.on('data', (d) => (stderr += d));
  const lines = createInterface({ input: proc.stdout! });
  const port = await new Promise<number>((resolve, reject) => {
    lines.on('line', (l) => {
      try {
        const m = JSON.parse(l) as { event?: string; port?: number };
        if (m.event === 'ready') resolve(m.port!);
      } catch {
        // not ours
      }
    });
    proc.once('exit', (code) => reject(new Error(`host ${env.REG_HOST_ID ?? ''} exited (${code}) before it was ready: ${stderr}`)));
  });
  return { proc, base: `http://127.0.0.1:${port}` };
}

/** reg-core's cgroup parent for a non-default REG_HOME (reg-<sha256 of the path, 12 hex>). */
export const cgroupParentName = (home: string) => `reg-${createHash('sha256').update(home).digest('hex').slice(0, 12)}`;

/** Polls `probe` every 50 ms until it returns something other than undefined or false. */
export async function waitUntil<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}
