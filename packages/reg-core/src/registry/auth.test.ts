// Registry auth: challenge parsing, the bearer token flow against a small fake registry with a
// token endpoint, and where credentials come from — never echoed.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RegError } from '../errors.js';
import { tempHome } from '../test-support/temp-home.js';
import { parseChallenge } from './auth.js';
import { RegistryClient } from './client.js';
import { credentialsFor, defaultRegistry, parseRegistryConfig } from './config.js';
import { parseRegistryTarget } from './reference.js';

const PASSWORD = 'correct-horse-battery';
const home = tempHome();
let server: Server;
let host = '';
const tokenRequests: string[] = [];

before(async () => {
  server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const challenge = (scope?: string) =>
      `Bearer realm="http://${host}/token",service="fake"${scope ? `,scope="${scope}"` : ''}`;
    if (url.pathname === '/token') {
      tokenRequests.push(url.search);
      const expected = `Basic ${Buffer.from(`teacher:${PASSWORD}`).toString('base64')}`;
      if (req.headers.authorization !== expected) {
        res.writeHead(401).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: `tok ${url.searchParams.getAll('scope').join(' ')}`, expires_in: 300 }));
      return;
    }
    if (url.pathname === '/v2/') {
      res.writeHead(401, { 'www-authenticate': challenge() }).end();
      return;
    }
    const m = /^\/v2\/(.+)\/tags\/list$/.exec(url.pathname);
    if (m) {
      const scope = `repository:${m[1]}:pull`;
      if (!req.headers.authorization?.startsWith('Bearer tok ') || !req.headers.authorization.includes(scope)) {
        res.writeHead(401, { 'www-authenticate': challenge(scope) }).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ name: m[1], tags: ['1', '2'] }));
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  host = `127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
});

after(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  home.cleanup();
});

test('WWW-Authenticate challenges are parsed', () => {
  assert.deepEqual(parseChallenge('Basic realm="Registry Realm"'), { scheme: 'basic', params: { realm: 'Registry Realm' } });
  assert.deepEqual(parseChallenge('Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push"'), {
    scheme: 'bearer',
    params: { realm: 'https://auth.example/token', service: 'registry.example', scope: 'repository:a/b:pull,push' },
  });
  assert.equal(parseChallenge('Negotiate abc'), undefined);
  assert.equal(parseChallenge(null), undefined);
});

test('a bearer token is fetched from the realm with the credentials, once per scope', async () => {
  const client = await RegistryClient.open(parseRegistryTarget(`${host}/ns`), { credentials: { kind: 'basic', username: 'teacher', password: PASSWORD, source: 'test' } });
  assert.deepEqual(await client.listTags('ns/python', 'test'), ['1', '2']);
  assert.deepEqual(await client.listTags('ns/python', 'test'), ['1', '2']);
  assert.equal(client.stats.byKind.token, 1, 'the token is reused for the same scope');
  assert.match(tokenRequests.at(-1)!, /service=fake/);
  assert.match(decodeURIComponent(tokenRequests.at(-1)!), /scope=repository:ns\/python:pull/);
  await client.listTags('ns/node', 'test');
  assert.equal(client.stats.byKind.token, 2, 'another repository needs another scope');
});

test('wrong or missing credentials are REGISTRY_AUTH naming the registry, never the secret', async () => {
  const wrong = await RegistryClient.open(parseRegistryTarget(`${host}/ns`), { credentials: { kind: 'basic', username: 'teacher', password: 'not-the-password-42', source: '$REG_REGISTRY_AUTH' } });
  await assert.rejects(wrong.listTags('ns/python', 'listing python'), (e: RegError) => {
    assert.equal(e.code, 'REGISTRY_AUTH');
    assert.match(e.message, new RegExp(host.replace(/\./g, '\\.')));
    assert.match(e.message, /\$REG_REGISTRY_AUTH/);
    assert.ok(!JSON.stringify({ m: e.message, h: e.hint }).includes('not-the-password-42'));
    return true;
  });
  const anonymous = await RegistryClient.open(parseRegistryTarget(`${host}/ns`), { credentials: null });
  await assert.rejects(anonymous.listTags('ns/python', 'listing python'), (e: RegError) => e.code === 'REGISTRY_AUTH' && /requires credentials/.test(e.message));
});

test('credentials come from REG_REGISTRY_AUTH, then registries.json, in either spelling', async (t) => {
  const saved = { auth: process.env.REG_REGISTRY_AUTH, reg: process.env.REG_REGISTRY, xdg: process.env.XDG_CONFIG_HOME };
  t.after(() => {
    for (const [k, v] of [['REG_REGISTRY_AUTH', saved.auth], ['REG_REGISTRY', saved.reg], ['XDG_CONFIG_HOME', saved.xdg]] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });
  process.env.XDG_CONFIG_HOME = join(home.root, 'xdg'); // keep the developer's own ~/.config out
  delete process.env.REG_REGISTRY;
  delete process.env.REG_REGISTRY_AUTH;
  assert.equal(await credentialsFor(home, 'reg.example.edu'), undefined);
  writeFileSync(
    join(home.root, 'registries.json'),
    JSON.stringify({ default: 'reg.example.edu/campus', auths: { 'https://reg.example.edu': { auth: Buffer.from('u1:p:w').toString('base64') }, 'ghcr.io': { token: 'T' } } }),
  );
  assert.deepEqual(await credentialsFor(home, 'reg.example.edu'), { kind: 'basic', username: 'u1', password: 'p:w', source: join(home.root, 'registries.json') });
  assert.equal((await credentialsFor(home, 'ghcr.io'))?.kind, 'token');
  assert.equal(await defaultRegistry(home), 'reg.example.edu/campus');
  process.env.REG_REGISTRY = '127.0.0.1:5000/x';
  assert.equal(await defaultRegistry(home), '127.0.0.1:5000/x');
  process.env.REG_REGISTRY_AUTH = 'reg.example.edu=envuser:env:pw';
  assert.deepEqual(await credentialsFor(home, 'reg.example.edu'), { kind: 'basic', username: 'envuser', password: 'env:pw', source: '$REG_REGISTRY_AUTH' });
  process.env.REG_REGISTRY_AUTH = JSON.stringify({ auths: { 'reg.example.edu': { username: 'j', password: 'k' } } });
  assert.equal((await credentialsFor(home, 'reg.example.edu'))?.kind, 'basic');
});

test('a malformed config is an error that does not echo its content', () => {
  assert.throws(
    () => parseRegistryConfig('{"auths": {"h": {"password": "hunter2-secret" ', '/x/registries.json'),
    (e: RegError) => e.code === 'USAGE' && e.message.includes('/x/registries.json') && !e.message.includes('hunter2'),
  );
  assert.throws(
    () => parseRegistryConfig('{"auths": {"h": {"password": 12345678}}}', '/x/registries.json'),
    (e: RegError) => e.code === 'USAGE' && !e.message.includes('12345678'),
  );
});
