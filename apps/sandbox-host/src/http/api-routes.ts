// The HTTP API as data: every route with its schemas and handler. The Hono app is built from this
// table and so is the OpenAPI description, so the two cannot drift apart.

import { z } from 'zod';
import {
  containerSchema,
  createContainerSchema,
  retBodySchema,
  retSchema,
  signInReplySchema,
  signInSchema,
  statsSchema,
  terminalTokenSchema,
  userSchema,
} from '@reg/protocol';
import type { Context } from 'hono';
import type { Principal } from '../auth/principal.js';
import type { Access, Scope } from '../auth/scopes.js';

export interface RouteContext<B> {
  principal: Principal;
  /** What authorize() established: admin or not, the caller's role in the route's class. */
  access: Access;
  body: B;
  id: string;
  c: Context;
}

export interface ApiRoute<S extends z.ZodType | undefined = z.ZodType | undefined> {
  method: 'get' | 'post' | 'delete';
  /** Hono form (`/api/containers/:id`); the OpenAPI form is derived. */
  path: string;
  operationId: string;
  summary: string;
  /** Who may call it (auth/scopes.ts); checked before the handler runs. */
  scope: Scope;
  /** For class scopes: the path parameter holding the class id (default `classId`). */
  classParam?: string;
  body?: S;
  /** The largest body this route reads (default http/body-limit.ts DEFAULT_MAX_BODY_BYTES, 64 KiB). */
  maxBodyBytes?: number;
  status: 200 | 201;
  response: z.ZodType;
  handle(ctx: RouteContext<S extends z.ZodType ? z.output<S> : undefined>): Promise<unknown>;
}

/** Keeps each route's body type tied to its schema. */
export const route = <S extends z.ZodType | undefined = undefined>(r: ApiRoute<S>): ApiRoute => r as unknown as ApiRoute;

/** What the handlers need from the host. */
export interface ApiDeps {
  signIn(c: Context, username: string, password: string): Promise<z.output<typeof signInReplySchema>>;
  signOut(c: Context, p: Principal): Promise<void>;
  me(p: Principal): Promise<z.output<typeof userSchema> | { admin: true }>;
  containers: import('../containers/container-service.js').ContainerService;
  stats(): Promise<z.output<typeof statsSchema>>;
  openapi(): unknown;
}

const okSchema = z.object({ ok: z.literal(true) });

export function apiRoutes(d: ApiDeps): ApiRoute[] {
  return [
    route({ method: 'post', path: '/api/auth/sign-in', operationId: 'signIn', summary: 'Sign in; sets the reg_session cookie and returns the same token for bearer use', scope: 'public', body: signInSchema, status: 200, response: signInReplySchema, handle: ({ c, body }) => d.signIn(c, body.username, body.password) }),
    route({ method: 'post', path: '/api/auth/sign-out', operationId: 'signOut', summary: 'Sign out: revokes this session on the host and clears the cookie', scope: 'public', status: 200, response: okSchema, handle: async ({ c, principal }) => (await d.signOut(c, principal), { ok: true }) }),
    route({ method: 'get', path: '/api/auth/me', operationId: 'me', scope: 'self', summary: 'The signed-in user', status: 200, response: z.union([userSchema, z.object({ admin: z.literal(true) })]), handle: ({ principal }) => d.me(principal) }),
    route({ method: 'post', path: '/api/containers', operationId: 'createContainer', scope: 'self', summary: 'Generate a container from a RET; with terminal (default) it is also started under a pseudo-terminal to attach to', body: createContainerSchema, status: 201, response: containerSchema, handle: ({ principal, body }) => d.containers.create(principal, body) }),
    route({ method: 'get', path: '/api/containers', operationId: 'listContainers', scope: 'self', summary: 'Containers you may see (yours; every one for teachers and the administrator)', status: 200, response: z.array(containerSchema), handle: ({ principal }) => d.containers.list(principal) }),
    route({ method: 'get', path: '/api/containers/:id', operationId: 'getContainer', scope: 'self', summary: 'Inspect a container', status: 200, response: containerSchema, handle: ({ principal, id }) => d.containers.get(principal, id) }),
    route({ method: 'post', path: '/api/containers/:id/start', operationId: 'startContainer', scope: 'self', summary: 'Start a generated or stopped container (under a pty if it was made for a terminal)', status: 200, response: containerSchema, handle: ({ principal, id }) => d.containers.start(principal, id) }),
    route({ method: 'post', path: '/api/containers/:id/stop', operationId: 'stopContainer', scope: 'self', summary: 'Stop a container; a terminal\'s container is then removed (the session ends)', status: 200, response: containerSchema, handle: ({ principal, id }) => d.containers.stop(principal, id) }),
    route({ method: 'post', path: '/api/containers/:id/insert', operationId: 'insertRet', scope: 'self', summary: 'Insert a RET into a running container', body: retBodySchema, status: 200, response: containerSchema, handle: ({ principal, id, body }) => d.containers.insert(principal, id, body.ret) }),
    route({ method: 'post', path: '/api/containers/:id/uninstall', operationId: 'uninstallRet', scope: 'self', summary: 'Remove an inserted RET from a running container', body: retBodySchema, status: 200, response: containerSchema, handle: ({ principal, id, body }) => d.containers.uninstall(principal, id, body.ret) }),
    route({ method: 'post', path: '/api/containers/:id/terminal-token', operationId: 'terminalToken', scope: 'self', summary: 'A short-lived token for the socket.io attach event (owner only)', status: 200, response: terminalTokenSchema, handle: ({ principal, id }) => d.containers.attachToken(principal, id) }),
    route({ method: 'delete', path: '/api/containers/:id', operationId: 'removeContainer', scope: 'self', summary: 'Remove a container (stopping it first if it runs)', status: 200, response: containerSchema, handle: ({ principal, id }) => d.containers.remove(principal, id) }),
    route({ method: 'get', path: '/api/rets', operationId: 'listRets', scope: 'self', summary: 'The RETs this host can generate containers from', status: 200, response: z.array(retSchema), handle: () => d.containers.rets() }),
    route({ method: 'get', path: '/api/stats', operationId: 'stats', scope: 'admin', summary: 'Memory accounting of running containers and the host', status: 200, response: statsSchema, handle: () => d.stats() }),
    route({ method: 'get', path: '/api/openapi.json', operationId: 'openapi', summary: 'This description', scope: 'public', status: 200, response: z.object({ openapi: z.string() }).loose(), handle: async () => d.openapi() }),
  ];
}
