// The classroom's routes: classes, environment, members, roster, join codes, terminals in a class,
// Start/Stop class, workspaces, starter files, distribute and collect. Each names the scope it
// needs (auth/scopes.ts checks it before the handler runs); uploads are the raw request body
// (streamed, size-checked), downloads are zips streamed as they are made.

import { Readable } from 'node:stream';
import { RegError } from '@reg/core';
import {
  addMemberSchema,
  addPackageReplySchema,
  archiveSchema,
  classRunSchema,
  classSchema,
  containerSchema,
  createClassSchema,
  distributeReplySchema,
  joinClassSchema,
  joinCodeActionSchema,
  joinCodeReplySchema,
  memberLimitsSchema,
  memberSchema,
  retBodySchema,
  rosterReplySchema,
  starterFileSchema,
  updateEnvironmentSchema,
} from '@reg/protocol';
import type { Context } from 'hono';
import { z } from 'zod';
import { audit } from '../admin/audit.js';
import { AccessError } from '../auth/principal.js';
import type { Db } from '../db/client.js';
import { route, type ApiRoute } from '../http/api-routes.js';
import type { WorkspaceService } from '../workspaces/workspace-service.js';
import type { ClassRunner } from './class-runner.js';
import type { ClassService } from './class-service.js';
import type { ClusterNode } from '../cluster/cluster-node.js';

export interface ClassRouteDeps {
  db: Db;
  classes: ClassService;
  runner: ClassRunner;
  workspaces: WorkspaceService;
  /** Cluster mode: placement of new terminals across hosts. */
  cluster?: ClusterNode;
}

/** Roster files are small: a class of thousands is well under this. */
const ROSTER_MAX_BYTES = 1024 * 1024;

const zipSchema = z.any().describe('application/zip, streamed');
const classId = (c: Context) => c.req.param('classId') ?? '';

function zipResponse(stream: Readable, filename: string): Response {
  const safe = filename.replace(/[^A-Za-z0-9._-]+/g, '-');
  return new Response(Readable.toWeb(stream) as ReadableStream, {
    headers: { 'content-type': 'application/zip', 'content-disposition': `attachment; filename="${safe}"`, 'cache-control': 'no-store' },
  });
}

async function readSmallBody(c: Context, max: number, what: string): Promise<Uint8Array> {
  const len = Number(c.req.header('content-length') ?? 0);
  if (len > max) throw new RegError('USAGE', `${what} is larger than ${max / 1024} KiB`, { field: 'file' });
  const buf = new Uint8Array(await c.req.arrayBuffer());
  if (buf.length > max) throw new RegError('USAGE', `${what} is larger than ${max / 1024} KiB`, { field: 'file' });
  return buf;
}

const pathQuery = (c: Context): string => {
  const p = c.req.query('path');
  if (!p) throw new RegError('USAGE', 'the path query parameter is missing', { field: 'path', hint: 'e.g. ?path=week1/exercise.py' });
  return p;
};

