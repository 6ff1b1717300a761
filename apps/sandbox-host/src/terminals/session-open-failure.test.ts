// A terminal whose container vanished before it started (removed by a failover's reaping, or by an
// administrator, between "generated" and "start"): the open fails with the engine's error, the
// host keeps running (no unhandled rejection while the bar's description is still being read),
// and no session is left behind to count against the student's terminal cap.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { ContainerState } from '@reg/core';
import type { RunningHost } from '../host.js';
import { ensurePythonRet, isRoot, startTestHost, tempRegHome } from '../test-support/host-fixture.js';

const skip = isRoot ? false : 'needs root (namespaces, cgroups, overlay mounts)';

describe('opening a terminal whose container is gone', { skip }, () => {
  let home: Awaited<ReturnType<typeof tempRegHome>>;
  let host: (RunningHost & { base: string }) | undefined;
  const unhandled: unknown[] = [];
  const onUnhandled = (e: unknown) => unhandled.push(e);

  before(async () => {
    home = await tempRegHome();
    await ensurePythonRet(home.dir);
    host = await startTestHost(home.dir, { TERMINAL_POOL_MAX: '0' });
    process.on('unhandledRejection', onUnhandled);
  });

  after(async () => {
    process.off('unhandledRejection', onUnhandled);
    await host?.close();
    await home?.cleanup();
  });

  test('fails with CONTAINER_NOT_FOUND, nothing unhandled, no session left', async () => {
    for (let i = 0; i < 20; i++) {
      const state = await host!.engine.generate({ ret: 'python@3.11', tty: true });
      await host!.engine.remove(state.id, { force: true });
      await assert.rejects(host!.sessions.open(state as ContainerState, null), (e: unknown) => (e as { code?: string }).code === 'CONTAINER_NOT_FOUND');
      assert.equal(host!.sessions.get(state.id), undefined, 'no session is left for a container that never started');
    }
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(unhandled, []);
    assert.equal(host!.sessions.size, 0);
  });
});
