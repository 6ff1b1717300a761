// The classroom's API shapes: classes and their environment, rosters, join codes, "Start class"
// progress, workspaces, distribute and collect. The host validates requests with them and
// generates its OpenAPI description from them; the web app's class client uses the inferred types.

import { z } from 'zod';
import { CLASS_ROLES, retRefSchema } from './api-schemas.js';

export const classNameSchema = z.string().trim().min(1, 'a class needs a name').max(120, 'at most 120 characters');

/** A class's limits layer (reg-core's Limits fields); resolved against the admin's defaults and ceilings. */
export const classLimitsSchema = z
  .object({
    memoryBytes: z.number().int().positive(),
    pids: z.number().int().positive(),
    cpus: z.number().positive(),
    diskBytes: z.number().int().positive(),
    diskInodes: z.number().int().positive(),
    ptys: z.number().int().positive(),
  })
  .partial()
  .strict();
export type ClassLimits = z.infer<typeof classLimitsSchema>;

/** Everything a class's containers are made from. Only instructors of the class change it. */
export const classEnvironmentSchema = z.object({
  /** The runtime RET, e.g. python@3.11. */
  ret: retRefSchema,
  /** RETs beside the runtime: a shell and tools (tools@1), course packages (python3-numpy). */
  tools: z.array(retRefSchema).max(32),
  limits: classLimitsSchema,
  maxContainersPerStudent: z.number().int().min(1).max(64).nullable(),
  workspaceQuotaMiB: z.number().int().min(1).max(1024 * 1024).nullable(),
  workspaceQuotaInodes: z.number().int().min(100).max(100_000_000).nullable(),
  idleTimeoutSeconds: z.number().int().min(0).max(7 * 24 * 3600).nullable(),
  idleWarnSeconds: z.number().int().min(0).max(24 * 3600).nullable(),
  scheduledStartAt: z.iso.datetime({ offset: true }).nullable(),
});
export type ClassEnvironment = z.infer<typeof classEnvironmentSchema>;

export const createClassSchema = z
  .object({
    name: classNameSchema,
    ret: retRefSchema,
    tools: z.array(retRefSchema).max(32).default([]),
  })
  .strict();
export type CreateClass = z.input<typeof createClassSchema>;

/** A partial environment update (every field optional; null clears to the host's default). */
export const updateEnvironmentSchema = classEnvironmentSchema.extend({ name: classNameSchema }).partial().strict();
export type UpdateEnvironment = z.input<typeof updateEnvironmentSchema>;

export const RUN_STATUSES = ['starting', 'started', 'stopping', 'stopped', 'failed'] as const;

export const runFailureSchema = z.object({ userId: z.string(), username: z.string(), code: z.string(), message: z.string() });

/** One "Start class" .. "Stop class" and its honest progress. */
export const classRunSchema = z.object({
  id: z.string(),
  status: z.enum(RUN_STATUSES),
  total: z.number().int(),
  ready: z.number().int(),
  failed: z.number().int(),
  failures: z.array(runFailureSchema),
  startedAt: z.string(),
  readyAt: z.string().nullable(),
  stoppedAt: z.string().nullable(),
  startedBy: z.string().nullable(),
});
export type ClassRunView = z.infer<typeof classRunSchema>;

export const classSchema = z.object({
  id: z.string(),
  name: z.string(),
  owner: z.string(),
  /** The caller's role in this class (admins: instructor). */
  role: z.enum(CLASS_ROLES),
  archived: z.boolean(),
  createdAt: z.string(),
  environment: classEnvironmentSchema,
  /** Only instructors of the class see the join code. */
  joinCode: z.string().nullable().optional(),
  students: z.number().int(),
  tas: z.number().int(),
  run: classRunSchema.nullable(),
});
export type ClassView = z.infer<typeof classSchema>;

export const memberSchema = z.object({
  userId: z.string(),
  username: z.string(),
  displayName: z.string().nullable(),
  email: z.string().nullable(),
  role: z.enum(CLASS_ROLES),
  joinedAt: z.string(),
  /** Workspace use, when the student has one. */
  workspace: z.object({ bytesUsed: z.number().int(), lastUsedAt: z.string().nullable() }).nullable(),
  /** This member's own limits over the class's (empty: the class's apply). */
  limits: classLimitsSchema.optional(),
});
export type MemberView = z.infer<typeof memberSchema>;

/** `POST /api/classes/:classId/members/:userId/limits`: a student's override ({}: none). */
export const memberLimitsSchema = z.object({ limits: classLimitsSchema }).strict();

export const addMemberSchema = z.object({ username: z.string().trim().min(1).max(64), role: z.enum(['student', 'ta']).default('student') }).strict();

export const joinCodeActionSchema = z.object({ action: z.enum(['rotate', 'disable']) }).strict();
export const joinCodeReplySchema = z.object({ joinCode: z.string().nullable() });
export const joinClassSchema = z.object({ code: z.string().trim().min(4).max(32) }).strict();

export const archiveSchema = z.object({ archived: z.boolean() }).strict();

/** A roster problem, named by line (1-based) and field, for the instructor to fix. */
export const rosterIssueSchema = z.object({ line: z.number().int(), field: z.string(), message: z.string() });
export type RosterIssue = z.infer<typeof rosterIssueSchema>;

export const ROSTER_CREDENTIALS = ['password', 'link'] as const;

export const rosterReplySchema = z.object({
  /** New accounts with what to hand out: shown once, never stored in clear. */
  created: z.array(z.object({ username: z.string(), displayName: z.string().nullable(), password: z.string().optional(), signInLink: z.string().optional() })),
  /** Existing users now enrolled. */
  enrolled: z.array(z.string()),
  /** Already members of the class (unchanged). */
  unchanged: z.array(z.string()),
});
export type RosterReply = z.infer<typeof rosterReplySchema>;

export const starterFileSchema = z.object({ path: z.string(), bytes: z.number().int() });

export const distributeReplySchema = z.object({
  path: z.string(),
  bytes: z.number().int(),
  delivered: z.number().int(),
  failures: z.array(runFailureSchema),
});
export type DistributeReply = z.infer<typeof distributeReplySchema>;

export const addPackageReplySchema = z.object({ ret: z.string(), inserted: z.number().int(), failures: z.array(runFailureSchema), environment: classEnvironmentSchema });
