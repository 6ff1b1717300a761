// One classroom over three sandbox hosts, in Chromium, through the web app's one origin
// (scripts/cluster.mjs: PostgreSQL, three hosts on their own loopback addresses, REG_HOMEs and
// cgroup parents, a shared workspace directory, the web origin routing each socket to its host):
// the instructor presses Start class and the six students are prepared on the three hosts; they
// open terminals (each taking what their host prepared), each writes a file; the instructor's
// live view (its socket on whichever host the origin picked) shows all six; the instructor
// observes a student on another host; then one host is killed (SIGKILL) mid-class: its students
// read that their host stopped, the others keep typing, and "Open terminal" again gives the
// killed host's students a prompt on another host with their file intact; the admin's Hosts page
// lists the three hosts (that one down) and opens a live host's memory dashboard. Screenshots: /tmp/shots/.

import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { type Browser, type BrowserContext, type Page } from 'playwright-core';
import { mkdtemp } from 'node:fs/promises';
import pg from 'pg';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
// @ts-expect-error: a plain .mjs module without types
import { removeHome } from '../scripts/stack.mjs';
import { SHOTS, freePort, launchChromium, screen, skipReason, waitScreen } from './browser-support.js';

type Cluster = {
  webUrl: string;
  databaseUrl: string;
  dir: string;
  hosts: Array<{ id: string; address: string; pid: number; regHome: string }>;
  demo: { password: string };
  kill: (i: number) => Promise<void>;
  stop: () => Promise<void>;
};

const clusterScript = new URL('../scripts/cluster.mjs', import.meta.url);
const why = skipReason;
if (why) console.log(`e2e skipped: ${why}`);

const STUDENTS = 6;

async function status(page: Page, want: string, timeoutMs = 30_000): Promise<void> {
  await page.locator(`[data-testid=status]:text-is("${want}")`).waitFor({ timeout: timeoutMs });
}

async function run(page: Page, line: string): Promise<void> {
  await page.keyboard.type(line);
  await page.keyboard.press('Enter');
}

