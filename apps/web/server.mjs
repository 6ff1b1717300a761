#!/usr/bin/env node
// The web app's one origin: Next.js behind a small Node server that also forwards /api/* and the
// socket.io endpoint (/socket.io/, websocket upgrades included) to the Reg host on loopback. So a
// browser only ever talks to the address it loaded the page from, and a classroom reached from
// another machine on the LAN works (the host itself stays on 127.0.0.1).
//
// Env: PORT (3000), HOST (0.0.0.0: the interface to listen on), HOST_PORT / REG_HOST_URL (where
// the host is). Prints one JSON line {"event":"ready","port":…} once it listens.

import { createServer, request } from 'node:http';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import next from 'next';

const dir = fileURLToPath(new URL('.', import.meta.url));
const port = Number(process.env.PORT ?? 3000);
const bind = process.env.HOST ?? '0.0.0.0';
const hostUrl = new URL(process.env.REG_HOST_URL ?? `http://127.0.0.1:${process.env.HOST_PORT ?? '3001'}`);
const upstream = { host: hostUrl.hostname, port: Number(hostUrl.port || 80) };

/** Paths the host answers; everything else is the Next.js app. */
const forHost = (url = '') => url.startsWith('/api/') || url === '/api' || url.startsWith('/socket.io/');

// Hop-by-hop headers are the proxy's own business (RFC 9110 §7.6.1); the rest go through, with
// the browser's address recorded for the host's logs and audit.
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade']);

function forwardedHeaders(req) {
  const h = {};
  for (const [k, v] of Object.entries(req.headers)) if (!HOP.has(k)) h[k] = v;
  h['x-forwarded-for'] = [req.headers['x-forwarded-for'], req.socket.remoteAddress].filter(Boolean).join(', ');
  h['x-forwarded-host'] = req.headers.host ?? '';
  h['x-forwarded-proto'] = 'http';
  return h;
}

function hostDown(res) {
  if (res.headersSent) return void res.destroy();
  res.writeHead(502, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify({ error: { code: 'HOST_UNREACHABLE', message: 'the Reg host does not answer; try again in a moment' } }));
}

function proxyHttp(req, res) {
  const up = request({ ...upstream, method: req.method, path: req.url, headers: forwardedHeaders(req) }, (r) => {
    res.writeHead(r.statusCode ?? 502, r.headers);
    r.pipe(res);
  });
  up.on('error', () => hostDown(res));
  req.pipe(up);
}

// A websocket upgrade is forwarded as raw bytes: the request head is replayed to the host, then
// the two sockets are piped both ways until either side closes.
function proxyUpgrade(req, socket, head) {
  const up = connect(upstream.port, upstream.host);
  const close = () => {
    socket.destroy();
    up.destroy();
  };
  up.on('error', () => {
    if (socket.writable) socket.end('HTTP/1.1 502 Bad Gateway\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    close();
  });
  socket.on('error', close);
  up.on('connect', () => {
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
  up.on('close', () => socket.destroy());
  socket.on('close', () => up.destroy());
}

const app = next({ dev: false, dir, hostname: bind, port });
await app.prepare();
const handle = app.getRequestHandler();

const server = createServer((req, res) => {
  if (forHost(req.url)) return proxyHttp(req, res);
  void handle(req, res);
});
server.on('upgrade', (req, socket, head) => {
  if (forHost(req.url)) return proxyUpgrade(req, socket, head);
  socket.destroy();
});
server.listen(port, bind, () => {
  const { port: bound } = server.address();
  console.log(JSON.stringify({ event: 'ready', port: bound, host: `${upstream.host}:${upstream.port}` }));
});

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => {
    server.close();
    server.closeAllConnections();
    process.exit(0);
  });
}
