// Where the Reg host is, read at request time (so one build runs against any port). Browsers
// never talk to it directly: server.mjs forwards /api and /socket.io/ to it (one origin), and
// app/api/[...path] does the same for /api under `next dev`.

export function hostApiBase(): string {
  return process.env.REG_HOST_URL ?? `http://127.0.0.1:${process.env.HOST_PORT ?? '3001'}`;
}
