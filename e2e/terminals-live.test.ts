// Terminals and live teaching in Chromium, against the built web app (one origin: its server
// forwards /api and /socket.io/ to the host on loopback) and a real host on a temp REG_HOME:
// a terminal through a non-localhost address of this machine, the first connection never saying
// "reconnecting", an ended session's reason in words, a reload restoring more than 1000 lines,
// the live class view, observing a student (read-only until they allow typing) and following
// the instructor's shared terminal. Screenshots go to /tmp/shots/.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { type Browser, type BrowserContext, type Page } from 'playwright-core';
import { buildFromHost, regHome } from '@reg/core';
// @ts-expect-error: a plain .mjs module without types
import { removeHome, startStack } from '../scripts/stack.mjs';
import { PASSWORD, SHOTS, freePort, launchChromium, screen, skipReason, waitScreen } from './browser-support.js';

const why = skipReason;
if (why) console.log(`e2e skipped: ${why}`);

type Stack = { host: { pid: number; socket: string; process: import('node:child_process').ChildProcess }; webUrl: string; stop: () => Promise<void> };

async function status(page: Page, want: string, timeoutMs = 20_000): Promise<void> {
  await page.locator(`[data-testid=status]:text-is("${want}")`).waitFor({ timeout: timeoutMs });
}

async function run(page: Page, line: string): Promise<void> {
  await page.keyboard.type(line);
  await page.keyboard.press('Enter');
}

