// The restart policy for detached containers: a running one is re-adopted by the next host (it
// keeps running) until its lifetime is over, then stopped; a stopped one past the grace is
// removed with its disk volume.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { RunningHost } from '../host.js';
import { createLog } from '../log.js';
import { adminCall, ensurePythonRet, isRoot, startTestHost, tempRegHome } from '../test-support/host-fixture.js';
import { reconcileOnStart, stopExpired } from './reconcile-on-start.js';

const skip = isRoot ? false : 'needs root (namespaces, cgroups, loop mounts)';

describe('detached containers across a host restart', { skip }, () => {
  let home: { dir: string; cleanup: () => Promise<void> };
  let host: RunningHost & { base: string };

  before(async () => {
    home = await tempRegHome();
    await ensurePythonRet(home.dir);
  });

  after(async () => {
    await host?.close();
    await home?.cleanup();
  });

  test('re-adopted while running, stopped past its lifetime; a stopped orphan is removed', async () => {
    host = await startTestHost(home.dir);
    const mk = async (code: string) => {
      const r = await adminCall(host, 'POST', '/api/containers', { ret: 'python@3.11', terminal: false, command: ['/usr/bin/python3.11', '-c', code] });
      assert.equal(r.status, 201, JSON.stringify(r.json));
      assert.equal((await adminCall(host, 'POST', `/api/containers/${r.json.id}/start`)).status, 200);
      return r.json.id as string;
    };
    const long = await mk('import time; time.sleep(300)');
    const short = await mk('pass');
    await host.close();

    host = await startTestHost(home.dir);
    assert.equal((await host.engine.inspect(long)).status, 'running', 're-adopted: still running');
    const log = createLog('silent');
    // The short one has stopped; past the grace a restart removes it (and its volume).
    await reconcileOnStart(host.engine, host.db, log, { orphanGraceMs: 0 });
    assert.ok(!existsSync(join(home.dir, 'containers', short)));
    assert.equal((await host.db.container.findUnique({ where: { id: short } }))?.endReason, 'host-restart');
    assert.equal((await host.engine.inspect(long)).status, 'running');
    // Its lifetime over, the long one is stopped.
    assert.deepEqual(await stopExpired(host.engine, host.db, log, 0), [long]);
    assert.equal((await host.engine.inspect(long)).status, 'stopped');
    assert.equal((await host.db.container.findUnique({ where: { id: long } }))?.endReason, 'lifetime');
    await host.engine.remove(long);
  });
});
