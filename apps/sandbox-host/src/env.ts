// The host's configuration, validated once at start (the variables are listed in turbo.json's
// globalEnv). Everything has an embedded default so `npm start` works without any setup.

import { join } from 'node:path';
import { z } from 'zod';

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
  idleMs: number;
  memorySampleMs: number;
  sessionTtlMs: number;
  attachTtlMs: number;
  demoPassword: string | undefined;
  logLevel: 'silent' | 'info' | 'debug';
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
  return {
    webPort: e.PORT,
    hostPort: e.HOST_PORT,
    bind: e.HOST_BIND,
    regHome: e.REG_HOME,
    dataDir,
    databaseUrl: e.DATABASE_URL ?? `file:${join(dataDir, 'reg.db')}`,
    socketPath: join(dataDir, 'reg.sock'),
    graceMs: e.SESSION_GRACE_SECONDS * 1000,
    idleMs: e.IDLE_TIMEOUT_SECONDS * 1000,
    memorySampleMs: e.MEMORY_SAMPLE_SECONDS * 1000,
    sessionTtlMs: e.SESSION_TTL_SECONDS * 1000,
    attachTtlMs: e.ATTACH_TOKEN_TTL_SECONDS * 1000,
    demoPassword: e.REG_DEMO_PASSWORD,
    logLevel: e.LOG_LEVEL,
  };
}
