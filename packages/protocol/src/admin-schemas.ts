// What the admin pages, the sign-in pages and the host agree on: account management (users,
// password changes, one-time sign-in links), the audit log and the live memory dashboard's
// payloads (the /admin socket.io namespace). The host validates every request with these; the web
// app uses the inferred types.

import { z } from 'zod';
import { ROLES } from './api-schemas.js';

export const usernameSchema = z
  .string()
  .min(2)
  .max(64)
  .regex(/^[a-z0-9][a-z0-9._-]*$/, 'a username is lower-case letters, digits, dot, dash or underscore, starting with a letter or digit');

/** Passwords users choose: long enough to matter, short enough that hashing stays cheap. */
export const newPasswordSchema = z.string().min(10, 'at least 10 characters').max(256);

export const changePasswordSchema = z
  .object({
    /** Required unless the account must change its initial password (then the session proves it). */
    oldPassword: z.string().max(256).optional(),
    newPassword: newPasswordSchema,
  })
  .strict();

export const linkSignInSchema = z.object({ token: z.string().min(20).max(200) }).strict();

export const adminUserSchema = z.object({
  id: z.string(),
  username: z.string(),
  displayName: z.string().nullable(),
  email: z.string().nullable(),
  role: z.enum(ROLES),
  disabled: z.boolean(),
  mustChangePassword: z.boolean(),
  createdAt: z.string(),
  /** Live sign-ins (not revoked, not expired). */
  sessions: z.number(),
  /** Containers the host runs for them now. */
  runningContainers: z.number(),
  classes: z.number(),
  lastSeenAt: z.string().nullable(),
});
export type AdminUser = z.infer<typeof adminUserSchema>;

export const userListQuerySchema = z.object({
  q: z.string().max(100).optional(),
  role: z.enum(ROLES).optional(),
  status: z.enum(['active', 'disabled']).optional(),
  page: z.coerce.number().int().min(1).default(1),
  pageSize: z.coerce.number().int().min(1).max(200).default(50),
});

export const userListSchema = z.object({ users: z.array(adminUserSchema), total: z.number(), page: z.number(), pageSize: z.number() });

/** How a new or reset account gets its first password: shown once, or a one-time sign-in link. */
export const credentialModeSchema = z.enum(['password', 'link']);

export const createUserSchema = z
  .object({
    username: usernameSchema,
    displayName: z.string().max(200).optional(),
    email: z.email().max(200).optional(),
    role: z.enum(ROLES).default('student'),
    credential: credentialModeSchema.default('password'),
  })
  .strict();

/** A new account's first credential, shown to the admin once and never stored in clear. */
export const issuedCredentialSchema = z.object({
  username: z.string(),
  /** credential "password": the initial password (the user must change it at first sign-in). */
  initialPassword: z.string().optional(),
  /** credential "link": the one-time sign-in path (relative to the web app) and its expiry. */
  link: z.string().optional(),
  expiresAt: z.string().optional(),
});

export const createUserReplySchema = z.object({ user: adminUserSchema, credential: issuedCredentialSchema });

export const importUsersSchema = z.object({ csv: z.string().min(1).max(1_000_000), credential: credentialModeSchema.default('password') }).strict();
export const importUsersReplySchema = z.object({ created: z.array(issuedCredentialSchema) });

export const updateUserSchema = z
  .object({
    role: z.enum(ROLES).optional(),
    disabled: z.boolean().optional(),
    displayName: z.string().max(200).nullable().optional(),
    email: z.email().max(200).nullable().optional(),
  })
  .strict()
  .refine((v) => Object.keys(v).length > 0, 'change at least one of role, disabled, displayName, email');

export const resetPasswordSchema = z.object({ credential: credentialModeSchema.default('password') }).strict();

export const deleteUserSchema = z
  .object({
    /** keep: the user's workspaces stay on disk (an admin can hand them over); remove: deleted with the account. */
    workspaces: z.enum(['keep', 'remove']),
    /** Must equal the username: the page's confirmation, checked by the host too. */
    confirm: z.string(),
  })
  .strict();

export const deleteUserReplySchema = z.object({ ok: z.literal(true), containersEnded: z.number(), workspaces: z.enum(['kept', 'removed']) });

export const auditEntrySchema = z.object({
  id: z.number(),
  at: z.string(),
  actorId: z.string().nullable(),
  actorName: z.string(),
  actorRole: z.string(),
  action: z.string(),
  targetType: z.string().nullable(),
  targetId: z.string().nullable(),
  classId: z.string().nullable(),
  details: z.record(z.string(), z.unknown()),
  ip: z.string().nullable(),
});
export type AuditEntryView = z.infer<typeof auditEntrySchema>;

