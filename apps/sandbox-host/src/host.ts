// Assembles and runs a Reg host: database (migrated, demo accounts seeded), engine (reconciled
// with what a previous host left), the HTTP API on TCP and on the unix socket, socket.io
// terminals on TCP, and the memory sampler. close() ends every terminal (stop + remove) and stops
// listening: the hand-over is "nothing survives the host", which reconcile() makes true even
// after a crash.

import { chmod, mkdir, rm } from 'node:fs/promises';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { getRequestListener } from '@hono/node-server';
import { Engine } from '@reg/core';
import type { ClassRole } from '@reg/protocol';
import { Server as SocketIoServer } from 'socket.io';
import { endContainersOf } from './admin/end-user-containers.js';
import { authRoutes } from './auth/auth-routes.js';
import { userRoutes } from './admin/user-routes.js';
import { UserService } from './admin/user-service.js';
import { AuthService } from './auth/auth-service.js';
import { AuthSessions } from './auth/auth-sessions.js';
import { SignInLimiter } from './auth/sign-in-limiter.js';
import { dashboardRoutes } from './admin/dashboard-routes.js';
import { limitRoutes } from './admin/limit-routes.js';
import { registerAdminNamespace } from './metrics/admin-namespace.js';
import { MemoryMonitor } from './metrics/memory-monitor.js';
import { loadOrCreateMetricsToken, metricsHandler } from './metrics/metrics-endpoint.js';
import { MemoryMetrics } from './metrics/prometheus.js';
import { loadOrCreateSecret } from './auth/secret.js';
import { TokenSigner } from './auth/signed-token.js';
import { ContainerService } from './containers/container-service.js';
import { MemorySampler } from './containers/memory-sampler.js';
import { reconcileOnStart, stopExpired } from './containers/reconcile-on-start.js';
import { openDb, type Db } from './db/client.js';
import { ClusterNode, HOST_VERSION } from './cluster/cluster-node.js';
import { registerClusterRoutes } from './cluster/cluster-routes.js';
import { hostRoutes } from './admin/host-routes.js';
import { seedDemoAccounts, seedInitialAdmin } from './db/demo-accounts.js';
import { healthRoutes } from './db/health-route.js';
import type { HostConfig } from './env.js';
import { apiRoutes, type ApiDeps } from './http/api-routes.js';
import { buildApp, SESSION_COOKIE } from './http/app.js';
import { openApiDocument } from './http/openapi.js';
import { createLog, type Log } from './log.js';
import { SessionRegistry } from './terminals/session-registry.js';
import { TerminalPool } from './terminals/terminal-pool.js';
import { registerTerminalNamespace } from './terminals/terminal-namespace.js';
import { createClassroom } from './classes/classroom.js';
import { registerClassLiveNamespace } from './terminals/class-live-namespace.js';
import { attachSocketAdapter, registerSharingRoute } from './cluster/socket-adapter.js';
import { originCheck, originOnlyHandshake, originOnlyListener } from './cluster/origin-guard.js';
import { ClassEvents } from './classes/class-events.js';
import type { ClassMembership } from './auth/scopes.js';

export interface RunningHost {
  /** The TCP port actually bound (useful with HOST_PORT=0). */
  port: number;
  socketPath: string;
  demo: { password: string; users: ReadonlyArray<{ username: string; role: string }> };
  engine: Engine;
  db: Db;
  sessions: SessionRegistry;
  signer: TokenSigner;
  /** The memory dashboard's sampler (snapshots, history). */
  monitor: MemoryMonitor;
  /** Bearer token for GET /metrics (also in $REG_DATA_DIR/metrics-token). */
  metricsToken: string;
  /** Ends every terminal (stop + remove their containers), then stops listening. */
  close(): Promise<void>;
}

/** socket.io's transport limit: above INPUT_CHUNK_MAX so oversize input gets a polite error. */
const MAX_SOCKET_MESSAGE = 1024 * 1024;
/** The memory dashboard's sampling period while an admin watches (once a minute otherwise). */
const ADMIN_SAMPLE_MS = 2000;

