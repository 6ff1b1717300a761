// A host restart mid-session, with the built host as a real process: SIGTERM ends every terminal
// (the browser is told, containers removed); SIGKILL leaves them behind, and the next host's
// start-up reconciles: nothing left running, no cgroup, rows closed as host-restart.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Workspaces } from '@reg/core';
// @ts-expect-error: a plain .mjs module without types
import { startStack } from '../../../scripts/stack.mjs';
import { ApiClient, cgroupDirsOf, DEMO_PASSWORD, ensurePythonRet, isRoot, sleep, tempRegHome, TestTerminal } from './test-support/host-fixture.js';

const built = existsSync(new URL('../dist/main.js', import.meta.url));
const skip = !isRoot ? 'needs root (containers)' : !built ? 'needs the built host (npm run build)' : false;

type Host = { host: { pid: number; port: number; socket: string; process: import('node:child_process').ChildProcess }; hostUrl: string; stop: (s?: string) => Promise<void> };

describe('host restarts', { skip }, () => {
  let home: { dir: string; cleanup: () => Promise<void> };
  const hosts: Host[] = [];
  const terminals: TestTerminal[] = [];
  const startHost = async (): Promise<Host> => {
    const h = (await startStack({ regHome: home.dir, hostPort: 0, web: false, env: { REG_DEMO_PASSWORD: DEMO_PASSWORD, LOG_LEVEL: 'silent', MEMORY_SAMPLE_SECONDS: '0' } })) as Host;
    hosts.push(h);
    return h;
  };
  const cgroupGone = (id: string) => cgroupDirsOf(id).length === 0;

  async function openTerminal(h: Host): Promise<{ id: string; t: TestTerminal; api: ApiClient }> {
    const api = await ApiClient.signIn(h.hostUrl, 'student1');
    const id = await api.openPython();
    const t = new TestTerminal(h.hostUrl);
    terminals.push(t);
    assert.equal((await t.attach(id, await api.attachToken(id))).ok, true);
    t.type('print(6*7)\r');
    await t.waitFor(/\r\n42\r\n[\s\S]*>>> $/); // readline may redraw the prompt after a resize
    return { id, t, api };
  }

  before(async () => {
    home = await tempRegHome();
    await ensurePythonRet(home.dir);
  });

  after(async () => {
    for (const t of terminals) t.close();
    for (const h of hosts) await h.stop('SIGKILL');
    await home?.cleanup();
  });

  test('SIGTERM: terminals end with reason shutdown and their containers are removed', async () => {
    const h = await startHost();
    const { id, t } = await openTerminal(h);
    await h.stop('SIGTERM');
    assert.equal(h.host.process.exitCode, 0);
    for (let i = 0; i < 50 && !t.exit; i++) await sleep(20);
    assert.equal(t.exit?.reason, 'shutdown');
    assert.ok(!existsSync(join(home.dir, 'containers', id)));
    assert.ok(cgroupGone(id));
  });

  test('Ctrl-C (SIGINT and SIGTERM at once) with a dozen workspaces mounted: every one is unmounted, the host exits 0 and says how long it took', async () => {
    // Mounted before the host starts, as a class's would be: shutdown unmounts every workspace
    // under its home (eight at a time), not only those its sessions used.
    const ws = await Workspaces.open(home.dir);
    for (let i = 0; i < 12; i++) await ws.ensure({ classId: 'shutdown-class', userId: `u${i}` }, { bytes: 32 * 2 ** 20, inodes: 4096 });
    const mounted = async () => (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').map((l) => l.split(' ')[4] ?? '').filter((m) => m.startsWith(`${ws.root}/`));
    assert.equal((await mounted()).length, 12);
    const h = await startHost();
    let said = '';
    h.host.process.stderr!.on('data', (d) => (said += d));
    const { t } = await openTerminal(h);
    // As Ctrl-C under `npm start` does: the terminal's SIGINT and start.mjs's SIGTERM at once, one request.
    h.host.process.kill('SIGINT');
    await h.stop('SIGTERM');
    assert.equal(h.host.process.exitCode, 0, said);
    assert.deepEqual(await mounted(), [], 'no workspace is left mounted');
    assert.equal(t.exit?.reason ?? (await new Promise((r) => setTimeout(r, 500)), t.exit?.reason), 'shutdown');
    assert.match(said, /SIG(INT|TERM): ending 1 terminal\(s\) and unmounting workspaces \(up to 120 s; a signal again exits at once\)/);
    assert.match(said, /shut down in \d+\.\d s/);
  });

  test('SIGKILL mid-session: the next host closes the orphaned session and leaves nothing running', async () => {
    const h1 = await startHost();
    const { id, t } = await openTerminal(h1);
    assert.ok(!cgroupGone(id), 'a running container has a cgroup');
    await h1.stop('SIGKILL');
    for (let i = 0; i < 100 && t.socket.connected; i++) await sleep(20);
    assert.equal(t.socket.connected, false);
    t.close();

    const h2 = await startHost();
    const api = await ApiClient.signIn(h2.hostUrl, 'student1');
    assert.equal((await api.call('GET', `/api/containers/${id}`)).status, 404);
    assert.equal((await api.call('POST', `/api/containers/${id}/terminal-token`)).status, 404);
    assert.ok(!existsSync(join(home.dir, 'containers', id)));
    assert.ok(cgroupGone(id));
    // A browser coming back is told the terminal is gone, not left hanging.
    const again = new TestTerminal(h2.hostUrl);
    terminals.push(again);
    const r = await again.attach(id, 'stale.token');
    assert.equal(r.ok, false);
    // And the new host works.
    const fresh = await openTerminal(h2);
    assert.notEqual(fresh.id, id);
    await fresh.api.call('DELETE', `/api/containers/${fresh.id}`);
    await h2.stop('SIGTERM');
  });
});
