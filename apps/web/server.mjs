#!/usr/bin/env node
// The web app's one origin: Next.js behind a small Node server that also forwards /api/* and the
// socket.io endpoint (/socket.io/, websocket upgrades included) to the Reg host on loopback. So a
// browser only ever talks to the address it loaded the page from, and a classroom reached from
// another machine on the LAN works (the host itself stays on 127.0.0.1).
//
// Env: PORT (3000), HOST (0.0.0.0: the interface to listen on), HOST_PORT / REG_HOST_URL (where
// the host is). Prints one JSON line {"event":"ready","port":…} once it listens.
//
// A cluster of sandbox hosts (REG_CLUSTER=1): REG_HOST_URLS lists one or more hosts to learn the
// cluster from (comma-separated; default REG_HOST_URL), REG_CLUSTER_SECRET_FILE (default
// $REG_SHARED_DIR/cluster-secret) signs what the origin forwards; host-router.mjs decides which
// host gets each request and websocket. Browsers never see a host's address.

import { Agent, createServer, request } from 'node:http';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import next from 'next';
import { CLUSTER_HEADER, HostRouter, loadRequestKey } from './host-router.mjs';

const dir = fileURLToPath(new URL('.', import.meta.url));
const port = Number(process.env.PORT ?? 3000);
const bind = process.env.HOST ?? '0.0.0.0';
const hostUrl = new URL(process.env.REG_HOST_URL ?? `http://127.0.0.1:${process.env.HOST_PORT ?? '3001'}`);
const cluster = process.env.REG_CLUSTER === '1' || process.env.REG_CLUSTER === 'true';
const seeds = (process.env.REG_HOST_URLS ?? '').split(',').map((s) => s.trim()).filter(Boolean);
let router;
try {
  const secretFile = process.env.REG_CLUSTER_SECRET_FILE ?? (process.env.REG_SHARED_DIR ? `${process.env.REG_SHARED_DIR}/cluster-secret` : undefined);
  if (cluster && !secretFile) throw new Error('REG_CLUSTER=1 needs REG_CLUSTER_SECRET_FILE (or REG_SHARED_DIR holding cluster-secret): the origin signs what it forwards to the hosts');
  router = new HostRouter({
    seeds: (seeds.length ? seeds : [hostUrl.href]).map((u) => new URL(u)),
    key: cluster ? await loadRequestKey(secretFile) : undefined,
    cluster,
    log: (m) => console.error(JSON.stringify({ event: 'hosts', message: m })),
  });
  await router.start();
} catch (e) {
  console.error(`web: ${e.message}`);
  process.exit(2);
}
const target = (host) => {
  const u = new URL(host.address);
  return { host: u.hostname, port: Number(u.port || 80) };
};
/** How long a socket waits for its container's host while that host neither answers nor is marked down. */
const HOLD_MS = 15_000;

/** Paths the host answers; everything else is the Next.js app. */
const forHost = (url = '') => url.startsWith('/api/') || url === '/api' || url.startsWith('/socket.io/');

// Hop-by-hop headers are the proxy's own business (RFC 9110 §7.6.1); the rest go through, with
// the browser's address recorded for the host's logs and audit.
// The cluster header is the origin's own: a browser's is dropped, never forwarded.
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', CLUSTER_HEADER]);

function forwardedHeaders(req) {
  const h = {};
  for (const [k, v] of Object.entries(req.headers)) if (!HOP.has(k)) h[k] = v;
  h['x-forwarded-for'] = [req.headers['x-forwarded-for'], req.socket.remoteAddress].filter(Boolean).join(', ');
  h['x-forwarded-host'] = req.headers.host ?? '';
  h['x-forwarded-proto'] = 'http';
  const signed = router.sign(req.method ?? 'GET', req.url ?? '/');
  if (signed) h[CLUSTER_HEADER] = signed;
  return h;
}

