// The host's configuration, validated once at start (the variables are listed in turbo.json's
// globalEnv). Everything has an embedded default so `npm start` works without any setup.

import { join } from 'node:path';
import { z } from 'zod';
import type { ClusterConfig } from './cluster/cluster-node.js';

const seconds = (def: number) => z.coerce.number().int().min(0).default(def);
const port = (def: number) => z.coerce.number().int().min(0).max(65535).default(def);

const envSchema = z.object({
  /** The web app's port (the host only needs it for CORS and the printed URL). */
  PORT: port(3000),
  /** The host's HTTP + socket.io port (loopback by default). */
  HOST_PORT: port(3001),
  /** The interface the host listens on. */
  HOST_BIND: z.string().default('127.0.0.1'),
  REG_HOME: z.string().min(1).default('/var/lib/reg'),
  /** Where the database, the signing secret and the unix socket live (default: REG_HOME). */
  REG_DATA_DIR: z.string().optional(),
  DATABASE_URL: z.string().optional(),
  /** How long a terminal stays alive with nobody attached (page reloads, dropped links). */
  SESSION_GRACE_SECONDS: seconds(60),
  /** A terminal nobody typed into for this long is ended. 0 disables. */
  IDLE_TIMEOUT_SECONDS: seconds(30 * 60),
  /** Memory samples of running containers go to the database this often. 0 disables. */
  MEMORY_SAMPLE_SECONDS: seconds(60),
  /** Lifetime of a sign-in (cookie or bearer token). */
  SESSION_TTL_SECONDS: seconds(12 * 3600),
  /** Lifetime of a terminal attach token: short, a fresh one is fetched for every attach. */
  ATTACH_TOKEN_TTL_SECONDS: seconds(120),
  /** Demo accounts' password; default: generated once and kept in the data dir. */
  REG_DEMO_PASSWORD: z.string().min(4).optional(),
  /** Production: no demo accounts; an `admin` with this password (to change at first sign-in) if the database has no admin. */
  REG_INITIAL_ADMIN_PASSWORD: z.string().min(12, 'at least 12 characters').optional(),
  /** Cluster mode (several hosts on one database): 1 to join; needs REG_SHARED_DIR. */
  REG_CLUSTER: z.enum(['0', '1', 'true', 'false']).default('0'),
  /** A directory every host reaches (NFS/CephFS in production): workspaces, starter files, the cluster secret. */
  REG_SHARED_DIR: z.string().min(1).optional(),
  /** The cluster secret (hex, mode 0600); default $REG_SHARED_DIR/cluster-secret, created by the first host. */
  REG_CLUSTER_SECRET_FILE: z.string().min(1).optional(),
  /** This host's id in the cluster; default: made once and kept in $REG_HOME/host-id. */
  REG_HOST_ID: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/, 'letters, digits, _ and - (up to 64)').optional(),
  /** Where other hosts and the web origin reach this host; default http://<HOST_BIND>:<port>. */
  REG_HOST_ADDRESS: z.string().url().optional(),
  /** Cluster mode: 1 (the default) refuses TCP requests the web origin (or another host) did not sign, so browsers cannot bypass the origin. */
  REG_CLUSTER_ORIGIN_ONLY: z.enum(['0', '1', 'true', 'false']).default('1'),
  /** Cluster heartbeat period; a host is marked down after 3 missed heartbeats. */
  REG_HEARTBEAT_SECONDS: z.coerce.number().min(0.05).max(60).default(3),
  /** A host whose clock is further than this from the database's may not join. */
  REG_CLUSTER_MAX_CLOCK_SKEW_SECONDS: z.coerce.number().min(1).default(30),
  /** Warm terminals (launchers parked under ptys) kept while no class is starting. */
  TERMINAL_POOL_MIN: z.coerce.number().int().min(0).max(4096).default(2),
  /** Warm terminals parked at most, Start class holds included (one per student). 0 turns the pool off. */
  TERMINAL_POOL_MAX: z.coerce.number().int().min(0).max(4096).default(512),
  /** How long SIGTERM may take to end every terminal and unmount every workspace before the host exits anyway (a second signal exits at once). */
  REG_SHUTDOWN_SECONDS: z.coerce.number().min(1).max(3600).default(120),
  /** info: start-up lines and session ends; debug: every API request too. */
  LOG_LEVEL: z.enum(['silent', 'info', 'debug']).default('info'),
});

