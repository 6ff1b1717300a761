// The public surface of @reg/sandbox-host: start a host in-process (tests, benchmarks) or run main.

export { loadConfig, type HostConfig } from './env.js';
export { startHost, type RunningHost } from './host.js';
export { STATUS_BY_CODE } from './http/error-status.js';
