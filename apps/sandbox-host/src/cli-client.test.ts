// The reg CLI in client mode (--host) against a real host: over the unix socket as the
// administrator, and over TCP with a bearer token (refused without one).

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { RunningHost } from './host.js';
import { DEMO_PASSWORD, ensurePythonRet, isRoot, startTestHost, tempRegHome } from './test-support/host-fixture.js';

const REG = fileURLToPath(new URL('../../../packages/reg-core/bin/reg.js', import.meta.url));

function reg(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [REG, ...args], { env: { ...process.env, ...env } }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe('reg --host (client mode)', { skip: isRoot ? false : 'needs root (containers)' }, () => {
  let home: { dir: string; cleanup: () => Promise<void> };
  let host: RunningHost & { base: string };

  before(async () => {
    home = await tempRegHome();
    await ensurePythonRet(home.dir);
    host = await startTestHost(home.dir);
  });

  after(async () => {
    await host?.close();
    await home?.cleanup();
  });

  test('over the unix socket: run, ps, inspect, stats, ret ls, rm', async () => {
    const sock = `unix:${host.socketPath}`;
    const run = await reg(['--host', sock, 'run', '-t', 'python@3.11', '--', 'python3', '-c', 'import sys; sys.exit(3)']);
    assert.equal(run.code, 3, run.stderr);
    const ps = await reg(['--host', sock, 'ps', '-a', '--json']);
    const list = JSON.parse(ps.stdout) as Array<{ id: string; status: string; outcome?: { code?: number } }>;
    const mine = list.find((c) => c.outcome?.code === 3);
    assert.ok(mine, ps.stdout);
    assert.equal(mine.status, 'stopped');
    assert.match((await reg(['--host', sock, 'inspect', mine.id])).stdout, /"python@3.11"/);
    assert.match((await reg(['--host', sock, 'ret', 'ls'])).stdout, /python/);
    assert.equal((await reg(['--host', sock, 'stats', '--json'])).code, 0);
    assert.equal((await reg(['--host', sock, 'rm', mine.id])).code, 0);
    const gone = await reg(['--host', sock, 'inspect', mine.id]);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /error\[CONTAINER_NOT_FOUND\]/);
  });

  test('over TCP: refused without a token, works with one, exec says it needs embedded mode', async () => {
    const refused = await reg(['--host', host.base, 'ps'], { REG_TOKEN: '' });
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /error\[HOST_REFUSED\]/);
    assert.doesNotMatch(refused.stderr, /\n\s+at /, 'no stack trace');
    const res = await fetch(`${host.base}/api/auth/sign-in`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'student1', password: DEMO_PASSWORD }) });
    const token = ((await res.json()) as { token: string }).token;
    // A student may not choose the command (or limits): the environment does.
    const own = await reg(['--host', host.base, 'generate', '-t', 'python@3.11', '--', 'python3', '-c', 'pass'], { REG_TOKEN: token! });
    assert.equal(own.code, 2, 'a usage error');
    assert.match(own.stderr, /"command" may not be set/);
    const gen = await reg(['--host', host.base, 'generate', '-t', 'python@3.11'], { REG_TOKEN: token! });
    assert.equal(gen.code, 0, gen.stderr);
    assert.match(gen.stdout.trim(), /^[0-9a-f]{12}$/);
    const exec = await reg(['--host', host.base, 'exec', gen.stdout.trim(), '--', 'true'], { REG_TOKEN: token! });
    assert.match(exec.stderr, /embedded mode/);
    const unreachable = await reg(['--host', 'http://127.0.0.1:9', 'ps']);
    assert.match(unreachable.stderr, /error\[HOST_UNREACHABLE\]/);
  });
});
