// The registry client's transport behaviour against a small scripted HTTP server: retries on 5xx
// and dropped connections, a truncated body, redirects that would leave loopback over plain HTTP,
// something that is not a registry, and a closed port.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { RegError } from '../errors.js';
import { freePort } from '../test-support/docker-registry.js';
import { RegistryClient, type RequestEvent } from './client.js';
import { parseRegistryTarget } from './reference.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;
let handler: Handler = (_req, res) => res.writeHead(404).end();
let server: Server;
let host = '';

const BLOB = Buffer.from('hello registry '.repeat(100));
const DIGEST = `sha256:${createHash('sha256').update(BLOB).digest('hex')}`;

before(async () => {
  server = createServer((req, res) => {
    if (req.url === '/v2/') return void res.writeHead(200).end('{}');
    handler(req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  host = `127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
});

after(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

const open = (events?: RequestEvent[]) =>
  RegistryClient.open(parseRegistryTarget(`${host}/ns`), { credentials: null, retryDelayMs: 5, ...(events && { onRequest: (e) => events.push(e) }) });

test('5xx answers are retried with backoff, then succeed', async () => {
  let calls = 0;
  handler = (_req, res) => {
    if (++calls < 3) return void res.writeHead(503).end();
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ tags: ['1'] }));
  };
  const events: RequestEvent[] = [];
  const client = await open(events);
  assert.deepEqual(await client.listTags('ns/a', 'test'), ['1']);
  assert.deepEqual(events.filter((e) => e.kind === 'tags').map((e) => e.status), [503, 503, 200]);
});

test('a persistent 5xx becomes REGISTRY_PROTOCOL naming the registry and the operation', async () => {
  handler = (_req, res) => res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ errors: [{ code: 'UNKNOWN', message: 'disk on fire' }] }));
  const client = await open();
  await assert.rejects(client.listTags('ns/a', 'listing the versions of a'), (e: RegError) => {
    assert.equal(e.code, 'REGISTRY_PROTOCOL');
    assert.ok(e.message.includes(host) && e.message.includes('disk on fire') && e.message.includes('listing the versions of a'), e.message);
    return true;
  });
});

test('a truncated body is retried; a body that stays truncated is an error, never accepted', async () => {
  let calls = 0;
  handler = (_req, res) => {
    calls++;
    res.writeHead(200, { 'content-length': String(BLOB.length) });
    if (calls === 1) {
      res.write(BLOB.subarray(0, 100));
      setTimeout(() => res.destroy(), 10);
    } else res.end(BLOB);
  };
  const client = await open();
  assert.deepEqual(await client.getBlob('ns/a', DIGEST, 1 << 20, 'test'), BLOB);
  assert.equal(calls, 2);
  handler = (_req, res) => {
    res.writeHead(200, { 'content-length': String(BLOB.length) });
    res.write(BLOB.subarray(0, 100));
    setTimeout(() => res.destroy(), 10);
  };
  await assert.rejects(client.getBlob('ns/a', DIGEST, 1 << 20, 'fetching blob x'), (e: RegError) => e.code === 'REGISTRY_UNREACHABLE' && e.message.includes(host));
});

test('content that does not match its digest is DIGEST_MISMATCH', async () => {
  handler = (_req, res) => res.writeHead(200).end(Buffer.from('something else'));
  const client = await open();
  await assert.rejects(client.getBlob('ns/a', DIGEST, 1 << 20, 'fetching blob x of a@1'), (e: RegError) => e.code === 'DIGEST_MISMATCH' && e.message.includes(DIGEST) && e.message.includes('a@1'));
});

test('a redirect to plain HTTP off loopback is refused without contacting it', async () => {
  handler = (_req, res) => res.writeHead(307, { location: 'http://blobs.example.com/data' }).end();
  const events: RequestEvent[] = [];
  const client = await open(events);
  await assert.rejects(client.getBlob('ns/a', DIGEST, 1 << 20, 'test'), (e: RegError) => e.code === 'REGISTRY_PROTOCOL' && /loopback/.test(e.message));
  assert.ok(events.every((e) => !e.path.includes('/data')), 'nothing was sent to the redirect target');
});

test('something that is not a registry, and a closed port', async () => {
  const web = createServer((_req, res) => res.writeHead(404).end('not here'));
  await new Promise<void>((r) => web.listen(0, '127.0.0.1', r));
  const addr = web.address();
  try {
    const client = await RegistryClient.open(parseRegistryTarget(`127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}/ns`), { credentials: null });
    await assert.rejects(client.listTags('ns/a', 'test'), (e: RegError) => e.code === 'REGISTRY_PROTOCOL' && /not look like an OCI/.test(e.message));
  } finally {
    web.closeAllConnections();
    await new Promise((r) => web.close(r));
  }
  const port = await freePort();
  const closed = await RegistryClient.open(parseRegistryTarget(`127.0.0.1:${port}/ns`), { credentials: null, retryDelayMs: 5 });
  const t0 = Date.now();
  await assert.rejects(closed.listTags('ns/a', 'listing a'), (e: RegError) => e.code === 'REGISTRY_UNREACHABLE' && e.message.includes(`127.0.0.1:${port}`) && /refused/.test(e.message));
  assert.ok(Date.now() - t0 < 2000, 'a refused connection fails fast');
});
