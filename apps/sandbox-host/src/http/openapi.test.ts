import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ERROR_CODES } from '@reg/core';
import { apiRoutes, type ApiDeps } from './api-routes.js';
import { buildApp } from './app.js';
import { STATUS_BY_CODE } from './error-status.js';
import { openApiDocument, openApiPath } from './openapi.js';

const deps = {} as ApiDeps;

test('the OpenAPI description lists exactly the routes the app serves, with their schemas', () => {
  const routes = apiRoutes(deps);
  const doc = openApiDocument(routes) as { openapi: string; paths: Record<string, Record<string, any>> };
  assert.equal(doc.openapi, '3.1.0');
  const app = buildApp(routes, { adminSockets: new WeakSet(), authenticate: async () => undefined, membership: async () => undefined });
  const served = app.routes.filter((r) => r.path.startsWith('/api')).map((r) => `${r.method.toLowerCase()} ${openApiPath(r.path)}`).sort();
  const described = Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m} ${p}`)).sort();
  assert.deepEqual(described, served);
  const create = doc.paths['/api/containers']!.post;
  assert.equal(create.requestBody.content['application/json'].schema.properties.ret.type, 'string');
  assert.ok(create.responses['201'].content['application/json'].schema.properties.status.enum.includes('running'));
  for (const needed of ['/api/containers/{id}/start', '/api/containers/{id}/stop', '/api/containers/{id}/insert', '/api/containers/{id}/uninstall', '/api/rets', '/api/stats']) assert.ok(doc.paths[needed], needed);
});

test('every reg-core error code has an HTTP status in the one table', () => {
  for (const code of ERROR_CODES) assert.ok(STATUS_BY_CODE[code] >= 400, code);
  assert.equal(STATUS_BY_CODE.CONTAINER_NOT_FOUND, 404);
  assert.equal(STATUS_BY_CODE.ILLEGAL_TRANSITION, 409);
  assert.equal(STATUS_BY_CODE.UNAUTHENTICATED, 401);
  assert.equal(STATUS_BY_CODE.FORBIDDEN, 403);
});

test('API calls without a session are refused with 401 before any handler runs', async () => {
  const app = buildApp(apiRoutes(deps), { adminSockets: new WeakSet(), authenticate: async () => undefined, membership: async () => undefined });
  const env = { incoming: { socket: {} }, outgoing: {} };
  for (const [method, path] of [['GET', '/api/containers'], ['POST', '/api/containers'], ['DELETE', '/api/containers/0123456789ab'], ['GET', '/api/stats'], ['GET', '/api/rets']] as const) {
    const res = await app.request(path, { method, headers: { authorization: 'Bearer forged.token' } }, env);
    assert.equal(res.status, 401, `${method} ${path}`);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'UNAUTHENTICATED');
  }
});