describe('terminals and live teaching in the browser', { skip: why }, () => {
  let home: string;
  let stack: Stack;
  let port: number;
  let browser: Browser;
  let db: Database.Database;
  const contexts: BrowserContext[] = [];
  const classId = 'e2e-live';

  async function signedIn(username: string, base = stack.webUrl): Promise<Page> {
    const ctx = await browser.newContext({ viewport: { width: 1200, height: 760 } });
    contexts.push(ctx);
    const page = await ctx.newPage();
    await page.goto(`${base}/sign-in`);
    await page.fill('input[name=username]', username);
    await page.fill('input[name=password]', PASSWORD);
    await page.click('button[type=submit]');
    await page.waitForURL(`${base}/`);
    return page;
  }

  async function openPython(page: Page, base = stack.webUrl): Promise<string> {
    await page.goto(`${base}/`);
    await page.click('button[data-kind=python]');
    await page.waitForURL(/\/terminal\/[0-9a-f]{12}$/, { timeout: 30_000 });
    await status(page, 'connected');
    await waitScreen(page, /^>>>\s*$/m);
    return page.url().split('/').pop()!;
  }

  const userId = (username: string) => (db.prepare('SELECT id FROM User WHERE username = ?').get(username) as { id: string }).id;

  before(async () => {
    mkdirSync(SHOTS, { recursive: true });
    home = await mkdtemp(join(tmpdir(), 'reg-e2e-live-'));
    // Only the python RET: these tests are about terminals, not the class toolbox.
    await buildFromHost(regHome(home), '/usr/bin/python3.11');
    port = await freePort();
    // The web listens on every interface; the host only on 127.0.0.1.
    stack = await startStack({ regHome: home, port, hostPort: await freePort(), env: { REG_DEMO_PASSWORD: PASSWORD, LOG_LEVEL: 'silent', MEMORY_SAMPLE_SECONDS: '0' }, webBind: '0.0.0.0' });
    browser = await launchChromium();
    // Until the class routes exist: the class and its roster straight into the host's database.
    db = new Database(join(home, 'reg.db'));
    db.prepare('INSERT INTO Class (id, name, ownerId) VALUES (?, ?, ?)').run(classId, 'Intro to Programming', userId('teacher'));
    for (const [u, role] of [['student1', 'student'], ['student2', 'student'], ['ta1', 'ta']]) db.prepare('INSERT INTO Enrolment (classId, userId, role) VALUES (?, ?, ?)').run(classId, userId(u!), role);
    db.prepare('UPDATE User SET displayName = ? WHERE username = ?').run('Ms. Teacher', 'teacher');
  });

  after(async () => {
    for (const c of contexts) await c.close().catch(() => {});
    await browser?.close();
    await stack?.stop();
    db?.close();
    if (home) await removeHome(home);
  });

  test('a terminal through a non-localhost address: prompt, no "reconnecting" first, the reason it ended', async () => {
    const lan = `http://127.0.0.2:${port}`;
    const page = await signedIn('student2', lan);
    await openPython(page, lan);
    const log = await page.evaluate(() => (window as unknown as { statusLog: string[] }).statusLog);
    assert.equal(log[0], 'connecting');
    assert.ok(log.indexOf('connected') > 0, log.join(','));
    assert.ok(!log.slice(0, log.indexOf('connected')).includes('reconnecting'), `first connection said reconnecting: ${log.join(',')}`);
    assert.equal(await page.locator('[data-testid=terminal-kind]').innerText(), 'Python');
    assert.match(await page.title(), /Terminal · Reg/);
    await run(page, 'print(6*7)');
    await waitScreen(page, /^42$/m);
    await page.screenshot({ path: `${SHOTS}/terminal-lan.png` });
    await run(page, 'exit()');
    await status(page, 'ended');
    await waitScreen(page, /\[session over: the program exited \(code 0\)\]/);
    assert.equal(await page.locator('[data-testid=status-detail]').innerText(), 'the program exited (code 0)');
    assert.doesNotMatch(await screen(page), /signal 15/);
    await page.screenshot({ path: `${SHOTS}/terminal-ended.png` });
    // A reload of an ended terminal still says why it ended.
    await page.reload();
    await status(page, 'ended');
    assert.equal(await page.locator('[data-testid=status-detail]').innerText(), 'the program exited (code 0)');
  });

  test('a reload restores more than 1000 lines of scrollback', async () => {
    const page = await signedIn('student2');
    await openPython(page);
    await run(page, 'print("\\n".join(f"line {i}" for i in range(3000)))');
    await waitScreen(page, /^line 2999$/m, 30_000);
    await page.reload();
    await status(page, 'connected');
    const restored = await waitScreen(page, /^line 2999$/m);
    assert.match(restored, /^line 100$/m, 'lines from 2900 lines back are restored');
    assert.match(restored, /^line 0$/m);
  });

  test('the open terminals are listed on the start page, each with End', async () => {
    const page = await signedIn('student2');
    const id = await openPython(page);
    await page.goto(`${stack.webUrl}/`);
    const item = page.locator(`li:has(a[href="/terminal/${id}"])`);
    await item.waitFor();
    await page.screenshot({ path: `${SHOTS}/start-open-terminals.png` });
    await item.locator('button:text-is("End")').click();
    await item.waitFor({ state: 'detached' });
    assert.equal((await page.request.get(`${stack.webUrl}/api/containers/${id}`)).status(), 404);
  });

  test('the live view, observing a student (read-only until they allow typing), stopping the session', async () => {
    const student = await signedIn('student1');
    const id = await openPython(student);
    // The class route will do this when it opens the terminal; here the row is tied by hand.
    db.prepare('UPDATE Container SET classId = ? WHERE id = ?').run(classId, id);

    const teacher = await signedIn('teacher');
    await teacher.goto(`${stack.webUrl}/teach/${classId}/live`);
    const row = teacher.locator('tr[data-user=student1]');
    await row.locator('[data-testid=state]:text-is("connected")').waitFor({ timeout: 20_000 });
    await teacher.locator('tr[data-user=student2] [data-testid=state]').waitFor();
    assert.match(await teacher.title(), /Live class · Reg/);
    await teacher.screenshot({ path: `${SHOTS}/live-view.png` });

    await row.locator('a:text-is("Observe")').click();
    await teacher.waitForURL(new RegExp(`/teach/${classId}/observe/${id}$`));
    await status(teacher, 'connected');
    await student.locator('[data-testid=watchers]:has-text("Ms. Teacher is watching")').waitFor();
    await run(student, 'print("from", "student")');
    await waitScreen(teacher, /^from student$/m);

    // Typing from the observer does nothing until the student allows it.
    await teacher.locator('.terminal-host').click();
    await run(teacher, 'print(1000+1)');
    await teacher.locator('[role=alert]:has-text("has not allowed you to type")').waitFor();
    await student.waitForTimeout(500);
    assert.doesNotMatch(await screen(student), /1001/);
    await teacher.screenshot({ path: `${SHOTS}/observe-read-only.png` });

    await teacher.click('button:text-is("Ask to type")');
    await student.locator('text=Allow Ms. Teacher to type in your terminal?').waitFor();
    await student.screenshot({ path: `${SHOTS}/student-consent.png` });
    await student.click('.consent button:text-is("Allow")');
    await teacher.locator('[data-testid=can-type]').waitFor();
    await teacher.locator('.terminal-host').click();
    await run(teacher, 'print(500+55)');
    await waitScreen(student, /^555$/m);
    await student.locator('[data-testid=watchers]:has-text("Ms. Teacher can type")').waitFor();

    // Stop session from the live view: the student reads why.
    await teacher.goto(`${stack.webUrl}/teach/${classId}/live`);
    teacher.once('dialog', (d) => void d.accept());
    await teacher.locator('tr[data-user=student1] button:text-is("Stop session")').click();
    await status(student, 'ended');
    await waitScreen(student, /\[session over: stopped by your instructor\]/);
    await teacher.locator('tr[data-user=student1] [data-testid=state]:text-is("ended")').waitFor();
    await teacher.screenshot({ path: `${SHOTS}/live-view-ended.png` });
  });

  test('follow along: the instructor shares a terminal, a student follows it', async () => {
    const teacher = await signedIn('teacher');
    await teacher.goto(`${stack.webUrl}/teach/${classId}/live`);
    await teacher.click('button:text-is("Share a terminal with the class")');
    await teacher.waitForURL(/\/terminal\/[0-9a-f]{12}\?share=/, { timeout: 30_000 }).catch(async (e) => {
      await teacher.screenshot({ path: `${SHOTS}/share-failed.png` });
      throw e;
    });
    await status(teacher, 'connected');
    await waitScreen(teacher, /^>>>\s*$/m);
    await teacher.click('button:text-is("Share with class")');
    await teacher.locator('button:text-is("Stop sharing")').waitFor();

    const student = await signedIn('student1');
    await student.goto(`${stack.webUrl}/follow/${classId}`);
    await status(student, 'connected');
    await teacher.locator('.terminal-host').click();
    await run(teacher, 'print("watch", 7*6)');
    await waitScreen(student, /^watch 42$/m);
    assert.match(await student.locator('.terminal-bar').innerText(), /following Ms\. Teacher/);
    await student.screenshot({ path: `${SHOTS}/follow-along.png` });
  });

  // Last: it stops the host.
  test('a terminal whose host went away says so, stops retrying and offers Retry', { timeout: 120_000 }, async () => {
    const page = await signedIn('student2');
    await openPython(page);
    await new Promise<void>((resolve) => {
      stack.host.process.once('exit', () => resolve());
      stack.host.process.kill('SIGKILL');
    });
    try {
      await status(page, 'reconnecting');
      await status(page, 'offline', 90_000);
      assert.match(await page.locator('[data-testid=status-detail]').innerText(), /the host does not answer|closed the connection/);
      await page.locator('button:text-is("Retry")').waitFor();
      await page.screenshot({ path: `${SHOTS}/terminal-offline.png` });
    } finally {
      // A crashed host's containers are swept by the next host's reconcile: start one and stop it.
      const sweeper = await startStack({ regHome: home, hostPort: 0, web: false, env: { REG_DEMO_PASSWORD: PASSWORD, LOG_LEVEL: 'silent', MEMORY_SAMPLE_SECONDS: '0' } });
      await sweeper.stop();
    }
  });
});
