#!/usr/bin/env node
// The Reg host's entry point: config from the environment (env.ts), run until SIGTERM/SIGINT,
// then end every terminal and exit.

import { loadConfig } from './env.js';
import { startHost } from './host.js';
import { DatabaseError } from './db/database-errors.js';
import { ClusterSecretError } from './cluster/cluster-secret.js';
import { ClusterJoinError } from './cluster/membership.js';

let config;
try {
  config = loadConfig();
} catch (e) {
  console.error(`reg-host: ${(e as Error).message}`);
  process.exit(2);
}
let host;
try {
  host = await startHost(config);
} catch (e) {
  // A refusal to join a cluster (clock, duplicate id, secret) is one clear line, not a stack trace.
  // So is a database that cannot be reached, refuses us or does not exist (db/database-errors.ts).
  if (e instanceof ClusterJoinError || e instanceof ClusterSecretError || e instanceof DatabaseError) {
    console.error(`reg-host: ${e.message}`);
    process.exit(2);
  }
  throw e;
}
console.error(`reg-host: listening on http://${config.bind}:${host.port} and ${host.socketPath}`);
// One machine-readable line for scripts/start.mjs and the tests.
console.log(JSON.stringify({ event: 'ready', port: host.port, socket: host.socketPath, pid: process.pid, demo: host.demo }));

let stopping = false;
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.on(sig, () => {
    if (stopping) return;
    stopping = true;
    console.error(`reg-host: ${sig}: ending terminals`);
    const force = setTimeout(() => process.exit(1), 15_000);
    void host.close().then(() => {
      clearTimeout(force);
      process.exit(0);
    });
  });
}