export const auditQuerySchema = z.object({
  actor: z.string().max(64).optional(),
  /** An action or an action prefix ending in a dot: `user.` matches user.create, user.disable, … */
  action: z.string().max(64).optional(),
  classId: z.string().max(64).optional(),
  from: z.iso.datetime({ offset: true }).optional(),
  to: z.iso.datetime({ offset: true }).optional(),
  page: z.coerce.number().int().min(1).default(1),
  pageSize: z.coerce.number().int().min(1).max(200).default(50),
});

export const auditPageSchema = z.object({ entries: z.array(auditEntrySchema), total: z.number(), page: z.number(), pageSize: z.number() });

// ---- The memory dashboard (socket.io namespace /admin, event "snapshot", every 1-2 s) ----

const figuresSchema = z.object({ rss: z.number(), pss: z.number(), uss: z.number(), shared: z.number() });

export const memoryContainerSchema = figuresSchema.extend({
  id: z.string(),
  user: z.string().nullable(),
  userId: z.string().nullable(),
  class: z.string().nullable(),
  classId: z.string().nullable(),
  ret: z.string(),
  pids: z.number(),
  /** The cgroup's own count (page cache included) and its limit; null: no limit. */
  cgroupBytes: z.number(),
  limitBytes: z.number().nullable(),
  /** cgroupBytes / limitBytes, 0..1 (null without a limit). */
  limitUse: z.number().nullable(),
  oomKills: z.number(),
});
export type MemoryContainer = z.infer<typeof memoryContainerSchema>;

export const memoryGroupSchema = figuresSchema.extend({ key: z.string(), label: z.string(), containers: z.number() });
export type MemoryGroup = z.infer<typeof memoryGroupSchema>;

export const psiSchema = z.object({ avg10: z.number(), avg60: z.number(), avg300: z.number(), totalUs: z.number() });

export const alertSchema = z.object({
  kind: z.enum(['near-limit', 'host-pressure', 'host-low-memory', 'store-disk', 'class-start-failed']),
  severity: z.enum(['warning', 'critical']),
  message: z.string(),
  target: z.string().optional(),
});
export type DashboardAlert = z.infer<typeof alertSchema>;

export const memorySnapshotSchema = z.object({
  at: z.string(),
  /** How long computing this snapshot took (ms): the cost of watching. */
  sampleMs: z.number(),
  /** How often snapshots come while watched: 2 s, longer when that would cost more than 5% of a core. */
  everyMs: z.number(),
  host: z.object({
    total: z.number(),
    used: z.number(),
    available: z.number(),
    free: z.number(),
    pageCache: z.number(),
    swapTotal: z.number(),
    swapUsed: z.number(),
    psi: z.object({ some: psiSchema, full: psiSchema.nullable() }).nullable(),
  }),
  /** host.used = containersPss + regHostRss + other (other: the web app, the OS, every other process). */
  reconcile: z.object({ hostUsed: z.number(), containersPss: z.number(), regHostRss: z.number(), other: z.number() }),
  totals: figuresSchema.extend({ containers: z.number() }),
  sharing: z.object({ withoutSharing: z.number(), withSharing: z.number(), saved: z.number() }),
  containers: z.array(memoryContainerSchema),
  byUser: z.array(memoryGroupSchema),
  byClass: z.array(memoryGroupSchema),
  byRet: z.array(memoryGroupSchema),
  capacity: z.array(z.object({ ret: z.string(), perContainerUss: z.number(), measuredOn: z.number(), fits: z.number() })),
  store: z
    .object({
      rets: z.number(),
      blobs: z.number(),
      bytes: z.number(),
      logicalBytes: z.number(),
      savedBytes: z.number(),
      diskTotal: z.number(),
      diskFree: z.number(),
      closures: z.array(z.object({ ret: z.string(), rets: z.number(), files: z.number(), bytes: z.number() })),
      shared: z.array(z.object({ digest: z.string(), size: z.number(), referencedBy: z.array(z.string()) })),
    })
    .nullable(),
  alerts: z.array(alertSchema),
});
export type MemorySnapshot = z.infer<typeof memorySnapshotSchema>;

