// The origin-only guard on a real HTTP listener: what a browser going around the web app gets
// (403 naming the way in), what a request the origin signed gets (through), and what one that
// waited past the signature's window gets (503 REQUEST_STALE, retried, not a misleading 403);
// a stale header signed with another key is still a forgery (403).

import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadOrCreateClusterSecret } from './cluster-secret.js';
import { originCheck, originOnlyListener } from './origin-guard.js';
import { CLUSTER_HEADER, REQUEST_WINDOW_MS, requestKey, signClusterRequest } from './request-auth.js';

describe('the origin-only guard', () => {
  let dir: string;
  let server: Server;
  let base: string;
  let key: Buffer;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'reg-origin-guard-'));
    const file = join(dir, 'cluster-secret');
    key = requestKey(await loadOrCreateClusterSecret(file, { create: true }));
    server = createServer(originOnlyListener((_req, res) => res.end('{"ok":true}'), await originCheck(file)));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(async () => {
    await new Promise((r) => server.close(r));
    await rm(dir, { recursive: true, force: true });
  });

  const get = async (path: string, header?: string) => {
    const res = await fetch(`${base}${path}`, header ? { headers: { [CLUSTER_HEADER]: header } } : {});
    return { status: res.status, retryAfter: res.headers.get('retry-after'), body: (await res.json()) as { ok?: true; error?: { code: string; message: string } } };
  };

  test('a request the origin signed just now goes through; /metrics is left open', async () => {
    assert.deepEqual((await get('/api/classes', signClusterRequest(key, 'web', 'GET', '/api/classes'))).body, { ok: true });
    assert.equal((await get('/metrics')).status, 200);
  });

  test('a browser going around the origin is refused with the way in', async () => {
    const r = await get('/api/classes');
    assert.equal(r.status, 403);
    assert.equal(r.body.error?.code, 'FORBIDDEN');
    assert.match(r.body.error!.message, /reached through the web app's address/);
  });

  test('a request signed for another path is a forgery', async () => {
    const r = await get('/api/classes', signClusterRequest(key, 'web', 'GET', '/api/admin/users'));
    assert.equal(r.status, 403);
    assert.match(r.body.error!.message, /signature does not match/);
  });

  test('a request the origin signed that waited past the window is answered 503 REQUEST_STALE, to retry', async () => {
    const waited = signClusterRequest(key, 'web', 'GET', '/api/classes', Date.now() - REQUEST_WINDOW_MS - 15_000);
    const r = await get('/api/classes', waited);
    assert.equal(r.status, 503);
    assert.equal(r.retryAfter, '2');
    assert.equal(r.body.error?.code, 'REQUEST_STALE');
    assert.match(r.body.error!.message, /read the request too late .*45 s off this host's clock.*overloaded, or its clock is far/);
  });

  test('an old header signed with another key is still a forgery (403), not "stale"', async () => {
    const r = await get('/api/classes', signClusterRequest(Buffer.alloc(32), 'web', 'GET', '/api/classes', Date.now() - 10 * REQUEST_WINDOW_MS));
    assert.equal(r.status, 403);
    assert.match(r.body.error!.message, /signature does not match/);
  });
});
