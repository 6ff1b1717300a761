// Request bodies are capped before they are read: a declared Content-Length over the cap is
// refused without reading a byte, and a body without one (chunked) is counted as it streams and
// abandoned at the first byte over the cap. Either way the host never holds more than the cap
// (issue 10: a 200 MiB body to sign-in used to grow the host by 600-800 MiB).

import type { Context } from 'hono';
import { AccessError, RequestError } from '../auth/principal.js';

/** JSON routes' default; a route that needs more declares its own maxBodyBytes. */
export const DEFAULT_MAX_BODY_BYTES = 64 * 1024;

const tooLarge = (cap: number) =>
  new RequestError('PAYLOAD_TOO_LARGE', `the request body is larger than this route accepts (${formatBytes(cap)})`, 'send a smaller body; large files go through the upload routes');

export async function readBodyCapped(c: Context, cap: number): Promise<Buffer> {
  const declared = c.req.header('content-length');
  if (declared !== undefined && Number(declared) > cap) throw tooLarge(cap);
  const stream = c.req.raw.body;
  if (!stream) return Buffer.alloc(0);
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > cap) {
      await reader.cancel().catch(() => {});
      throw tooLarge(cap);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks, size);
}

export async function readJsonCapped(c: Context, cap: number): Promise<unknown> {
  const buf = await readBodyCapped(c, cap);
  try {
    return JSON.parse(buf.toString('utf8'));
  } catch {
    throw new AccessError('BAD_REQUEST', 'the body is not JSON', 'send Content-Type: application/json with a JSON object');
  }
}

function formatBytes(n: number): string {
  return n >= 1024 * 1024 ? `${n / (1024 * 1024)} MiB` : `${n / 1024} KiB`;
}