function hostBusy(res, why) {
  res.writeHead(503, { 'content-type': 'application/json', 'cache-control': 'no-store', 'retry-after': '2' });
  res.end(JSON.stringify({ error: { code: 'HOST_BUSY', message: `the sandbox hosts are busy: ${why}`, hint: 'try again in a moment' } }));
}

// The answers that create a container (a class terminal opened, a container created) name it; the
// host that made it is the one the request went to, or the one it was forwarded on to (x-reg-host).
// Remembering it routes the container's token request and websocket without asking the hosts.
const OPENS = /^\/api\/(?:classes\/[A-Za-z0-9_-]{1,128}\/terminals|containers)(?:\?|$)/;
function learnOpened(r, host) {
  const chunks = [];
  let size = 0;
  r.on('data', (c) => {
    size += c.length;
    if (size <= 256 * 1024) chunks.push(c);
  });
  r.on('end', () => {
    if (size > 256 * 1024) return;
    try {
      const id = JSON.parse(Buffer.concat(chunks).toString('utf8'))?.id;
      const via = r.headers['x-reg-host'];
      router.learn(id, typeof via === 'string' ? via : host.id);
    } catch {
      // not JSON: nothing to learn (the browser gets the answer as it is)
    }
  });
}

function hostDown(res) {
  if (res.headersSent) return void res.destroy();
  res.writeHead(502, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify({ error: { code: 'HOST_UNREACHABLE', message: 'the Reg host does not answer; try again in a moment' } }));
}

// A fresh host connection per forwarded request (a kept-alive one the host closes just as it is
// reused fails with ECONNRESET, and a request with a body cannot be replayed elsewhere), but asked
// for as keep-alive: a host that answers early (413 for a body over its cap) then discards the
// rest of the body instead of closing the connection under the upload, so its answer reaches
// the browser instead of a 502.
class FreshConnections extends Agent {
  keepSocketAlive() {
    return false;
  }
}
const hostAgent = new FreshConnections({ keepAlive: true });

// Any live host answers /api (they share the database), or the one named by x-reg-host. A request
// without a body (GET, HEAD, DELETE) that finds its host gone is tried once more on another.
async function proxyHttp(req, res, attempt = 0) {
  const named = typeof req.headers['x-reg-host'] === 'string' ? req.headers['x-reg-host'] : undefined;
  // The retry goes to whichever live host is next: the first choice just failed.
  let host;
  try {
    host = attempt === 0 ? await router.forApi(req.url, named) : router.pick(named);
  } catch (e) {
    if (e.code === 'LOOKUP_FAILED') return hostBusy(res, e.message);
    host = router.pick(named);
  }
  if (!host) return hostDown(res);
  const bodyless = req.headers['content-length'] === undefined && req.headers['transfer-encoding'] === undefined;
  const up = request({ ...target(host), agent: hostAgent, method: req.method, path: req.url, headers: forwardedHeaders(req) }, (r) => {
    res.writeHead(r.statusCode ?? 502, r.headers);
    if (router.cluster && r.statusCode === 201 && req.method === 'POST' && OPENS.test(req.url ?? '')) learnOpened(r, host);
    r.pipe(res);
  });
  up.on('error', (e) => {
    console.error(JSON.stringify({ event: 'forward-failed', host: host.id, method: req.method, path: req.url?.split('?')[0], error: e.code ?? e.message }));
    if (e.code === 'ECONNREFUSED' || e.code === 'EHOSTUNREACH') router.markUnreachable(host.address);
    if (bodyless && attempt === 0 && !res.headersSent && router.cluster) return void proxyHttp(req, res, 1);
    hostDown(res);
  });
  if (bodyless && attempt > 0) up.end();
  else req.pipe(up);
}

