// Where the Reg host is, read at request time (so one build runs against any port): the API is
// proxied through this server; browsers open socket.io to the host's port on the same hostname
// unless REG_PUBLIC_HOST_URL names another origin (e.g. behind a reverse proxy).

export function hostApiBase(): string {
  return process.env.REG_HOST_URL ?? `http://127.0.0.1:${process.env.HOST_PORT ?? '3001'}`;
}

export function publicHost(): { url: string | null; port: number } {
  return { url: process.env.REG_PUBLIC_HOST_URL ?? null, port: Number(process.env.HOST_PORT ?? 3001) };
}