export interface HostConfig {
  webPort: number;
  hostPort: number;
  bind: string;
  regHome: string;
  dataDir: string;
  databaseUrl: string;
  socketPath: string;
  graceMs: number;
  /** REG_SHUTDOWN_SECONDS: the most a SIGTERM's clean shutdown may take. */
  shutdownMs: number;
  idleMs: number;
  memorySampleMs: number;
  sessionTtlMs: number;
  attachTtlMs: number;
  demoPassword: string | undefined;
  /** REG_INITIAL_ADMIN_PASSWORD: seed only a first admin (db/demo-accounts.ts seedInitialAdmin), no demo accounts. */
  initialAdminPassword?: string;
  logLevel: 'silent' | 'info' | 'debug';
  /** Warm terminals: kept while quiet, and at most (Start class holds included); undefined: off. */
  terminalPool?: { min: number; max: number };
  /** Set in cluster mode (REG_CLUSTER=1). */
  cluster?: ClusterConfig;
  /** Cluster mode: only requests signed with the cluster secret are answered on TCP (cluster/origin-guard.ts). */
  originOnly?: boolean;
}

/** Parses the environment; throws with every problem listed (the host prints them and exits). */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): HostConfig {
  const r = envSchema.safeParse(env);
  if (!r.success) {
    const lines = r.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new Error(`invalid configuration:\n${lines.join('\n')}`);
  }
  const e = r.data;
  const dataDir = e.REG_DATA_DIR ?? e.REG_HOME;
  const clustered = e.REG_CLUSTER === '1' || e.REG_CLUSTER === 'true';
  if (clustered && !e.REG_SHARED_DIR) throw new Error('invalid configuration:\n  REG_SHARED_DIR: REG_CLUSTER=1 needs a directory every host reaches (workspaces and the cluster secret live there)');
  if (e.TERMINAL_POOL_MAX > 0 && e.TERMINAL_POOL_MIN > e.TERMINAL_POOL_MAX) throw new Error(`invalid configuration:\n  TERMINAL_POOL_MIN: ${e.TERMINAL_POOL_MIN} is above TERMINAL_POOL_MAX (${e.TERMINAL_POOL_MAX}); lower it or raise the maximum`);
  if (clustered && !e.DATABASE_URL) throw new Error('invalid configuration:\n  DATABASE_URL: REG_CLUSTER=1 needs the database every host shares (postgresql://…)');
  return {
    webPort: e.PORT,
    hostPort: e.HOST_PORT,
    bind: e.HOST_BIND,
    regHome: e.REG_HOME,
    dataDir,
    databaseUrl: e.DATABASE_URL ?? `file:${join(dataDir, 'reg.db')}`,
    socketPath: join(dataDir, 'reg.sock'),
    graceMs: e.SESSION_GRACE_SECONDS * 1000,
    shutdownMs: e.REG_SHUTDOWN_SECONDS * 1000,
    idleMs: e.IDLE_TIMEOUT_SECONDS * 1000,
    memorySampleMs: e.MEMORY_SAMPLE_SECONDS * 1000,
    sessionTtlMs: e.SESSION_TTL_SECONDS * 1000,
    attachTtlMs: e.ATTACH_TOKEN_TTL_SECONDS * 1000,
    demoPassword: e.REG_DEMO_PASSWORD,
    ...(e.REG_INITIAL_ADMIN_PASSWORD && { initialAdminPassword: e.REG_INITIAL_ADMIN_PASSWORD }),
    logLevel: e.LOG_LEVEL,
    ...(clustered && (e.REG_CLUSTER_ORIGIN_ONLY === '1' || e.REG_CLUSTER_ORIGIN_ONLY === 'true') && { originOnly: true }),
    ...(e.TERMINAL_POOL_MAX > 0 && { terminalPool: { min: e.TERMINAL_POOL_MIN, max: e.TERMINAL_POOL_MAX } }),
    ...(clustered && {
      cluster: {
        sharedDir: e.REG_SHARED_DIR!,
        secretFile: e.REG_CLUSTER_SECRET_FILE ?? join(e.REG_SHARED_DIR!, 'cluster-secret'),
        ...(e.REG_HOST_ID && { hostId: e.REG_HOST_ID }),
        ...(e.REG_HOST_ADDRESS && { address: e.REG_HOST_ADDRESS.replace(/\/+$/, '') }),
        heartbeatMs: Math.round(e.REG_HEARTBEAT_SECONDS * 1000),
        maxClockSkewMs: Math.round(e.REG_CLUSTER_MAX_CLOCK_SKEW_SECONDS * 1000),
      },
    }),
  };
}
