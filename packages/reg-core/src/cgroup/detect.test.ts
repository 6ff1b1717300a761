import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isRegError } from '../errors.js';
import { detectCgroupDriver, detectCgroupVersion } from './detect.js';

const temps: string[] = [];
after(async () => {
  for (const t of temps) await rm(t, { recursive: true, force: true });
});

async function tempRoot(): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'reg-detect-'));
  temps.push(root);
  return root;
}

describe('detectCgroupDriver', () => {
  it('picks v2 when the root has cgroup.controllers', async () => {
    const root = await tempRoot();
    await writeFile(join(root, 'cgroup.controllers'), 'cpu memory pids\n');
    assert.equal(await detectCgroupVersion({ root }), 2);
  });

  it('picks v1 for a hybrid layout (v1 memory plus an empty unified mount)', async () => {
    const root = await tempRoot();
    await mkdir(join(root, 'memory'));
    await writeFile(join(root, 'memory', 'cgroup.procs'), '');
    await mkdir(join(root, 'unified'));
    await writeFile(join(root, 'unified', 'cgroup.controllers'), '');
    const driver = await detectCgroupDriver({ root });
    assert.equal(driver.version, 1);
  });

  it('honours an explicit version', async () => {
    const root = await tempRoot();
    assert.equal((await detectCgroupDriver({ root, version: 2 })).version, 2);
  });

  it('fails with CGROUP_FAILED and a hint when there is no hierarchy', async () => {
    const root = await tempRoot();
    await assert.rejects(detectCgroupDriver({ root }), (e) => isRegError(e, 'CGROUP_FAILED') && !!e.hint);
  });

  it('recognises this host', async (t) => {
    const version = await detectCgroupVersion().catch(() => undefined);
    t.diagnostic(`host cgroup version: ${version ?? 'none'}`);
    assert.ok(version === undefined || version === 1 || version === 2);
  });
});
