// The product path in a real browser: Debian's Chromium (playwright-core) against the built web
// app and host, started as `npm start` would, on free ports and a temp REG_HOME. Output is read
// from the xterm buffer (window.term, the terminal page's test hook).

import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type Browser, type BrowserContext, type Page } from 'playwright-core';
// @ts-expect-error: a plain .mjs module without types
import { ensureRets, removeHome, startStack } from '../scripts/stack.mjs';
import { PASSWORD, freePort, launchChromium, screen, skipReason, waitScreen } from './browser-support.js';

const why = skipReason;
if (why) console.log(`e2e skipped: ${why}`);

type Stack = { host: { pid: number; socket: string }; webUrl: string; stop: () => Promise<void> };

/** Every cgroup directory of a container, whatever the hierarchy (v1 or v2) and parent (reg, reg-<hash>). */
function cgroupDirsOf(id: string): string[] {
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

function vmRssKiB(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
}

function adminGet(socketPath: string, path: string): Promise<any> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path }, (res) => {
      let d = '';
      res.on('data', (c) => (d += c));
      res.on('end', () => resolve(JSON.parse(d)));
    });
    req.on('error', reject);
    req.end();
  });
}

async function status(page: Page, want: string, timeoutMs = 15_000): Promise<void> {
  await page.locator(`[data-testid=status]:text-is("${want}")`).waitFor({ timeout: timeoutMs });
}

async function run(page: Page, line: string): Promise<void> {
  await page.keyboard.type(line);
  await page.keyboard.press('Enter');
}

