// The OpenAPI 3.1 description, generated from the route table's zod schemas (JSON Schema 2020-12
// is OpenAPI 3.1's schema dialect, which is what z.toJSONSchema emits).

import { apiErrorSchema } from '@reg/protocol';
import { z } from 'zod';
import type { ApiRoute } from './api-routes.js';

const schemaOf = (s: z.ZodType, io: 'input' | 'output') => {
  const { $schema: _drop, ...rest } = z.toJSONSchema(s, { io, unrepresentable: 'any' }) as Record<string, unknown>;
  return rest;
};

export const openApiPath = (honoPath: string) => honoPath.replace(/:(\w+)/g, '{$1}');

/** Every :param of a path: container ids have their pattern, class and user ids are opaque. */
const pathParameters = (honoPath: string) =>
  [...honoPath.matchAll(/:(\w+)/g)].map(([, name]) => ({ name, in: 'path', required: true, schema: name === 'id' ? { type: 'string', pattern: '^[0-9a-f]{12}$' } : { type: 'string', minLength: 1 } }));

export function openApiDocument(routes: ApiRoute[]): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  const error = { description: 'an error', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
  for (const r of routes) {
    const op: Record<string, unknown> = {
      operationId: r.operationId,
      summary: r.summary,
      ...(r.scope === 'public' ? { security: [] } : {}),
      ...(/:\w+/.test(r.path) && { parameters: pathParameters(r.path) }),
      ...(r.body && { requestBody: { required: true, content: { 'application/json': { schema: schemaOf(r.body, 'input') } } } }),
      responses: {
        [String(r.status)]: { description: 'success', content: { 'application/json': { schema: schemaOf(r.response, 'output') } } },
        ...(r.body && { 400: error }),
        ...(r.scope !== 'public' && { 401: error, 403: error, 404: error }),
        ...(r.path.startsWith('/api/containers') && { 409: error }),
        500: error,
      },
    };
    (paths[openApiPath(r.path)] ??= {})[r.method] = op;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Reg host API',
      version: '1',
      description:
        'Containers, RETs and memory stats of one Reg host. Over TCP every call except sign-in needs a session (the reg_session cookie or `Authorization: Bearer <token>` from sign-in); over the unix socket $REG_HOME/reg.sock (mode 0600) the caller is the administrator. Terminals are attached over socket.io, namespace /terminals (see @reg/protocol).',
    },
    servers: [{ url: '/' }],
    security: [{ cookie: [] }, { bearer: [] }],
    components: {
      securitySchemes: {
        cookie: { type: 'apiKey', in: 'cookie', name: 'reg_session' },
        bearer: { type: 'http', scheme: 'bearer' },
      },
      schemas: { Error: schemaOf(apiErrorSchema, 'output') },
    },
    paths,
  };
}
