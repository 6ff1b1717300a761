// Forwards /api/* to the Reg host, cookies included, so the browser sees one origin for the API.
// Request bodies are streamed through, never buffered: the host enforces each route's own cap
// (64 KiB for JSON routes, more where a route declares it), and this proxy refuses anything over
// a ceiling before reading it (a declared Content-Length) or as it streams (chunked), so a flood
// cannot grow the web app either. The browser's address goes on in X-Forwarded-For, which the
// host trusts from loopback only (for the sign-in rate limit per address).

import { hostApiBase } from '@/host-url';

export const dynamic = 'force-dynamic';

/** Above any route's own cap on the host (uploads included); the host refuses smaller floods itself. */
const PROXY_MAX_BODY_BYTES = 512 * 1024 * 1024;

const tooLarge = () =>
  Response.json({ error: { code: 'PAYLOAD_TOO_LARGE', message: `the request body is larger than the web app forwards (${PROXY_MAX_BODY_BYTES / 1048576} MiB)`, hint: 'send a smaller body' } }, { status: 413, headers: { connection: 'close' } });

/** Passes the body through, erroring the stream at the first byte over the ceiling. */
function capped(body: ReadableStream<Uint8Array>, max: number, onOver: () => void): ReadableStream<Uint8Array> {
  let seen = 0;
  return body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, ctl) {
        seen += chunk.byteLength;
        if (seen > max) {
          onOver();
          ctl.error(new Error('body over the proxy ceiling'));
        }
        else ctl.enqueue(chunk);
      },
    }),
  );
}

async function forward(req: Request, ctx: { params: Promise<{ path: string[] }> }): Promise<Response> {
  const { path } = await ctx.params;
  const url = new URL(req.url);
  const target = `${hostApiBase()}/api/${path.map(encodeURIComponent).join('/')}${url.search}`;
  const headers = new Headers();
  for (const h of ['content-type', 'cookie', 'authorization', 'accept', 'user-agent', 'x-forwarded-for']) {
    const v = req.headers.get(h);
    if (v) headers.set(h, v);
  }
  const declared = Number(req.headers.get('content-length') ?? 0);
  if (declared > PROXY_MAX_BODY_BYTES) return tooLarge();
  const hasBody = req.method !== 'GET' && req.method !== 'HEAD' && req.body !== null;
  let over = false;
  let res: Response;
  try {
    res = await fetch(target, {
      method: req.method,
      headers,
      ...(hasBody && { body: capped(req.body!, PROXY_MAX_BODY_BYTES, () => (over = true)), duplex: 'half' }),
      redirect: 'manual',
      cache: 'no-store',
    } as RequestInit);
  } catch {
    if (over) return tooLarge();
    return Response.json({ error: { code: 'HOST_UNREACHABLE', message: 'the Reg host does not answer', hint: 'is it running? (npm start starts both)' } }, { status: 502 });
  }
  const out = new Headers({ 'content-type': res.headers.get('content-type') ?? 'application/json', 'cache-control': 'no-store' });
  for (const h of ['retry-after', 'content-disposition']) {
    const v = res.headers.get(h);
    if (v) out.set(h, v);
  }
  for (const c of res.headers.getSetCookie()) out.append('set-cookie', c);
  return new Response(res.body, { status: res.status, headers: out });
}

export { forward as GET, forward as POST, forward as DELETE, forward as PATCH, forward as PUT };