describe('browser terminals', { skip: why }, () => {
  let home: string;
  let stack: Stack;
  let browser: Browser;
  const contexts: BrowserContext[] = [];

  async function signedIn(username: string): Promise<Page> {
    const ctx = await browser.newContext();
    contexts.push(ctx);
    const page = await ctx.newPage();
    await page.goto(`${stack.webUrl}/sign-in`);
    await page.fill('input[name=username]', username);
    await page.fill('input[name=password]', PASSWORD);
    await page.click('button[type=submit]');
    await page.waitForURL(`${stack.webUrl}/`);
    return page;
  }

  async function openTerminal(page: Page, kind: 'python' | 'node'): Promise<string> {
    await page.goto(`${stack.webUrl}/`);
    await page.click(`button[data-kind=${kind}]`);
    await page.waitForURL(/\/terminal\/[0-9a-f]{12}$/, { timeout: 20_000 });
    await status(page, 'connected');
    await waitScreen(page, kind === 'python' ? /^>>>\s*$/m : /^>\s*$/m);
    return page.url().split('/').pop()!;
  }

  before(async () => {
    home = await mkdtemp(join(tmpdir(), 'reg-e2e-'));
    await ensureRets(home);
    stack = await startStack({ regHome: home, port: await freePort(), hostPort: await freePort(), env: { REG_DEMO_PASSWORD: PASSWORD, LOG_LEVEL: 'silent', MEMORY_SAMPLE_SECONDS: '0' }, webBind: '127.0.0.1' });
    browser = await launchChromium();
  });

  after(async () => {
    for (const c of contexts) await c.close().catch(() => {});
    await browser?.close();
    await stack?.stop();
    if (home) await removeHome(home);
  });

  test('a wrong password is refused on the sign-in page', async () => {
    const ctx = await browser.newContext();
    contexts.push(ctx);
    const page = await ctx.newPage();
    await page.goto(`${stack.webUrl}/`);
    await page.waitForURL(`${stack.webUrl}/sign-in`);
    await page.fill('input[name=username]', 'student1');
    await page.fill('input[name=password]', 'wrong');
    await page.click('button[type=submit]');
    assert.match(await page.locator('p.error[role=alert]').innerText(), /wrong username or password/);
  });

  test('python: print(6*7) shows 42; a reload restores the screen and the same process', async () => {
    const page = await signedIn('student1');
    await openTerminal(page, 'python');
    await run(page, 'print(6*7)');
    await waitScreen(page, /^42$/m);
    await run(page, 'x = 1234; print(x * 2)');
    await waitScreen(page, /^2468$/m);
    await page.reload();
    await status(page, 'connected');
    const restored = await waitScreen(page, /^2468$/m);
    assert.match(restored, /^42$/m);
    await run(page, 'print(x + 1)');
    await waitScreen(page, /^1235$/m);
  });

  test('node: the REPL evaluates an expression', async () => {
    const page = await signedIn('student1');
    await openTerminal(page, 'node');
    await run(page, '[1, 2, 3].map((x) => x * 7).join("-")');
    await waitScreen(page, /'7-14-21'/);
  });

  test('two students cannot reach each other\'s containers or files', async () => {
    const alice = await signedIn('student1');
    const aliceId = await openTerminal(alice, 'python');
    await run(alice, 'open("/work/secret.txt", "w").write("alice"); print("written", len(__import__("os").listdir("/work")))');
    await waitScreen(alice, /^written 1$/m);

    const bob = await signedIn('student2');
    for (const [method, path] of [['GET', `/api/containers/${aliceId}`], ['DELETE', `/api/containers/${aliceId}`], ['POST', `/api/containers/${aliceId}/terminal-token`], ['POST', `/api/containers/${aliceId}/stop`]] as const) {
      const res = await bob.request.fetch(`${stack.webUrl}${path}`, { method });
      assert.ok([403, 404].includes(res.status()), `${method} ${path}: ${res.status()}`);
    }
    const list = (await (await bob.request.get(`${stack.webUrl}/api/containers`)).json()) as Array<{ id: string }>;
    assert.ok(!list.some((c) => c.id === aliceId));
    await bob.goto(`${stack.webUrl}/terminal/${aliceId}`);
    await status(bob, 'ended');
    assert.doesNotMatch(await screen(bob), /written/);

    await openTerminal(bob, 'python');
    await run(bob, 'import os; print("bob sees", os.path.exists("/work/secret.txt"), os.listdir("/work"))');
    await waitScreen(bob, /^bob sees False \[\]$/m);
    // Alice's terminal is untouched.
    await run(alice, 'print(open("/work/secret.txt").read())');
    await waitScreen(alice, /^alice$/m);
  });

  test('a flood of output: Ctrl-C still answers and the host does not balloon', { timeout: 90_000 }, async () => {
    const page = await signedIn('student2');
    await openTerminal(page, 'python');
    const before = vmRssKiB(stack.host.pid);
    await run(page, 'while True: print("x" * 200)');
    await page.waitForTimeout(4000);
    const during = vmRssKiB(stack.host.pid);
    await page.keyboard.press('Control+C');
    await waitScreen(page, /KeyboardInterrupt/, 30_000);
    await run(page, 'print("alive", 6*7)');
    await waitScreen(page, /^alive 42$/m, 30_000);
    const afterRss = vmRssKiB(stack.host.pid);
    console.log(`host VmRSS: before ${before} KiB, during flood ${during} KiB, after ${afterRss} KiB`);
    assert.ok(during - before < 150 * 1024, `host RSS grew by ${during - before} KiB during the flood`);
  });

  test('End session stops and removes the container', async () => {
    const page = await signedIn('student1');
    const id = await openTerminal(page, 'python');
    const cgroups = cgroupDirsOf(id);
    assert.ok(cgroups.length > 0, 'the running container has a cgroup');
    await page.click('text=End session');
    await status(page, 'ended');
    await waitScreen(page, /session over: you ended the session/);
    assert.equal((await page.request.get(`${stack.webUrl}/api/containers/${id}`)).status(), 404);
    const all = (await adminGet(stack.host.socket, '/api/containers')) as Array<{ id: string }>;
    assert.ok(!all.some((c) => c.id === id));
    for (const p of cgroups) assert.ok(!existsSync(p), `${p} is gone`);
    assert.deepEqual(cgroupDirsOf(id), []);
    assert.ok(!existsSync(join(home, 'containers', id)));
  });
});
