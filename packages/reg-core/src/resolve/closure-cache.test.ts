// Concurrent first starts of one RET on a fresh REG_HOME (a class's rush) each resolve and cache
// its closure: every one must succeed, and no temp file may be left behind.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { addRet } from '../ret/add.js';
import { tempHome } from '../test-support/temp-home.js';
import { materialise } from './materialise.js';

test('concurrent first materialisations of one RET all succeed and leave one closure cache file', async (t) => {
  const home = tempHome();
  t.after(home.cleanup);
  const root = join(home.root, 'host');
  mkdirSync(join(root, 'usr/bin'), { recursive: true });
  writeFileSync(join(root, 'usr/bin/tool'), '#!/bin/sh\necho tool\n', { mode: 0o755 });
  const file = join(home.root, 'tool.yaml');
  writeFileSync(file, 'name: tool\nversion: "1.0"\nfiles:\n  tool: /usr/bin/tool\n');
  await addRet(home, file, { root });

  const results = await Promise.allSettled(Array.from({ length: 32 }, () => materialise(home, 'tool@1')));
  const failed = results.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason));
  assert.deepEqual(failed, []);
  const lowerdirs = new Set(results.map((r) => JSON.stringify((r as PromiseFulfilledResult<{ lowerdirs: string[] }>).value.lowerdirs)));
  assert.equal(lowerdirs.size, 1, 'every caller got the same layers');
  assert.deepEqual(readdirSync(home.closures).filter((n) => n.endsWith('.tmp')), []);
});
