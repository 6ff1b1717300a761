// The instructor's journey in a real browser (Debian's Chromium via playwright-core) against the
// built web app and host, started as `npm start` would on free ports and a temp REG_HOME: create a
// class, import a roster of 30 with one bad line (named; nothing imported until it is fixed),
// Start class and watch the progress reach 30, students in separate browser contexts write
// hello.py with the shell and run it, end the session and find the file again, a distributed file
// appears in a running terminal, collect a zip; and the API refuses students and TAs outside
// their classes. Screenshots go to /tmp/shots/.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildFromHost, regHome } from '@reg/core';
import { type Browser, type BrowserContext, type Page } from 'playwright-core';
// @ts-expect-error: a plain .mjs module without types
import { removeHome, startStack } from '../scripts/stack.mjs';
import { PASSWORD, SHOTS, freePort, launchChromium, skipReason, waitScreen } from './browser-support.js';

const why = skipReason;
if (why) console.log(`e2e skipped: ${why}`);

type Stack = { host: { pid: number; socket: string }; webUrl: string; stop: () => Promise<void> };

async function typeLine(page: Page, line: string): Promise<void> {
  await page.keyboard.type(line);
  await page.keyboard.press('Enter');
}

/** An API call from the page (its session cookie), as a script in the browser could make it. */
async function apiFrom(page: Page, method: string, path: string, body?: unknown): Promise<{ status: number; json: any; bytes: number[] }> {
  return page.evaluate(
    async ({ method, path, body }) => {
      const res = await fetch(path, { method, credentials: 'same-origin', ...(body !== undefined && { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }) });
      const buf = new Uint8Array(await res.arrayBuffer());
      let json: unknown = null;
      try {
        json = JSON.parse(new TextDecoder().decode(buf));
      } catch {
        // binary
      }
      return { status: res.status, json, bytes: res.headers.get('content-type') === 'application/zip' ? Array.from(buf) : [] };
    },
    { method, path, body },
  );
}