// A websocket upgrade is forwarded as raw bytes: the request head is replayed to the host, then
// the two sockets are piped both ways until either side closes. When the host holding the socket's
// container refuses the connection (it died and the others have not marked it down yet), the
// socket waits, asking again every second, until that host answers or is marked down (then it goes
// to a live host, where the browser learns why its terminal ended).
async function proxyUpgrade(req, socket, head, since = Date.now()) {
  let host;
  let settling = false;
  try {
    ({ host, settling } = await router.forSocket(req.url));
  } catch {
    host = undefined;
  }
  if (socket.destroyed) return;
  if (settling && Date.now() - since < HOLD_MS) {
    router.forget(req.url);
    setTimeout(() => void proxyUpgrade(req, socket, head, since), 500).unref();
    return;
  }
  if (!host) {
    socket.end('HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    return;
  }
  const up = connect(target(host).port, target(host).host);
  let piped = false;
  let retrying = false;
  const close = () => {
    socket.destroy();
    up.destroy();
  };
  up.on('error', (e) => {
    if (!piped && e.code === 'ECONNREFUSED' && router.cluster && Date.now() - since < HOLD_MS && !socket.destroyed) {
      router.markUnreachable(host.address);
      router.forget(req.url);
      retrying = true;
      up.destroy();
      setTimeout(() => void proxyUpgrade(req, socket, head, since), 1000).unref();
      return;
    }
    if (!piped && socket.writable) socket.end('HTTP/1.1 502 Bad Gateway\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    close();
  });
  up.on('connect', () => {
    if (socket.destroyed) return void up.destroy();
    piped = true;
    up.setNoDelay(true);
    socket.setNoDelay(true);
    const headers = forwardedHeaders(req);
    headers.connection = 'Upgrade';
    headers.upgrade = req.headers.upgrade ?? 'websocket';
    const lines = [`${req.method} ${req.url} HTTP/1.1`];
    for (const [k, v] of Object.entries(headers)) for (const one of [v].flat()) if (one !== undefined) lines.push(`${k}: ${one}`);
    up.write(lines.join('\r\n') + '\r\n\r\n');
    if (head?.length) up.write(head);
    up.pipe(socket);
    socket.pipe(up);
  });
  up.on('close', () => {
    if (retrying) return;
    // The host went away under an open socket: the next handshake asks afresh where to go.
    if (piped && !socket.destroyed) router.forget(req.url);
    socket.destroy();
  });
  const onBrowserClose = () => up.destroy();
  socket.once('close', onBrowserClose);
  up.once('close', () => socket.off('close', onBrowserClose));
}

const app = next({ dev: false, dir, hostname: bind, port });
await app.prepare();
const handle = app.getRequestHandler();

/**
 * The hosts' own routes (which hosts exist, where a container runs): never for browsers, since the
 * origin signs what it forwards. Checked on the decoded, slash-collapsed path (as a router sees it).
 */
function clusterOnly(url = '') {
  let path;
  try {
    path = decodeURIComponent(new URL(url, 'http://origin').pathname).replace(/\/{2,}/g, '/').toLowerCase();
  } catch {
    return true; // undecodable: refused rather than guessed
  }
  return path === '/api/cluster' || path.startsWith('/api/cluster/');
}

const server = createServer((req, res) => {
  if (clusterOnly(req.url)) {
    res.writeHead(404, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    return void res.end(JSON.stringify({ error: { code: 'NOT_FOUND', message: 'no such route' } }));
  }
  if (forHost(req.url)) return void proxyHttp(req, res);
  void handle(req, res);
});
server.on('upgrade', (req, socket, head) => {
  socket.on('error', () => socket.destroy());
  if (forHost(req.url)) return void proxyUpgrade(req, socket, head);
  socket.destroy();
});
server.listen(port, bind, () => {
  const { port: bound } = server.address();
  console.log(JSON.stringify({ event: 'ready', port: bound, ...(cluster ? { cluster: true, hosts: router.hosts.map((h) => h.address) } : { host: hostUrl.host }) }));
});

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => {
    router.stop();
    server.close();
    server.closeAllConnections();
    process.exit(0);
  });
}
