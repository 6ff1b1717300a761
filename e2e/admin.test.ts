// The admin's pages in a real browser (Debian's Chromium via playwright-core) against the built
// web app and host, started as `npm start` would on free ports and a temp REG_HOME: the live
// memory dashboard (host figures, a student's container appearing, "saved by sharing" growing,
// stopping a container with the student told why), who may not get in, and user management.
// Screenshots go to /tmp/shots/.

import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type Browser, type BrowserContext, type Page } from 'playwright-core';
import { buildFromHost, listRets, regHome } from '@reg/core';
// @ts-expect-error: a plain .mjs module without types
import { removeHome, startStack } from '../scripts/stack.mjs';
import { PASSWORD, SHOTS, freePort, launchChromium, skipReason, waitScreen } from './browser-support.js';

const why = skipReason;
if (why) console.log(`e2e skipped: ${why}`);

type Stack = { host: { pid: number; socket: string }; web: { pid: number }; webUrl: string; hostUrl: string; stop: () => Promise<void> };

/** "12.3 MiB" → bytes. */
function bytesOf(text: string): number {
  const m = /(−?[\d.]+)\s*(B|KiB|MiB|GiB|TiB)/.exec(text);
  assert.ok(m, `not a byte figure: ${text}`);
  return Number(m[1]!.replace('−', '-')) * 1024 ** ['B', 'KiB', 'MiB', 'GiB', 'TiB'].indexOf(m[2]!);
}

