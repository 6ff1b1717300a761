// The HTTP API's request and response shapes. The host validates with them and generates its
// OpenAPI description from them; the web app uses the inferred types. Mirrors reg-core's
// ContainerState without importing it (the web app must not depend on the engine).

import { z } from 'zod';

/** Global roles. Teaching assistants are a class role (CLASS_ROLES), scoped to the classes they assist. */
export const ROLES = ['student', 'instructor', 'admin'] as const;
export type Role = (typeof ROLES)[number];
/** A member's role in one class; a class's owner is its instructor. */
export const CLASS_ROLES = ['student', 'ta', 'instructor'] as const;
export type ClassRole = (typeof CLASS_ROLES)[number];

export const CONTAINER_STATUSES = ['generating', 'generated', 'running', 'inserting', 'stopped', 'removed'] as const;

export const outcomeSchema = z.object({
  outcome: z.enum(['exited', 'signaled', 'oom', 'timeout', 'exec-failed', 'setup-failed']),
  code: z.number().int().optional(),
  signal: z.number().int().optional(),
  error: z.string().optional(),
});
export type Outcome = z.infer<typeof outcomeSchema>;

export const retRefSchema = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[a-z0-9][a-z0-9._-]*(@[A-Za-z0-9.^~<>=*x+ -]+)?$/, 'a RET reference looks like python@3.11');

export const limitsSchema = z
  .object({
    memoryBytes: z.number().int().positive().optional(),
    swapBytes: z.number().int().min(0).optional(),
    pids: z.number().int().positive().optional(),
    cpuMillicores: z.number().int().positive().optional(),
  })
  .strict();

export const createContainerSchema = z
  .object({
    ret: retRefSchema,
    command: z.array(z.string().min(1).max(4096)).min(1).max(64).optional(),
    name: z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/).optional(),
    limits: limitsSchema.optional(),
    /** true (default): start it now under a pseudo-terminal that browsers attach to; false: only generate it. */
    terminal: z.boolean().default(true),
    /**
     * The writable layer ends with the container: a tmpfs of the disk quota inside it, empty at each
     * start, nothing on the host (terminals always are; `reg run --rm` through a host asks for it).
     */
    ephemeral: z.boolean().optional(),
  })
  .strict();
export type CreateContainer = z.input<typeof createContainerSchema>;

export const retBodySchema = z.object({ ret: retRefSchema }).strict();

export const containerSchema = z.object({
  id: z.string(),
  name: z.string().optional(),
  ret: z.string(),
  rets: z.array(z.string()),
  inserted: z.array(z.object({ ref: z.string(), rets: z.array(z.string()) })),
  command: z.array(z.string()),
  status: z.enum(CONTAINER_STATUSES),
  tty: z.boolean(),
  createdAt: z.string(),
  startedAt: z.string().optional(),
  finishedAt: z.string().optional(),
  outcome: outcomeSchema.optional(),
  /** The user who owns it (null: created by an administrator over the unix socket). */
  owner: z.string().nullable(),
  /** Whether a terminal session is live on the host (attachable). */
  attachable: z.boolean(),
  /** The class whose environment and workspace it runs (absent: a scratch or API container). */
  classId: z.string().optional(),
});
export type ContainerView = z.infer<typeof containerSchema>;

export const retSchema = z.object({
  name: z.string(),
  version: z.string(),
  description: z.string().optional(),
  /** runtime, package, library, base or data: what the new-class form offers as a tool. */
  kind: z.enum(['runtime', 'library', 'data', 'base', 'package']).optional(),
  /** The RETs it brings in (libs and requires as written): a bundle's parts, a package's dependencies. */
  requires: z.array(z.string()).optional(),
});

export const userSchema = z.object({
  id: z.string(),
  username: z.string(),
  role: z.enum(ROLES),
  /** The account still has its initial password: the web app sends it to the change-password page. */
  mustChangePassword: z.boolean().optional(),
});
export type UserView = z.infer<typeof userSchema>;

export const signInSchema = z.object({ username: z.string().min(1).max(64), password: z.string().min(1).max(256) }).strict();
export const signInReplySchema = z.object({ user: userSchema, token: z.string(), expiresAt: z.string(), mustChangePassword: z.boolean().optional() });

export const terminalTokenSchema = z.object({ token: z.string(), expiresAt: z.string() });

export const statsSchema = z.object({
  containers: z.array(
    z.object({
      id: z.string(),
      name: z.string().optional(),
      ret: z.string(),
      pids: z.number(),
      rss: z.number(),
      pss: z.number(),
      uss: z.number(),
      shared: z.number(),
      cgroupMemoryBytes: z.number(),
      oomKills: z.number(),
    }),
  ),
  total: z.record(z.string(), z.number()),
  savedBySharing: z.number(),
  hostUsedBytes: z.number(),
  host: z.object({ rssBytes: z.number(), sessions: z.number() }),
});

export const apiErrorSchema = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    hint: z.string().optional(),
    field: z.string().optional(),
    issues: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  }),
});
export type ApiError = z.infer<typeof apiErrorSchema>;
