// The origin's routing of socket.io handshakes (host-router.mjs), without hosts: the routing key a
// handshake URL carries, and where an /admin socket naming a host (?host=<hostId>) goes.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
// @ts-ignore -- plain ESM used by server.mjs; the web app's tsconfig does not take JS (allowJs: false)
import { HostRouter, socketRouteKey } from './host-router.mjs';

function clusterRouter() {
  const r = new HostRouter({ seeds: [new URL('http://127.0.0.1:1')], cluster: true });
  r.hosts = [
    { id: 'host-1', address: 'http://127.0.0.1:4001', status: 'up' },
    { id: 'host-2', address: 'http://127.0.0.1:4002', status: 'up' },
    { id: 'host-3', address: 'http://127.0.0.1:4003', status: 'down' },
  ];
  return r;
}

describe('host-router: ?host=<hostId> on a socket.io handshake', () => {
  test('the key: a well-formed host id is read; a malformed one is ignored like a malformed follow', () => {
    assert.deepEqual(socketRouteKey('/socket.io/?EIO=4&transport=websocket&host=host-2'), { host: 'host-2' });
    assert.deepEqual(socketRouteKey('/socket.io/?EIO=4&transport=websocket&host=..%2Fetc'), {});
    assert.deepEqual(socketRouteKey('/socket.io/?EIO=4&transport=websocket&host='), {});
    assert.deepEqual(socketRouteKey(`/socket.io/?host=${'a'.repeat(129)}`), {});
    // A terminal's container still wins: ?host= only names where an admin dashboard goes.
    assert.deepEqual(socketRouteKey('/socket.io/?container=abc123&host=host-2'), { container: 'abc123' });
  });

  test('a live named host gets the socket, every time (not round robin)', async () => {
    const r = clusterRouter();
    for (let i = 0; i < 4; i++) {
      const { host, settling } = await r.forSocket('/socket.io/?EIO=4&transport=websocket&host=host-2');
      assert.equal(host?.id, 'host-2');
      assert.equal(settling, false);
    }
  });

  test('a down or unknown named host is refused (no host: the origin answers 503), never another host', async () => {
    const r = clusterRouter();
    assert.deepEqual(await r.forSocket('/socket.io/?EIO=4&transport=websocket&host=host-3'), { host: undefined, settling: false });
    assert.deepEqual(await r.forSocket('/socket.io/?EIO=4&transport=websocket&host=host-9'), { host: undefined, settling: false });
  });

  test('without ?host= the /admin socket still goes round robin over the live hosts', async () => {
    const r = clusterRouter();
    const ids = [];
    for (let i = 0; i < 4; i++) ids.push((await r.forSocket('/socket.io/?EIO=4&transport=websocket')).host?.id);
    assert.deepEqual(ids, ['host-1', 'host-2', 'host-1', 'host-2']);
  });

  test('a single host (no cluster) ignores ?host=', async () => {
    const r = new HostRouter({ seeds: [new URL('http://127.0.0.1:4000')], cluster: false });
    assert.equal((await r.forSocket('/socket.io/?host=host-2')).host?.address, 'http://127.0.0.1:4000');
  });
});

describe('host-router: a slow host is not a gone host', () => {
  test("a host that answers the hosts refresh too late stays in the round robin; one that refuses connections is set aside", async () => {
    const { createServer } = await import('node:http');
    // One host that takes 4 s to answer (past the 3 s limit), and an address nobody listens on.
    const slow = createServer((_req, res) => setTimeout(() => res.end('{}'), 4000).unref());
    await new Promise<void>((r) => slow.listen(0, '127.0.0.1', () => r()));
    const slowAddress = `http://127.0.0.1:${(slow.address() as { port: number }).port}`;
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', () => r()));
    const closedAddress = `http://127.0.0.1:${(closed.address() as { port: number }).port}`;
    await new Promise<void>((r) => closed.close(() => r()));
    try {
      const r = new HostRouter({ seeds: [new URL(slowAddress)], cluster: true });
      r.hosts = [
        { id: 'slow', address: slowAddress, status: 'up' },
        { id: 'gone', address: closedAddress, status: 'up' },
        { id: 'other', address: 'http://127.0.0.1:4009', status: 'up' },
      ];
      await r.refresh(); // asks 'slow' (times out), then 'gone' (refused), then 'other' (refused)
      const ids = new Set<string>();
      for (let i = 0; i < 6; i++) ids.add(r.pick()?.id);
      assert.ok(ids.has('slow'), 'the slow host still gets requests');
      assert.ok(!ids.has('gone'), 'the refusing host is set aside');
    } finally {
      slow.closeAllConnections();
      slow.close();
    }
  });
});