export function classRoutes(d: ClassRouteDeps): ApiRoute[] {
  const slug = async (id: string) => (await d.classes.row(id)).name.toLowerCase();
  return [
    route({ method: 'get', path: '/api/classes', operationId: 'listClasses', scope: 'self', summary: 'Your classes (those you teach, assist or attend; every class for admins). ?archived=1 includes archived ones', status: 200, response: z.array(classSchema), handle: ({ principal, c }) => d.classes.list(principal, { archived: c.req.query('archived') === '1' }) }),
    route({ method: 'post', path: '/api/classes', operationId: 'createClass', scope: 'classes:create', summary: 'Create a class (you become its instructor); it gets a join code', body: createClassSchema, status: 201, response: classSchema, handle: ({ principal, body }) => d.classes.create(principal, body) }),
    route({ method: 'post', path: '/api/classes/join', operationId: 'joinClass', scope: 'self', summary: 'Join a class with its join code (as a student)', body: joinClassSchema, status: 200, response: classSchema, handle: ({ principal, body }) => d.classes.join(principal, body.code) }),
    route({ method: 'get', path: '/api/classes/:classId', operationId: 'getClass', scope: 'class:read', summary: 'A class: its environment, counts and the latest run', status: 200, response: classSchema, handle: ({ access, c }) => d.classes.get(access, classId(c)) }),
    route({ method: 'post', path: '/api/classes/:classId/environment', operationId: 'updateEnvironment', scope: 'class:manage', summary: 'Change the name or environment (runtime, tools, limits within the admin\'s ceilings, caps, quota, idle policy, schedule); applies to containers opened from now on', body: updateEnvironmentSchema, status: 200, response: classSchema, handle: ({ principal, body, c }) => d.classes.updateEnvironment(principal, classId(c), body) }),
    route({ method: 'post', path: '/api/classes/:classId/archive', operationId: 'archiveClass', scope: 'class:manage', summary: 'Archive (or unarchive) a class: it stays readable, nothing new starts, the join code is disabled', body: archiveSchema, status: 200, response: classSchema, handle: ({ principal, body, c }) => d.classes.archive(principal, classId(c), body.archived) }),
    route({ method: 'post', path: '/api/classes/:classId/join-code', operationId: 'joinCode', scope: 'class:manage', summary: 'Rotate (a new code) or disable the join code', body: joinCodeActionSchema, status: 200, response: joinCodeReplySchema, handle: ({ principal, body, c }) => d.classes.joinCode(principal, classId(c), body.action) }),
    route({ method: 'get', path: '/api/classes/:classId/members', operationId: 'listMembers', scope: 'class:assist', summary: 'The roster: instructor, TAs and students, with workspace use', status: 200, response: z.array(memberSchema), handle: ({ c }) => d.classes.members(classId(c)) }),
    route({ method: 'post', path: '/api/classes/:classId/members', operationId: 'addMember', scope: 'class:manage', summary: 'Add an existing user as a student or a TA (or change their role)', body: addMemberSchema, status: 200, response: z.array(memberSchema), handle: ({ principal, body, c }) => d.classes.addMember(principal, classId(c), body) }),
    route({ method: 'post', path: '/api/classes/:classId/members/:userId/limits', operationId: 'setMemberLimits', scope: 'class:manage', summary: 'Set one student\'s limits in the class (a layer over the class\'s, within the admin\'s ceilings; {} clears it); applies to their next terminal', body: memberLimitsSchema, status: 200, response: z.array(memberSchema), handle: ({ principal, body, c }) => d.classes.setMemberLimits(principal, classId(c), c.req.param('userId') ?? '', body.limits) }),
    route({ method: 'delete', path: '/api/classes/:classId/members/:userId', operationId: 'removeMember', scope: 'class:manage', summary: 'Remove a student or TA from the class: their terminals in it end, their workspace is kept', status: 200, response: z.array(memberSchema), handle: async ({ principal, c }) => {
      const members = await d.classes.removeMember(principal, classId(c), c.req.param('userId') ?? '');
      // Their terminals in this class end with them (the workspace stays).
      await d.runner.endUserSessions(classId(c), c.req.param('userId') ?? '', 'you were removed from this class');
      return members;
    } }),
    route({
      method: 'post',
      path: '/api/classes/:classId/roster',
      operationId: 'importRoster',
      scope: 'class:manage',
      summary: 'Import a roster: the CSV file (username,display name,email) as the request body (text/csv). Every problem is named by line and field and nothing is imported until the file is valid; new accounts get an initial password (default) or, with ?credentials=link, a one-time sign-in link, shown once',
      status: 200,
      response: rosterReplySchema,
      handle: async ({ principal, c }) => {
        const credentials = c.req.query('credentials') ?? 'password';
        if (credentials !== 'password' && credentials !== 'link') throw new RegError('USAGE', `credentials must be "password" or "link", not "${credentials}"`, { field: 'credentials' });
        return d.classes.importRoster(principal, classId(c), await readSmallBody(c, ROSTER_MAX_BYTES, 'the roster file'), credentials);
      },
    }),
    route({ method: 'post', path: '/api/classes/:classId/terminals', operationId: 'openClassTerminal', scope: 'class:read', summary: 'Open a terminal in the class environment (a login shell in your workspace); the class decides RET, command and limits', status: 201, response: containerSchema, handle: async ({ principal, c }) => {
      // In a cluster the terminal goes on the host placement chooses (forwarded there unless it is this one).
      const here = () => d.runner.open(principal, classId(c), c.req.raw.signal);
      return d.cluster && principal.kind === 'user' ? d.cluster.open(c, classId(c), principal.user.id, here) : here();
    } }),
    route({ method: 'get', path: '/api/classes/:classId/run', operationId: 'classRun', scope: 'class:read', summary: 'The latest Start class run and its progress (null if never started)', status: 200, response: classRunSchema.nullable(), handle: ({ c }) => d.runner.current(classId(c)) }),
    route({ method: 'post', path: '/api/classes/:classId/start', operationId: 'startClass', scope: 'class:manage', summary: 'Start class: prepare every student\'s environment ahead of time (progress in GET …/run and ClassEvents); idempotent', status: 200, response: z.object({ already: z.boolean(), run: classRunSchema }), handle: ({ principal, c }) => d.runner.start(principal, classId(c)) }),
    route({ method: 'get', path: '/api/classes/:classId/prepull', operationId: 'classPrepull', scope: 'class:assist', summary: 'Cluster mode: the latest pre-pull of the class environment onto the hosts its start uses (per host and RET: held, pulled or failed with the reason); null if none', status: 200, response: z.any(), handle: async ({ c }) => {
      const last = await d.db.auditLog.findFirst({ where: { action: 'class.prepull', classId: classId(c) }, orderBy: { at: 'desc' }, select: { details: true } });
      return last ? JSON.parse(last.details) : null;
    } }),
    route({ method: 'post', path: '/api/classes/:classId/stop', operationId: 'stopClass', scope: 'class:manage', summary: 'Stop class: cancel a start in progress, end every session of the class (students are told why); workspaces are kept', status: 200, response: z.object({ ended: z.number().int(), run: classRunSchema.nullable() }), handle: ({ principal, c }) => d.runner.stop(principal, classId(c)) }),
    route({ method: 'get', path: '/api/classes/:classId/workspace', operationId: 'downloadMyWorkspace', scope: 'class:read', summary: 'Download your workspace in this class as a zip (streamed)', status: 200, response: zipSchema, handle: async ({ principal, c }) => {
      if (principal.kind !== 'user') throw new AccessError('FORBIDDEN', 'the administrator has no workspace', 'download a student\'s with GET /api/classes/:classId/workspaces/:userId');
      const cls = await d.classes.active(classId(c));
      return zipResponse(d.workspaces.zip([{ prefix: '', cls, userId: principal.user.id }]), `${await slug(cls.id)}-${principal.user.username}.zip`);
    } }),
    route({ method: 'get', path: '/api/classes/:classId/workspaces/:userId', operationId: 'downloadStudentWorkspace', scope: 'class:assist', summary: 'Download one student\'s workspace as a zip (TAs and instructors of the class)', status: 200, response: zipSchema, handle: async ({ c }) => {
      const cls = await d.classes.row(classId(c));
      const userId = c.req.param('userId') ?? '';
      const member = (await d.classes.members(cls.id)).find((m) => m.userId === userId);
      if (!member) throw new AccessError('NOT_FOUND', `no member ${userId} in this class`);
      return zipResponse(d.workspaces.zip([{ prefix: '', cls, userId }]), `${await slug(cls.id)}-${member.username}.zip`);
    } }),
    route({ method: 'get', path: '/api/classes/:classId/starter-files', operationId: 'listStarterFiles', scope: 'class:assist', summary: 'The starter files copied into every new workspace', status: 200, response: z.array(starterFileSchema), handle: ({ c }) => d.workspaces.listStarter(classId(c)) }),
    route({ method: 'post', path: '/api/classes/:classId/starter-files', operationId: 'putStarterFile', scope: 'class:manage', summary: 'Add or replace a starter file: ?path=hello.py, the file as the request body', status: 200, response: starterFileSchema, handle: async ({ principal, c }) => {
      await d.classes.active(classId(c));
      const f = await d.workspaces.putStarter(classId(c), pathQuery(c), c.req.raw.body);
      await audit(d.db, principal, { action: 'class.starter.put', targetType: 'file', targetId: `${classId(c)}/${f.path}`, classId: classId(c), details: f });
      return f;
    } }),
    route({ method: 'delete', path: '/api/classes/:classId/starter-files', operationId: 'deleteStarterFile', scope: 'class:manage', summary: 'Remove a starter file (?path=…); workspaces that have it keep theirs', status: 200, response: z.object({ ok: z.literal(true) }), handle: async ({ c }) => (await d.workspaces.deleteStarter(classId(c), pathQuery(c)), { ok: true as const }) }),
    route({ method: 'post', path: '/api/classes/:classId/distribute', operationId: 'distribute', scope: 'class:manage', summary: 'Put a file into every student\'s workspace now (?path=week1/task.py, the file as the body); running terminals see it at once; a student\'s own file of that name is kept', status: 200, response: distributeReplySchema, handle: async ({ principal, c }) => {
      const cls = await d.classes.active(classId(c));
      const r = await d.workspaces.distribute(cls, await d.classes.students(cls.id), pathQuery(c), c.req.raw.body);
      await audit(d.db, principal, { action: 'class.distribute', targetType: 'file', targetId: `${cls.id}/${r.path}`, classId: cls.id, details: { path: r.path, bytes: r.bytes, delivered: r.delivered, failed: r.failures.length } });
      return r;
    } }),
    route({ method: 'get', path: '/api/classes/:classId/collect', operationId: 'collect', scope: 'class:manage', summary: 'Collect a path (?path=hello.py or a folder) from every student\'s workspace as one zip, one folder per student', status: 200, response: zipSchema, handle: async ({ c }) => {
      const cls = await d.classes.row(classId(c));
      const rel = pathQuery(c);
      const students = await d.classes.students(cls.id);
      return zipResponse(d.workspaces.zip(students.map((s) => ({ prefix: s.username, cls, userId: s.userId, relPath: rel }))), `${await slug(cls.id)}-${rel}.zip`);
    } }),
    route({ method: 'post', path: '/api/classes/:classId/packages', operationId: 'addPackage', scope: 'class:manage', summary: 'Add a package now: insert a RET into every running terminal of the class and add it to the environment for new ones', body: retBodySchema, status: 200, response: addPackageReplySchema, handle: async ({ principal, body, c }) => {
      const cls = await d.classes.active(classId(c));
      const tools = JSON.parse(cls.tools) as string[];
      const view = await d.classes.updateEnvironment(principal, cls.id, { tools: tools.includes(body.ret) ? tools : [...tools, body.ret] });
      const r = await d.runner.insertEverywhere(cls.id, body.ret);
      return { ret: body.ret, ...r, environment: view.environment };
    } }),
  ];
}
