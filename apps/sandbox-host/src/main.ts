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

// SIGTERM/SIGINT: end every terminal, unmount every workspace, then exit. A class of a thousand
// takes a while (each container is stopped and removed), so the host says how far it has got
// every 10 s and waits up to REG_SHUTDOWN_SECONDS; a second signal exits at once. Exiting early
// leaves mounts and cgroups behind until the next start with this REG_HOME reconciles them.
// Ctrl-C under `npm start` delivers two signals at once (the terminal's SIGINT to the whole process
// group, and start.mjs's SIGTERM): a second signal within 2 s of the first is that same request.
let stopping = false;
let since = 0;
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.on(sig, () => {
    const running = host!;
    if (stopping) {
      if (Date.now() - since < 2000) return;
      console.error(`reg-host: ${sig} again: exiting now with ${running.sessions.size} terminal(s) not yet ended (the next start with this REG_HOME cleans up after them)`);
      process.exit(1);
    }
    stopping = true;
    since = Date.now();
    console.error(`reg-host: ${sig}: ending ${running.sessions.size} terminal(s) and unmounting workspaces (up to ${config.shutdownMs / 1000} s; a signal again exits at once)`);
    const progress = setInterval(() => console.error(`reg-host: still shutting down after ${Math.round((Date.now() - since) / 1000)} s: ${running.sessions.size} terminal(s) left`), 10_000);
    const force = setTimeout(() => {
      console.error(`reg-host: shutdown took longer than REG_SHUTDOWN_SECONDS (${config.shutdownMs / 1000} s): exiting with ${running.sessions.size} terminal(s) not yet ended (the next start with this REG_HOME cleans up after them)`);
      process.exit(1);
    }, config.shutdownMs);
    void running.close().then(() => {
      clearTimeout(force);
      clearInterval(progress);
      console.error(`reg-host: shut down in ${((Date.now() - since) / 1000).toFixed(1)} s`);
      process.exit(0);
    });
  });
}
