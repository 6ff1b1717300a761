// The public surface of @reg/protocol: what the sandbox host and the web app agree on.

export * from './api-schemas.js';
export * from './terminal-events.js';
export * from './class-schemas.js';
export * from './class-live-events.js';
export * from './admin-schemas.js';