describe('admin pages', { skip: why }, () => {
  let home: string;
  let stack: Stack;
  let browser: Browser;
  const contexts: BrowserContext[] = [];

  async function signedIn(username: string, password = PASSWORD): Promise<Page> {
    const ctx = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
    contexts.push(ctx);
    const page = await ctx.newPage();
    await page.goto(`${stack.webUrl}/sign-in`);
    await page.fill('input[name=username]', username);
    await page.fill('input[name=password]', password);
    await page.click('button[type=submit]');
    await page.waitForURL((u) => !u.pathname.startsWith('/sign-in') || u.pathname === '/sign-in/password', { timeout: 60_000 });
    return page;
  }

  /** A container made through the web origin with the page's own session (what the start page does). */
  async function newContainer(page: Page): Promise<string> {
    const r = await page.request.post(`${stack.webUrl}/api/containers`, { data: { ret: 'python@3.11' } });
    assert.equal(r.status(), 201, await r.text());
    return ((await r.json()) as { id: string }).id;
  }

  before(async () => {
    mkdirSync(SHOTS, { recursive: true });
    home = await mkdtemp(join(tmpdir(), 'reg-e2e-admin-'));
    // Only the python RET: the dashboard needs running containers, not the whole toolbox.
    if (!(await listRets(regHome(home))).some((r) => r.name === 'python')) await buildFromHost(regHome(home), '/usr/bin/python3.11');
    stack = await startStack({ regHome: home, port: await freePort(), hostPort: await freePort(), env: { REG_DEMO_PASSWORD: PASSWORD, LOG_LEVEL: 'silent', MEMORY_SAMPLE_SECONDS: '0' }, webBind: '127.0.0.1' });
    browser = await launchChromium();
  });

  after(async () => {
    for (const c of contexts) await c.close().catch(() => {});
    await browser?.close();
    await stack?.stop();
    if (home) await removeHome(home);
  });

  let admin: Page;
  let student: Page;
  let studentId: string;

  test('an admin sees the host figures; a student\'s terminal appears on the dashboard within seconds', async () => {
    admin = await signedIn('admin');
    await admin.goto(`${stack.webUrl}/admin`);
    await admin.locator('[data-figure=host-total]').waitFor({ timeout: 10_000 });
    assert.ok(bytesOf(await admin.locator('[data-figure=host-total]').innerText()) > 0);
    assert.ok(bytesOf(await admin.locator('[data-figure=host-used]').innerText()) > 0);
    student = await signedIn('student1');
    studentId = await newContainer(student);
    await student.goto(`${stack.webUrl}/terminal/${studentId}`);
    await waitScreen(student, /^>>>\s*$/m);
    // The next snapshot: every 2 s, stretched by the monitor's CPU budget on a busy machine.
    await admin.locator(`tr[data-container="${studentId}"]`).waitFor({ timeout: 20_000 });
    const row = await admin.locator(`tr[data-container="${studentId}"]`).innerText();
    assert.match(row, /student1/);
    assert.match(row, /python/);
    await admin.screenshot({ path: join(SHOTS, 'admin-memory.png'), fullPage: true });
  });

  test('"saved by sharing" grows as ten containers start', async () => {
    const saved = async () => bytesOf(await admin.locator('[data-figure=saved]').innerText());
    const before = await saved();
    const others = [await signedIn('student2'), await signedIn('ta1'), student];
    const made: Array<[Page, string]> = [];
    for (let i = 0; made.length < 9; i++) made.push([others[i % 3]!, await newContainer(others[i % 3]!)]);
    // Ten running pythons (the first one included); wait for a sample that has them all.
    await admin.locator('table[data-testid=containers] tbody tr[data-container]').nth(9).waitFor({ timeout: 15_000 });
    await admin.waitForTimeout(2_500);
    const after = await saved();
    assert.ok(after > before, `saved by sharing ${before} → ${after}`);
    // Ten interpreters share one libpython: at least several MiB saved.
    assert.ok(after > 5 * 1024 * 1024, `saved ${after}`);
    await admin.screenshot({ path: join(SHOTS, 'admin-memory-ten.png'), fullPage: true });
    for (const [owner, id] of made) assert.equal((await owner.request.delete(`${stack.webUrl}/api/containers/${id}`)).status(), 200);
  });

  test('an admin stops a container from the dashboard and the student\'s terminal says why', async () => {
    admin.once('dialog', (d) => void d.accept());
    await admin.locator(`tr[data-container="${studentId}"] button`).click();
    await waitScreen(student, /stopped by an administrator/, 15_000);
    await admin.locator(`tr[data-container="${studentId}"]`).waitFor({ state: 'detached', timeout: 10_000 });
    await student.screenshot({ path: join(SHOTS, 'student-stopped.png') });
  });

  test('a student and an instructor cannot open the admin pages or the metrics endpoint', async () => {
    for (const who of ['student2', 'teacher']) {
      const page = await signedIn(who);
      await page.goto(`${stack.webUrl}/admin`);
      await page.getByRole('heading', { name: 'Administrators only' }).waitFor({ timeout: 10_000 });
      assert.equal(await page.getByRole('navigation', { name: 'administration' }).count(), 0, `${who} sees no admin tabs`);
      assert.equal(await page.locator('.error').count(), 0, `${who} sees no error`);
      for (const path of ['/api/admin/users', '/api/admin/audit', '/api/admin/memory']) assert.equal((await page.request.get(`${stack.webUrl}${path}`)).status(), 403, `${who} ${path}`);
      const cookies = await page.context().cookies();
      const token = cookies.find((c) => c.name === 'reg_session')!.value;
      assert.equal((await fetch(`${stack.hostUrl}/metrics`, { headers: { authorization: `Bearer ${token}` } })).status, 403, `${who} /metrics`);
      if (who === 'student2') await page.screenshot({ path: join(SHOTS, 'admin-refused.png') });
    }
    assert.equal((await fetch(`${stack.hostUrl}/metrics`)).status, 401);
  });

  test('the dashboard with 1000 containers renders, updates and re-sorts (timings printed, for the README)', async () => {
    await admin.goto(`${stack.webUrl}/admin`);
    await admin.locator('[data-figure=host-total]').waitFor({ timeout: 10_000 });
    // A string, not a function: the test's compiler would wrap named functions in helpers the page lacks.
    const timings = (await admin.evaluate(`(async () => {
      const base = (await (await fetch('/api/admin/memory')).json());
      const one = base.containers[0] ?? { id: '000000000000', user: 'x', userId: 'x', class: null, classId: null, ret: 'python@3.11', pids: 2, rss: 15e6, pss: 6e6, uss: 5e6, shared: 9e6, cgroupBytes: 9e6, limitBytes: 512 * 2 ** 20, limitUse: 0.02, oomKills: 0 };
      const rows = (k) =>
        Array.from({ length: 1000 }, (_, i) => ({ ...one, id: (i + k * 1000).toString(16).padStart(12, '0'), user: \`student\${i % 300}\`, userId: \`u\${i % 300}\`, class: \`class\${i % 10}\`, classId: \`c\${i % 10}\`, pss: 5e6 + ((i * 7919 + k) % 1000) * 1000, uss: 4e6 + (i % 97) * 1000 }));
      const hook = (window).regAdmin;
      const frame = () => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
      const count = () => document.querySelectorAll('table[data-testid=containers] tbody tr[data-container]').length;
      let t = performance.now();
      hook.show({ ...base, containers: rows(0) });
      await frame();
      const first = performance.now() - t;
      const n1 = count();
      t = performance.now();
      hook.show({ ...base, at: new Date().toISOString(), containers: rows(1) });
      await frame();
      const update = performance.now() - t;
      t = performance.now();
      document.querySelector('table[data-testid=containers] th[aria-sort] button').click();
      await frame();
      const resort = performance.now() - t;
      const pager = document.querySelector('[data-testid=pager] span')?.textContent ?? '';
      return { rows: n1, pager, firstRenderMs: Math.round(first), updateMs: Math.round(update), resortMs: Math.round(resort) };
    })()`)) as { rows: number; pager: string; firstRenderMs: number; updateMs: number; resortMs: number };
    console.log(`dashboard with 1000 rows: ${JSON.stringify(timings)}`);
    // Sorted over all 1000, drawn a page (100 rows) at a time.
    assert.equal(timings.rows, 100);
    assert.equal(timings.pager, '1–100 of 1000');
    await admin.screenshot({ path: join(SHOTS, 'admin-memory-1000.png') });
  });

  test('a 200 MiB body to sign-in through the web origin is refused (413) without the web app or the host growing', async () => {
    const rss = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
    const before = { web: rss(stack.web.pid), host: rss(stack.host.pid) };
    const url = new URL(`${stack.webUrl}/api/auth/sign-in`);
    for (const declare of [true, false]) {
      const r = await new Promise<{ status: number; sent: number }>((resolve, reject) => {
        const chunk = Buffer.alloc(1024 * 1024, 0x20);
        const total = 200 * 1024 * 1024;
        let sent = 0;
        let done = false;
        const req = request({ host: '127.0.0.1', port: Number(url.port), path: url.pathname, method: 'POST', headers: { 'content-type': 'application/json', ...(declare && { 'content-length': String(total) }) } });
        req.on('response', (res) => {
          done = true;
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode ?? 0, sent }));
        });
        req.on('error', (e) => (done ? undefined : reject(e)));
        const pump = () => {
          while (!done && sent < total) {
            sent += chunk.length;
            if (!req.write(chunk)) return void req.once('drain', pump);
          }
          if (!done) req.end();
        };
        pump();
      });
      assert.equal(r.status, 413, `declared ${declare}`);
      assert.ok(r.sent < 200 * 1024 * 1024, `the whole body was read (declared ${declare})`);
    }
    const grown = { web: rss(stack.web.pid) - before.web, host: rss(stack.host.pid) - before.host };
    console.log(`200 MiB sign-in bodies through the web origin: web RSS ${Math.round(grown.web / 1048576)} MiB, host RSS ${Math.round(grown.host / 1048576)} MiB`);
    assert.ok(grown.web < 64 * 1024 * 1024 && grown.host < 64 * 1024 * 1024, JSON.stringify(grown));
  });

  test('users: an admin creates an account; its initial password signs in and must be replaced', async () => {
    await admin.goto(`${stack.webUrl}/admin/users`);
    await admin.locator('tr[data-user=admin]').waitFor();
    const form = admin.locator('form[aria-label="create a user"]');
    await form.locator('input[name=username]').fill('newcomer');
    await form.locator('input[name=displayName]').fill('New Comer');
    await form.locator('button[type=submit]').click();
    const pw = await admin.locator('[data-testid=initial-password]').innerText();
    assert.ok(pw.length >= 12);
    await admin.locator('tr[data-user=newcomer]').waitFor();
    await admin.screenshot({ path: join(SHOTS, 'admin-users.png'), fullPage: true });
    const page = await signedIn('newcomer', pw);
    await page.waitForURL(/\/sign-in\/password/);
    await page.fill('input[name=newPassword]', 'newcomer-password-1');
    await page.fill('input[name=again]', 'newcomer-password-1');
    await page.screenshot({ path: join(SHOTS, 'change-password.png') });
    await page.click('button[type=submit]');
    await page.waitForURL(`${stack.webUrl}/`);
    await admin.goto(`${stack.webUrl}/admin/audit`);
    await admin.locator('table[data-testid=audit] td code', { hasText: 'user.create' }).first().waitFor();
    await admin.locator('table[data-testid=audit] td code', { hasText: 'container.stop' }).first().waitFor();
    await admin.screenshot({ path: join(SHOTS, 'admin-audit.png'), fullPage: true });
  });
});