describe("host-router: a container's requests go to the host running it, never round robin", () => {
  test('a container seen created is routed there without asking anyone (no host listens here)', async () => {
    const r = clusterRouter();
    r.learn('c-1', 'host-2');
    for (let i = 0; i < 3; i++) assert.equal((await r.forApi('/api/containers/c-1/terminal-token'))?.id, 'host-2');
    assert.equal((await r.forSocket('/socket.io/?EIO=4&transport=websocket&container=c-1')).host?.id, 'host-2');
    // A seed (no cluster view yet) or a malformed id teaches nothing.
    r.learn('c-2', 'seed:127.0.0.1:1');
    r.learn('../x', 'host-1');
    assert.equal(r.routes.has('c:c-2'), false);
    assert.equal(r.routes.has('c:../x'), false);
  });

  test('when no host says where a container runs, its request is refused (LOOKUP_FAILED), not sent round robin', async () => {
    const { createServer } = await import('node:http');
    // host-1 knows c-9 (on host-2); later nobody answers at all.
    let answering = true;
    const asked: string[] = [];
    const srv = createServer((req, res) => {
      asked.push(req.url ?? '');
      if (!answering) return void req.socket.destroy();
      res.setHeader('content-type', 'application/json');
      if (req.url === '/api/cluster/containers/c-9/host') return void res.end(JSON.stringify({ hostId: 'host-2', address: 'http://127.0.0.1:4002', status: 'up' }));
      res.statusCode = 404;
      res.end('{}');
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    const address = `http://127.0.0.1:${(srv.address() as { port: number }).port}`;
    try {
      const r = new HostRouter({ seeds: [new URL(address)], cluster: true, lookupPatienceMs: 1200 });
      r.hosts = [{ id: 'host-1', address, status: 'up' }, { id: 'host-2', address: 'http://127.0.0.1:4002', status: 'up' }];
      assert.equal((await r.forApi('/api/containers/c-9/terminal-token'))?.id, 'host-2');
      assert.equal((await r.forApi('/api/containers/c-9/terminal-token'))?.id, 'host-2');
      assert.equal(asked.filter((u) => u.endsWith('/c-9/host')).length, 1, 'the answer is kept: asked once');
      // An unknown container: the hosts say 404, so any host may answer the request (it says not found).
      assert.ok(await r.forApi('/api/containers/nope/terminal-token'));
      answering = false;
      r.suspect.clear();
      await assert.rejects(r.forApi('/api/containers/c-10/terminal-token'), (e: Error & { code?: string }) => e.code === 'LOOKUP_FAILED' && /c-10/.test(e.message));
      assert.ok(asked.filter((u) => u.endsWith('/c-10/host')).length >= 2, 'asked again while waiting');
    } finally {
      srv.closeAllConnections();
      srv.close();
    }
  });
});

describe("host-router: the origin's log of hosts that stop answering", () => {
  test('a host that stops answering is logged once, not at every refresh, and once more when it answers again; refreshes do not stack', async () => {
    const { createServer } = await import('node:http');
    let answering = true;
    let asked = 0;
    const srv = createServer((req, res) => {
      asked++;
      if (!answering) return void req.socket.destroy();
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ hosts: [{ id: 'host-1', address, status: 'up' }, { id: 'host-2', address: closedAddress, status: 'up' }] }));
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    const address = `http://127.0.0.1:${(srv.address() as { port: number }).port}`;
    // host-2: an address nobody listens on (refused at once).
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', () => r()));
    const closedAddress = `http://127.0.0.1:${(closed.address() as { port: number }).port}`;
    await new Promise<void>((r) => closed.close(() => r()));
    const logged: string[] = [];
    try {
      const r = new HostRouter({ seeds: [new URL(address)], cluster: true, log: (m: string) => logged.push(m) });
      await r.refresh();
      assert.deepEqual(logged, []);
      answering = false;
      for (let i = 0; i < 5; i++) await r.refresh();
      assert.ok(asked >= 6, `every refresh asked (${asked})`);
      // Two silent hosts, each refresh asking both: one line each (alternating reasons used to
      // defeat a last-line check and log two lines every 2 s).
      assert.equal(logged.length, 2, logged.join('\n'));
      assert.match(logged[0]!, new RegExp(`^${address}: socket hang up \\(logged again when it answers\\)$`));
      assert.match(logged[1]!, new RegExp(`^${closedAddress}: .*ECONNREFUSED.* \\(logged again when it answers\\)$`));
      answering = true;
      await r.refresh();
      await r.refresh();
      assert.equal(logged.length, 3, logged.join('\n'));
      assert.match(logged[2]!, new RegExp(`^${address}: answers again after \\d+\\.\\d s \\(last: socket hang up\\)$`));
      // Two ticks while one refresh is still out share it (a slow refresh is not stacked on).
      const a = r.refresh();
      assert.equal(r.refresh(), a);
      await a;
    } finally {
      srv.closeAllConnections();
      srv.close();
    }
  });
});
