// Forwards /api/* to the Reg host, cookies included, so the browser sees one origin for the API.

import { hostApiBase } from '@/host-url';

export const dynamic = 'force-dynamic';

async function forward(req: Request, ctx: { params: Promise<{ path: string[] }> }): Promise<Response> {
  const { path } = await ctx.params;
  const url = new URL(req.url);
  const target = `${hostApiBase()}/api/${path.map(encodeURIComponent).join('/')}${url.search}`;
  const headers = new Headers();
  for (const h of ['content-type', 'cookie', 'authorization', 'accept']) {
    const v = req.headers.get(h);
    if (v) headers.set(h, v);
  }
  const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
  let res: Response;
  try {
    res = await fetch(target, { method: req.method, headers, ...(hasBody && { body: await req.arrayBuffer() }), redirect: 'manual', cache: 'no-store' });
  } catch {
    return Response.json({ error: { code: 'HOST_UNREACHABLE', message: 'the Reg host does not answer', hint: 'is it running? (npm start starts both)' } }, { status: 502 });
  }
  const out = new Headers({ 'content-type': res.headers.get('content-type') ?? 'application/json', 'cache-control': 'no-store' });
  for (const c of res.headers.getSetCookie()) out.append('set-cookie', c);
  return new Response(res.body, { status: res.status, headers: out });
}

export { forward as GET, forward as POST, forward as DELETE };