describe('the instructor journey', { skip: why }, () => {
  let home: string;
  let stack: Stack;
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  let classId = '';

  async function signedIn(username: string): Promise<Page> {
    const ctx = await browser.newContext({ viewport: { width: 1200, height: 900 } });
    contexts.push(ctx);
    const page = await ctx.newPage();
    await page.goto(`${stack.webUrl}/sign-in`);
    await page.fill('input[name=username]', username);
    await page.fill('input[name=password]', PASSWORD);
    await page.click('button[type=submit]');
    await page.waitForURL(`${stack.webUrl}/`);
    return page;
  }

  async function openClassTerminal(page: Page): Promise<string> {
    await page.goto(`${stack.webUrl}/`);
    await page.locator('li[data-class="E2E Python"] button', { hasText: 'Open terminal' }).click();
    await page.waitForURL(/\/terminal\/[0-9a-f]{12}$/, { timeout: 30_000 });
    await waitScreen(page, /\$\s*$/m);
    return page.url().split('/').pop()!;
  }

  before(async () => {
    mkdirSync(SHOTS, { recursive: true });
    home = await mkdtemp(join(tmpdir(), 'reg-e2e-classroom-'));
    // python and a bash RET built from this machine: quick, and no download (the tools@1 toolbox
    // from Debian packages is what `npm start` gives a class; any shell serves this journey).
    await buildFromHost(regHome(home), '/usr/bin/python3.11');
    await buildFromHost(regHome(home), '/usr/bin/bash');
    stack = await startStack({ regHome: home, port: await freePort(), hostPort: await freePort(), env: { REG_DEMO_PASSWORD: PASSWORD, LOG_LEVEL: 'silent', MEMORY_SAMPLE_SECONDS: '0' }, webBind: '127.0.0.1' });
    browser = await launchChromium();
  });

  after(async () => {
    for (const c of contexts) await c.close().catch(() => {});
    await browser?.close();
    await stack?.stop();
    if (home) await removeHome(home);
  });

  test('create a class, import 30 students (a bad line first), start it, students write and keep hello.py, distribute and collect', async () => {
    const teacher = await signedIn('teacher');
    await teacher.locator('#my-classes').waitFor();
    await teacher.screenshot({ path: `${SHOTS}/classroom-start-teacher.png` });
    await teacher.goto(`${stack.webUrl}/teach`);
    await teacher.fill('input[name=name]', 'E2E Python');
    await teacher.selectOption('select[name=ret]', { label: /python/ } as never).catch(async () => teacher.selectOption('select[name=ret]', { index: 0 }));
    await teacher.screenshot({ path: `${SHOTS}/classroom-teach.png`, fullPage: true });
    await teacher.click('button:has-text("Create class")');
    await teacher.waitForURL(/\/teach\/[0-9a-f-]{36}$/);
    classId = teacher.url().split('/').pop()!;
    await teacher.locator('h1', { hasText: 'E2E Python' }).waitFor();

    // A roster of 30 with one bad line: named, nothing imported.
    const students = [...Array.from({ length: 28 }, (_, i) => `s${String(i + 1).padStart(2, '0')},Student ${i + 1},`), 'student1,Student One,', 'student2,Student Two,'];
    const bad = ['username,display name,email', ...students.slice(0, 15), 'bad user!,Oops,', ...students.slice(15)];
    await teacher.setInputFiles('input[name=roster]', { name: 'roster.csv', mimeType: 'text/csv', buffer: Buffer.from(bad.join('\n')) });
    await teacher.click('button:has-text("Import")');
    const problem = await teacher.locator('ul.issues li').first().innerText();
    assert.match(problem, /line 17: username/);
    assert.match(await teacher.locator('.error[role=alert] p').innerText(), /nothing was imported/);
    await teacher.screenshot({ path: `${SHOTS}/classroom-roster-error.png`, fullPage: true });
    assert.equal((await apiFrom(teacher, 'GET', `/api/classes/${classId}/members`)).json.length, 1, 'only the instructor');

    await teacher.setInputFiles('input[name=roster]', { name: 'roster.csv', mimeType: 'text/csv', buffer: Buffer.from(['username,display name,email', ...students].join('\n')) });
    await teacher.click('button:has-text("Import")');
    await teacher.locator('.imported .ok').waitFor();
    assert.match(await teacher.locator('.imported .ok').innerText(), /28 new accounts, 2 existing users enrolled/);
    assert.equal(await teacher.locator('table.credentials tr').count(), 28);
    await teacher.screenshot({ path: `${SHOTS}/classroom-roster-imported.png`, fullPage: true });

    // Start class and watch it reach 30.
    await teacher.click('button:has-text("Start class")');
    await teacher.locator('[data-testid=run-progress]', { hasText: '30 of 30 ready' }).waitFor({ timeout: 180_000 });
    await teacher.locator('.run-started').waitFor({ timeout: 10_000 });
    // The roster follows: every student's workspace was made by the start (a download link, no
    // "none yet"), the instructor's row has no workspace to offer.
    await teacher.locator('table.roster tr[data-username="student2"] td:nth-child(4) a', { hasText: /download|KiB|MiB/ }).waitFor({ timeout: 10_000 });
    assert.equal(await teacher.locator('table.roster td', { hasText: 'none yet' }).count(), 0, 'no student is shown without a workspace after Start class');
    assert.equal(await teacher.locator('table.roster tr[data-username="teacher"] td:nth-child(4)').innerText(), '—');
    await teacher.screenshot({ path: `${SHOTS}/classroom-started.png`, fullPage: true });

    // Two students in their own browsers.
    const [s1, s2] = [await signedIn('student1'), await signedIn('student2')];
    await s1.locator('li[data-class="E2E Python"]').waitFor();
    await s1.screenshot({ path: `${SHOTS}/classroom-student-start.png`, fullPage: true });
    const t1 = await openClassTerminal(s1);
    await typeLine(s1, `printf 'print(6*7)\\n' > hello.py`);
    await typeLine(s1, 'python3 hello.py');
    await waitScreen(s1, /^42$/m);
    await s1.screenshot({ path: `${SHOTS}/classroom-student-terminal.png` });
    const t2 = await openClassTerminal(s2);
    await typeLine(s2, `printf 'print("two")\\n' > hello.py; python3 hello.py`);
    await waitScreen(s2, /^two$/m);

    // End student1's session and come back: the file is there.
    assert.equal((await apiFrom(s1, 'DELETE', `/api/containers/${t1}`)).status, 200);
    const again = await openClassTerminal(s1);
    assert.notEqual(again, t1);
    await typeLine(s1, 'echo "[$(<hello.py)]"');
    await waitScreen(s1, /^\[print\(6\*7\)\]$/m);

    // Distribute from the class page: student2's running terminal sees it at once.
    await teacher.setInputFiles('input[aria-label="file to distribute"]', { name: 'task1.txt', mimeType: 'text/plain', buffer: Buffer.from('Task 1: print your name\n') });
    await teacher.click('button:has-text("Put in every workspace")');
    assert.match(await teacher.locator('section[aria-labelledby=distribute] p.ok').innerText(), /task1\.txt .* is now in 30 workspaces/);
    await typeLine(s2, 'echo *');
    await waitScreen(s2, /hello\.py task1\.txt/);

    // Collect hello.py: one folder per student.
    const zip = await apiFrom(teacher, 'GET', `/api/classes/${classId}/collect?path=hello.py`);
    assert.equal(zip.status, 200);
    const file = join(home, 'collected.zip');
    writeFileSync(file, Buffer.from(zip.bytes));
    const names = spawnSync('unzip', ['-Z1', file], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
    assert.ok(names.includes('student1/hello.py') && names.includes('student2/hello.py'), names.join(','));
    assert.equal(spawnSync('unzip', ['-p', file, 'student2/hello.py'], { encoding: 'utf8' }).stdout, 'print("two")\n');

    // Walls: another class, another student's workspace, a TA outside their class.
    const demo = (await apiFrom(teacher, 'GET', '/api/classes')).json.find((c: { name: string }) => c.name === 'Intro to Python');
    const s2Id = (await apiFrom(teacher, 'GET', `/api/classes/${classId}/members`)).json.find((m: { username: string }) => m.username === 'student2').userId;
    const s3 = await signedIn('ta1');
    if (demo) {
      const outsider = await apiFrom(s2, 'GET', `/api/classes/${demo.id}/members`);
      assert.equal(outsider.status, 403, 'student2 is a student of the demo class: not its roster');
    }
    const otherTeacher = (await apiFrom(s3, 'GET', `/api/classes/${classId}`)).status;
    assert.equal(otherTeacher, 404, 'ta1 assists the demo class, not this one');
    assert.equal((await apiFrom(s3, 'GET', `/api/classes/${classId}/members`)).status, 404);
    assert.equal((await apiFrom(s1, 'GET', `/api/classes/${classId}/workspaces/${s2Id}`)).status, 403);
    assert.equal((await apiFrom(s1, 'POST', `/api/classes/${classId}/start`)).status, 403);
    // The class page is for its staff: a student sees a short note, no staff sections, no error.
    const s1Class = await s1.context().newPage();
    await s1Class.goto(`${stack.webUrl}/teach/${classId}`);
    await s1Class.getByText("This page is for the class's instructors and TAs.").waitFor({ timeout: 10_000 });
    assert.equal(await s1Class.locator('.error, section.card, a:has-text("Live class view")').count(), 0, 'no staff sections for a student');
    await s1Class.screenshot({ path: `${SHOTS}/classroom-student-class-page.png` });
    await s1Class.close();
    assert.equal((await apiFrom(s1, 'GET', `/api/containers/${t2}`)).status, 404);

    // Stop class: the students' sessions end and their files stay.
    await teacher.click('button:has-text("Stop class")');
    await teacher.locator('.run-stopped').waitFor({ timeout: 30_000 });
    await teacher.screenshot({ path: `${SHOTS}/classroom-stopped.png`, fullPage: true });
    const back = await openClassTerminal(s2);
    assert.ok(back);
    await typeLine(s2, 'echo "[$(<hello.py)]"');
    await waitScreen(s2, /^\[print\("two"\)\]$/m);
  });
});