describe('one class across three hosts', { skip: why, timeout: 15 * 60_000 }, () => {
  let cluster: Cluster;
  let sql: pg.Client;
  let dir = '';
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  let password = '';
  let classId = '';
  let teacherToken = '';

  async function api(method: string, path: string, opts: { token?: string; body?: unknown; csv?: string } = {}): Promise<{ status: number; json: any }> {
    const headers: Record<string, string> = {};
    if (opts.token) headers.authorization = `Bearer ${opts.token}`;
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    if (opts.csv !== undefined) headers['content-type'] = 'text/csv';
    const res = await fetch(`${cluster.webUrl}${path}`, { method, headers, ...(opts.body !== undefined && { body: JSON.stringify(opts.body) }), ...(opts.csv !== undefined && { body: opts.csv }) });
    return { status: res.status, json: await res.json().catch(() => null) };
  }

  async function signedIn(username: string, pw: string): Promise<Page> {
    const ctx = await browser.newContext({ viewport: { width: 1200, height: 760 } });
    contexts.push(ctx);
    const page = await ctx.newPage();
    await page.goto(`${cluster.webUrl}/sign-in`);
    await page.fill('input[name=username]', username);
    await page.fill('input[name=password]', pw);
    await page.click('button[type=submit]');
    await page.waitForURL(`${cluster.webUrl}/`);
    return page;
  }

  async function openClassTerminal(page: Page, who: string): Promise<string> {
    await page.goto(`${cluster.webUrl}/`);
    await page.locator('li[data-class="Cluster class"] button', { hasText: 'Open terminal' }).click();
    await page.waitForURL(/\/terminal\/[0-9a-f]{12}$/, { timeout: 120_000 }).catch(async (e) => {
      await page.screenshot({ path: `${SHOTS}/cluster-open-failed-${who}.png`, fullPage: true });
      const alerts = await page.locator('[role=alert]').allInnerTexts().catch(() => []);
      throw new Error(`${who}: Open terminal did not reach a terminal page (${alerts.join(' | ') || 'no alert'}): ${(e as Error).message.split('\n')[0]}`);
    });
    await status(page, 'connected', 60_000);
    await waitScreen(page, /\$\s*$/m, 30_000);
    return page.url().split('/').pop()!;
  }

  /** The host running a container, as the cluster records it (its database; browsers never see host ids). */
  async function hostOf(containerId: string, _token?: string): Promise<string> {
    const r = await sql.query('SELECT "hostId" FROM "Container" WHERE id = $1', [containerId]);
    assert.ok(r.rows[0]?.hostId, `container ${containerId} has a host`);
    return r.rows[0].hostId as string;
  }

  before(async () => {
    mkdirSync(SHOTS, { recursive: true });
    const { startCluster } = (await import(clusterScript.href)) as { startCluster: (o: Record<string, unknown>) => Promise<Cluster> };
    dir = await mkdtemp(join(tmpdir(), 'reg-e2e-cluster-'));
    // As `npm run cluster -- --hosts 3` starts it, on free ports, hosts refusing anything but the origin.
    cluster = await startCluster({ hosts: 3, dir, fresh: true, port: await freePort(), hostPort: 0, webBind: '127.0.0.1', env: { REG_CLUSTER_ORIGIN_ONLY: '1', LOG_LEVEL: 'silent', MEMORY_SAMPLE_SECONDS: '0', IDLE_TIMEOUT_SECONDS: '0' } });
    password = cluster.demo.password;
    sql = new pg.Client({ connectionString: cluster.databaseUrl });
    await sql.connect();
    browser = await launchChromium();
  });

  after(async () => {
    for (const c of contexts) await c.close().catch(() => {});
    await browser?.close();
    await sql?.end().catch(() => {});
    await cluster?.stop();
    if (dir) await removeHome(dir);
  });

  test('students spread over hosts, the live view shows all, a host dies and its students reopen elsewhere with their files', async () => {
    assert.equal(cluster.hosts.length, 3);
    const teacherSign = await api('POST', '/api/auth/sign-in', { body: { username: 'teacher', password } });
    assert.equal(teacherSign.status, 200, JSON.stringify(teacherSign.json));
    teacherToken = teacherSign.json.token;
    // The demo class's environment (python and the toolbox host 1 built), for a new class.
    const demo = ((await api('GET', '/api/classes', { token: teacherToken })).json as Array<{ environment: { ret: string; tools: string[] } }>)[0]!;
    const created = await api('POST', '/api/classes', { token: teacherToken, body: { name: 'Cluster class', ret: demo.environment.ret, tools: demo.environment.tools } });
    assert.equal(created.status, 201, JSON.stringify(created.json));
    classId = created.json.id;
    const csv = Array.from({ length: STUDENTS }, (_, i) => `cl${i},Cluster Student ${i},`).join('\n');
    const roster = await api('POST', `/api/classes/${classId}/roster`, { token: teacherToken, csv });
    assert.equal(roster.status, 200, JSON.stringify(roster.json));
    // Each student replaces the one-time password first (as the first sign-in asks).
    const students: Array<{ username: string; password: string; token: string }> = [];
    for (const c of roster.json.created as Array<{ username: string; password: string }>) {
      const s = await api('POST', '/api/auth/sign-in', { body: { username: c.username, password: c.password } });
      const pw = `Cluster-${c.password}-x`;
      assert.equal((await api('POST', '/api/auth/password', { token: s.json.token, body: { newPassword: pw } })).status, 200);
      const again = await api('POST', '/api/auth/sign-in', { body: { username: c.username, password: pw } });
      students.push({ username: c.username, password: pw, token: again.json.token });
    }

    // The instructor presses Start class (the click reaches whichever host the origin picks): every
    // student is placed and prepared on their host, the class spread over the three.
    const teacher = await signedIn('teacher', password);
    await teacher.goto(`${cluster.webUrl}/teach/${classId}`);
    await teacher.click('button:has-text("Start class")');
    await teacher.locator('[data-testid=run-progress]', { hasText: `${STUDENTS} of ${STUDENTS} ready` }).waitFor({ timeout: 180_000 });
    await teacher.screenshot({ path: `${SHOTS}/cluster-started.png`, fullPage: true });
    const preparedRows = (await sql.query('SELECT id, "ownerId", "hostId" FROM "Container" WHERE "classId" = $1 AND status <> \'removed\'', [classId])).rows as Array<{ id: string; ownerId: string; hostId: string }>;
    const preparedOn = new Map<string, number>();
    for (const r of preparedRows) preparedOn.set(r.hostId, (preparedOn.get(r.hostId) ?? 0) + 1);
    console.log(`# Start class prepared: ${JSON.stringify(Object.fromEntries(preparedOn))}`);
    assert.equal(preparedRows.length, STUDENTS);
    assert.equal(preparedOn.size, 3, `Start class spread the class over the three hosts: ${JSON.stringify(Object.fromEntries(preparedOn))}`);

    // Every student opens a terminal in the browser (taking what their host prepared) and writes a
    // file into their workspace.
    const pages = new Map<string, { page: Page; containerId: string; hostId: string }>();
    for (const s of students) {
      const page = await signedIn(s.username, s.password);
      const containerId = await openClassTerminal(page, s.username);
      assert.ok(preparedRows.some((r) => r.id === containerId), `${s.username}'s click took the container prepared for them`);
      await run(page, `echo kept-by-${s.username} > keep.txt; cat keep.txt`);
      await waitScreen(page, new RegExp(`^kept-by-${s.username}$`, 'm'));
      pages.set(s.username, { page, containerId, hostId: await hostOf(containerId, s.token) });
    }
    const spread = new Map<string, string[]>();
    for (const [u, p] of pages) spread.set(p.hostId, [...(spread.get(p.hostId) ?? []), u]);
    console.log(`# placement: ${JSON.stringify(Object.fromEntries(spread))}`);
    assert.ok(spread.size >= 2, `students are spread over hosts: ${JSON.stringify(Object.fromEntries(spread))}`);

    // The instructor's live view shows all of them connected, whichever host its socket is on.
    await teacher.goto(`${cluster.webUrl}/teach/${classId}/live`);
    for (const s of students) await teacher.locator(`tr[data-user=${s.username}] [data-testid=state]:text-is("connected")`).waitFor({ timeout: 30_000 });
    await teacher.screenshot({ path: `${SHOTS}/cluster-live-view.png`, fullPage: true });

    // Observe a student: the origin routes the observer's socket to that student's host.
    const [first] = students;
    const watched = pages.get(first!.username)!;
    await teacher.locator(`tr[data-user=${first!.username}] a:text-is("Observe")`).click();
    await status(teacher, 'connected');
    await run(watched.page, 'echo seen-by-the-instructor');
    await waitScreen(teacher, /^seen-by-the-instructor$/m);

    // Kill the host holding the most students (but not every student).
    const [victim, victims] = [...spread.entries()].sort((a, b) => b[1].length - a[1].length)[0]!;
    const victimIndex = cluster.hosts.findIndex((h) => h.id === victim);
    assert.ok(victimIndex >= 0, `host ${victim} is one of the cluster's`);
    const survivors = students.filter((s) => !victims.includes(s.username));
    assert.ok(survivors.length > 0);
    const killedAt = Date.now();
    await cluster.kill(victimIndex);

    // Its students read why, in words; nobody else is disturbed.
    for (const u of victims) {
      const { page } = pages.get(u)!;
      await status(page, 'ended', 90_000);
      assert.match(await page.locator('[data-testid=status-detail]').innerText(), /sandbox host stopped/);
    }
    await pages.get(victims[0]!)!.page.screenshot({ path: `${SHOTS}/cluster-host-stopped.png` });
    for (const s of survivors) {
      const { page } = pages.get(s.username)!;
      await run(page, 'echo still-here');
      await waitScreen(page, /^still-here$/m);
    }

    // They open a terminal again: another host, their file intact.
    for (const u of victims) {
      const { page } = pages.get(u)!;
      const containerId = await openClassTerminal(page, `${u}-again`);
      const s = students.find((x) => x.username === u)!;
      const hostId = await hostOf(containerId, s.token);
      assert.notEqual(hostId, victim, `${u} lands on a live host`);
      await run(page, 'cat keep.txt');
      await waitScreen(page, new RegExp(`^kept-by-${u}$`, 'm'));
    }
    console.log(`# host death → every student of it back at a prompt elsewhere: ${((Date.now() - killedAt) / 1000).toFixed(1)} s (informational; includes the browser steps)`);
    await teacher.goto(`${cluster.webUrl}/teach/${classId}/live`);
    for (const s of students) await teacher.locator(`tr[data-user=${s.username}] [data-testid=state]:text-is("connected")`).waitFor({ timeout: 30_000 });
    await teacher.screenshot({ path: `${SHOTS}/cluster-live-view-after.png`, fullPage: true });
    assert.doesNotMatch(await screen(pages.get(victims[0]!)!.page), /Traceback/);

    // The admin runs the hosts: /admin/hosts lists all three (the killed one down), and Watch
    // memory on a live one opens that host's dashboard (the origin routes its socket there).
    const admin = await signedIn('admin', password);
    await admin.goto(`${cluster.webUrl}/admin/hosts`);
    await admin.locator(`table[aria-label="sandbox hosts"] tr[data-host="${victim}"][data-status=down]`).waitFor({ timeout: 30_000 });
    assert.equal(await admin.locator('table[aria-label="sandbox hosts"] tbody tr').count(), 3);
    assert.equal(await admin.locator('table[aria-label="sandbox hosts"] tbody tr[data-status=up]').count(), 2);
    assert.equal(await admin.locator(`tr[data-host="${victim}"] a`, { hasText: 'Watch memory' }).count(), 0, 'a down host has no dashboard to watch');
    await admin.screenshot({ path: `${SHOTS}/cluster-admin-hosts.png`, fullPage: true });
    const watchedHost = await admin.locator('tbody tr[data-status=up]').last().getAttribute('data-host');
    await admin.locator(`tr[data-host="${watchedHost}"] a`, { hasText: 'Watch memory' }).click();
    await admin.waitForURL(`${cluster.webUrl}/admin?host=${watchedHost}`);
    await admin.locator('[data-figure=host-total]').waitFor({ timeout: 20_000 });
    assert.equal(await admin.locator('[data-testid=watching-host]').innerText(), `Host ${watchedHost} · all hosts`);
    // The figures are that host's own: every container listed runs there (as the database says).
    await admin.locator('tr[data-container]').first().waitFor({ timeout: 20_000 });
    const listed = await admin.locator('tr[data-container]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-container')!));
    for (const id of listed) assert.equal(await hostOf(id), watchedHost, `container ${id} on ${watchedHost}'s dashboard`);
    await admin.screenshot({ path: `${SHOTS}/cluster-admin-watch-host.png`, fullPage: true });
  });
});