export const historyPointSchema = z.object({
  t: z.number(),
  hostUsed: z.number(),
  hostAvailable: z.number(),
  pageCache: z.number(),
  swapUsed: z.number(),
  pss: z.number(),
  rss: z.number(),
  uss: z.number(),
  saved: z.number(),
  containers: z.number(),
  psiSome10: z.number().nullable(),
});
export type HistoryPoint = z.infer<typeof historyPointSchema>;
export const historyRangeSchema = z.enum(['live', 'hour', 'day', 'month']);
export const historySchema = z.object({ range: historyRangeSchema, resolutionSeconds: z.number(), points: z.array(historyPointSchema) });

/** Admin actions from the dashboard. */
export const adminStopContainerSchema = z.object({ containerId: z.string().regex(/^[0-9a-f]{12}$/) }).strict();

export interface AdminServerToClientEvents {
  snapshot: (s: MemorySnapshot) => void;
}
export interface AdminClientToServerEvents {
  history: (range: z.infer<typeof historyRangeSchema>, ack: (r: z.infer<typeof historySchema> | { error: string }) => void) => void;
}

// ---- The admin's limit policy (defaults, ceilings, per-user container cap) ----

export const LIMIT_FIELD_NAMES = ['memoryBytes', 'pids', 'cpus', 'diskBytes', 'diskInodes', 'ptys'] as const;
const limitValues = z.object({ memoryBytes: z.number(), pids: z.number(), cpus: z.number(), diskBytes: z.number(), diskInodes: z.number(), ptys: z.number() });
export type LimitValues = z.infer<typeof limitValues>;
export const limitPolicyViewSchema = z.object({
  /** The policy in force (what every new container resolves its limits against). */
  defaults: limitValues,
  ceilings: limitValues,
  maxContainersPerUser: z.number(),
  /** What this machine has: ceilings are never set above these. */
  host: limitValues,
});
export type LimitPolicyView = z.infer<typeof limitPolicyViewSchema>;
/** The least a default or ceiling may be: below these a container cannot even start a shell. */
export const LIMIT_MINIMUMS = { memoryBytes: 16 * 2 ** 20, pids: 8, cpus: 0.05, diskBytes: 2 ** 20, diskInodes: 64, ptys: 2 } as const satisfies LimitValues;
/** One layer of the policy as the admin sends it: known fields only, each a sane number. */
const limitUpdate = z
  .object({
    memoryBytes: z.number().int('a whole number of bytes').min(LIMIT_MINIMUMS.memoryBytes, 'at least 16 MiB (16777216 bytes)'),
    pids: z.number().int('a whole number').min(LIMIT_MINIMUMS.pids, 'at least 8 processes'),
    cpus: z.number().min(LIMIT_MINIMUMS.cpus, 'at least 0.05 CPUs'),
    diskBytes: z.number().int('a whole number of bytes').min(LIMIT_MINIMUMS.diskBytes, 'at least 1 MiB (1048576 bytes)'),
    diskInodes: z.number().int('a whole number').min(LIMIT_MINIMUMS.diskInodes, 'at least 64 files'),
    ptys: z.number().int('a whole number').min(LIMIT_MINIMUMS.ptys, 'at least 2 terminals'),
  })
  .partial()
  .strict();
export const updateLimitPolicySchema = z
  .object({
    defaults: limitUpdate.optional(),
    ceilings: limitUpdate.optional(),
    maxContainersPerUser: z.number().int('a whole number').min(1, 'at least 1 container').max(1000).optional(),
  })
  .strict();

/**
 * One sandbox host as the admin's Hosts page sees it (GET /api/admin/hosts). In a cluster,
 * `status` is judged as the web origin judges it (GET /api/cluster/hosts): "up" only within the
 * heartbeat window and signed with the cluster secret. Host addresses are never sent to browsers.
 */
export const adminHostSchema = z.object({
  id: z.string(),
  status: z.enum(['up', 'down', 'left']),
  cgroupVersion: z.number(),
  memoryBytes: z.number(),
  freeMemoryBytes: z.number(),
  /** Open terminals on that host. */
  containers: z.number(),
  /** The RETs in its store, "name@version". */
  rets: z.array(z.string()),
  version: z.string(),
  startedAt: z.string(),
  heartbeatAt: z.string(),
  downAt: z.string().nullable(),
  downReason: z.string().nullable(),
});
export type AdminHost = z.infer<typeof adminHostSchema>;

export const adminHostsSchema = z.object({
  /** false: one host, no cluster (REG_CLUSTER unset). */
  cluster: z.boolean(),
  /** The id of the host that answered (null on a single host). */
  self: z.string().nullable(),
  hosts: z.array(adminHostSchema),
});
export type AdminHosts = z.infer<typeof adminHostsSchema>;
