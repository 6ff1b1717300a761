// The address a request comes from, for the sign-in rate limit and the audit log. Requests the
// web app proxies arrive from loopback: then the last X-Forwarded-For entry (the one the web
// server added, not one a browser could forge in front of it) is the browser's address. From any
// other peer the header is ignored.

import type { Context } from 'hono';
import type { HttpBindings } from '@hono/node-server';

const LOOPBACK = /^(127\.|::1$|::ffff:127\.)/;

export function clientAddress(c: Context): string {
  const peer = (c.env as HttpBindings | undefined)?.incoming?.socket?.remoteAddress ?? 'unix';
  if (peer !== 'unix' && !LOOPBACK.test(peer)) return peer;
  const fwd = c.req.header('x-forwarded-for');
  const last = fwd?.split(',').map((s) => s.trim()).filter(Boolean).pop();
  return last && last.length <= 64 ? last : peer;
}