export async function startHost(config: HostConfig, opts: { log?: Log } = {}): Promise<RunningHost> {
  const log = opts.log ?? createLog(config.logLevel);
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  const opened = await openDb(config.databaseUrl);
  const migrated = opened.migrated;
  // Cluster mode: this host's identity and the shared secret; its Container rows record it.
  const cluster = config.cluster ? await ClusterNode.open(config.cluster, { regHome: config.regHome, databaseUrl: config.databaseUrl, version: HOST_VERSION }) : undefined;
  const db = cluster ? cluster.scopeDb(opened.db) : opened.db;
  if (migrated.length) log.info(`database migrated: ${migrated.join(', ')}`);
  // A production start names its first admin's password instead: no demo accounts at all then.
  const demo = config.initialAdminPassword ? (await seedInitialAdmin(db, config.initialAdminPassword), { password: '', users: [] }) : await seedDemoAccounts(db, config.dataDir, config.demoPassword);
  // One signing key for the whole cluster: a sign-in on one host is valid on every host.
  const signer = new TokenSigner(cluster ? cluster.sessionKey : await loadOrCreateSecret(config.dataDir));
  // Warm terminals: the engine parks launchers under node-pty ptys of ours (terminals/terminal-pool.ts).
  const terminalPool = config.terminalPool ? new TerminalPool({ ...config.terminalPool, log }) : undefined;
  const engine = await Engine.open({ home: config.regHome, ...(terminalPool && config.terminalPool && { pool: { spawn: terminalPool.spawn, max: config.terminalPool.max } }) });
  let terminalCount = () => 0;
  let fencedHandler: (reason: string) => Promise<void> = async () => {};
  let adoptRuns: (hostId: string) => Promise<unknown> = async () => {};
  // Joining refuses (clock far off, this id live in another process, another secret) before anything is touched.
  await cluster?.join(db, { engine: () => engine, terminals: () => terminalCount(), onFenced: (reason) => fencedHandler(reason), events: () => classEvents, adoptRuns: (id) => adoptRuns(id), log }).catch(async (e) => {
    await engine.disposeCgroupParent().catch(() => {});
    await db.$disconnect();
    throw e;
  });
  const swept = await reconcileOnStart(engine, db, log, cluster ? { hostId: cluster.id } : {});
  // Detached containers have an owner-side lifetime too: checked every minute (reconcile-on-start.ts).
  const lifetimes = setInterval(() => void stopExpired(engine, db, log, undefined, Date.now(), cluster?.id).catch((e) => log.error('stopping expired containers', e)), 60_000);
  lifetimes.unref();
  if (swept.length) log.info(`previous host's terminals closed: ${swept.join(', ')}`);

  // One bus for the classroom: class start progress, students' terminal states, the live view.
  const classEvents = new ClassEvents();
  // Parking starts once the previous host's members are reconciled away.
  if (terminalPool && engine.pool) terminalPool.attach(engine.pool);
  const sessions = new SessionRegistry(engine, db, { graceMs: config.graceMs, idleMs: config.idleMs }, log, classEvents, terminalPool);
  const containers = new ContainerService(engine, db, sessions, signer, config.attachTtlMs);
  // Classes, rosters, workspaces, terminals in a class, Start/Stop class (classes/, workspaces/).
  const classroom = await createClassroom({ db, engine, sessions, containers, dataDir: config.dataDir, log, events: classEvents, ...(cluster && { cluster }) });
  terminalCount = () => sessions.size;
  adoptRuns = (id) => classroom.runner.adoptRuns(id);
  // Marked down while alive (stalled past its heartbeats) or replaced: its students were told to
  // reopen elsewhere and its workspaces may be mounted by others now, so everything here ends.
  fencedHandler = async (reason) => {
    await classroom.close().catch(() => {});
    await sessions.endAll('host-down');
    await classroom.unmount().catch((e) => log.error(`unmounting workspaces after being fenced (${reason})`, e));
  };

  // Server-side sessions (revocable), the sign-in rate limit, and cutting a user off everywhere.
  const authSessions = new AuthSessions(db, signer, { ttlMs: config.sessionTtlMs });
  const auth = new AuthService({ db, sessions: authSessions, limiter: new SignInLimiter(), cookieName: SESSION_COOKIE, endContainersOf: (userId, message) => endContainersOf({ db, engine, sessions }, userId, message) });
  const users = new UserService({ db, engine, auth, sessions: authSessions, runningByOwner: () => countBy(sessions.all().map((s) => s.ownerId)) });
  // The admin's live memory dashboard (socket /admin), its history, and /metrics for Prometheus.
  const monitor = new MemoryMonitor(engine, db, { everyMs: ADMIN_SAMPLE_MS }, log);
  const metricsToken = await loadOrCreateMetricsToken(config.dataDir);

  let routes: ReturnType<typeof apiRoutes> = [];
  const deps: ApiDeps = {
    signIn: (c, username, password) => auth.signIn(c, username, password),
    signOut: (c, p) => auth.signOut(c, p),
    async me(p) {
      return p.kind === 'admin' ? { admin: true as const } : { ...p.user, ...(p.mustChangePassword && { mustChangePassword: true }) };
    },
    containers,
    async stats() {
      const s = await engine.stats();
      return { ...s, total: { ...s.total }, host: { rssBytes: process.memoryUsage().rss, sessions: sessions.size } };
    },
    openapi: () => openApiDocument(routes),
  };
  routes = [...apiRoutes(deps), ...authRoutes(auth), ...userRoutes(users, db), ...dashboardRoutes({ db, engine, sessions, monitor }), ...limitRoutes({ db, engine }), ...hostRoutes({ db, engine, sessions, version: HOST_VERSION, ...(cluster && { cluster }) }), ...classroom.routes, ...healthRoutes({ db, provider: opened.provider })];

  const classMembership: ClassMembership = async (userId, classId) => {
    const c = await db.class.findUnique({ where: { id: classId }, select: { ownerId: true, enrolments: { where: { userId }, select: { role: true } } } });
    if (!c) return undefined;
    if (c.ownerId === userId) return 'instructor';
    return c.enrolments[0]?.role as ClassRole | undefined;
  };
  const adminSockets = new WeakSet<Socket>();
  const app = buildApp(routes, {
    adminSockets,
    authenticate: (token) => authSessions.authenticate(token),
    membership: classMembership,
    log: (m) => log.debug(m),
    logInfo: (m) => log.info(m),
    logError: (m) => log.error(m),
  });
  app.get(
    '/metrics',
    metricsHandler({
      token: metricsToken,
      cookieName: SESSION_COOKIE,
      authenticate: (token) => authSessions.authenticate(token),
      monitor,
      metrics: new MemoryMetrics(),
      extras: async () => ({
        containersByStatus: Object.fromEntries((await db.container.groupBy({ by: ['status'], where: { status: { not: 'removed' } }, _count: { _all: true } })).map((g) => [g.status, g._count._all])),
        liveSessions: await authSessions.liveCount(),
        terminals: sessions.size,
      }),
    }),
  );
  if (cluster) registerClusterRoutes(app, cluster, db, () => engine, classroom.runner);
  const listener = getRequestListener(app.fetch);

  // REG_CLUSTER_ORIGIN_ONLY=1: browsers reach this host only through the web origin (signed requests).
  const fromOrigin = cluster && config.originOnly ? await originCheck(config.cluster!.secretFile) : undefined;
  const tcp = createServer(fromOrigin ? originOnlyListener(listener, fromOrigin) : listener);
  const io = new SocketIoServer(tcp, {
    maxHttpBufferSize: MAX_SOCKET_MESSAGE,
    // Websocket only (every client of ours asks for it): one connection per socket, so hosts behind
    // the web origin need no sticky sessions (long-polling would spread one socket's requests).
    transports: ['websocket'],
    ...(fromOrigin && { allowRequest: originOnlyHandshake(fromOrigin) }),
    cors: { origin: [`http://localhost:${config.webPort}`, `http://127.0.0.1:${config.webPort}`], credentials: true },
  });
  // Several hosts on PostgreSQL: socket.io's PostgreSQL adapter and the live view across hosts.
  const clusterSockets = await attachSocketAdapter(io, { databaseUrl: config.databaseUrl, events: classEvents, sessions, log });
  // The origin routes a follow-along socket to the host of the terminal shared in that class.
  if (cluster) registerSharingRoute(app, (c) => cluster.verify(c), { sessions, cluster: clusterSockets });
  registerAdminNamespace(io, { monitor, cookieName: SESSION_COOKIE, authenticate: (token) => authSessions.authenticate(token), log });
  const socketAuth = { authenticate: (token: string) => authSessions.authenticate(token), membership: classMembership };
  registerTerminalNamespace(io, { signer, db, sessions, ...socketAuth, log });
  registerClassLiveNamespace(io, { db, sessions, events: classEvents, ...socketAuth, log, cluster: clusterSockets });

  const unix = createServer(listener);
  unix.on('connection', (s) => adminSockets.add(s));
  await rm(config.socketPath, { force: true });
  await listen(unix, config.socketPath);
  await chmod(config.socketPath, 0o600);
  await listen(tcp, config.hostPort, config.bind);
  const port = (tcp.address() as AddressInfo).port;
  if (cluster) {
    await cluster.announce(`http://${config.bind === '0.0.0.0' || config.bind === '::' ? '127.0.0.1' : config.bind}:${port}`);
    log.info(`cluster: joined as ${cluster.id}`);
  }

  const sampler = new MemorySampler(engine, db, config.memorySampleMs, log);
  sampler.start();
  monitor.start();

  let closing: Promise<void> | undefined;
  return {
    port,
    socketPath: config.socketPath,
    demo,
    engine,
    db,
    sessions,
    signer,
    monitor,
    metricsToken,
    close() {
      closing ??= (async () => {
        sampler.stop();
        clearInterval(lifetimes);
        monitor.stop();
        await classroom.close();
        await sessions.endAll('shutdown');
        terminalPool?.close();
        await engine.pool?.close().catch((e) => log.error('closing the launcher pool', e));
        await classroom.unmount().catch((e) => log.error('unmounting workspaces', e));
        await cluster?.close();
        io.close();
        await clusterSockets.close();
        await Promise.all([closeServer(tcp), closeServer(unix)]);
        await rm(config.socketPath, { force: true });
        // The home's cgroup parent (reg-<hash> for a non-default REG_HOME) goes once it is empty.
        // Pre-mounted spare quota volumes go too (no loop device outlives the host for them).
        await engine.releaseSpareVolumes().catch((e) => log.error('releasing spare volumes', e));
        await engine.disposeCgroupParent().catch(() => {});
        await db.$disconnect();
      })();
      return closing;
    },
  };
}

function listen(server: HttpServer, port: number | string, host?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    const done = () => {
      server.off('error', reject);
      resolve();
    };
    if (typeof port === 'string') server.listen(port, done);
    else server.listen(port, host, done);
  });
}

function closeServer(server: HttpServer): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

function countBy(keys: Array<string | null>): Map<string, number> {
  const m = new Map<string, number>();
  for (const k of keys) if (k) m.set(k, (m.get(k) ?? 0) + 1);
  return m;
}
