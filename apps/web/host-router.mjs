// Which sandbox host the web origin forwards a request to. One host (the default): always that one.
// A cluster (REG_CLUSTER=1): the live hosts are read every few seconds from any host that answers
// (GET /api/cluster/hosts, the hosts share the database), and
// - a /terminals socket naming its container (?container=<id>) goes to the host running it;
//   one naming a class to follow (?follow=<classId>) goes to the host of the terminal shared there;
// - an /admin socket naming a host (?host=<hostId>, the Hosts page's "Watch memory") goes to that
//   host while it is live and is refused (503) otherwise: a dashboard labelled with one host must
//   never show another's figures;
// - a socket whose host is down goes to any live host (the attach then fails and the browser
//   shows why the terminal ended: "your sandbox host stopped; reopen …");
// - anything else (/api, the /classes and /admin live views) goes to any live host, round robin,
//   or to the host the request names (header x-reg-host: <hostId>).
// Every forwarded request carries x-reg-cluster, signed with the cluster secret as the hosts sign
// theirs (apps/sandbox-host/src/cluster/request-auth.ts), sender "web".
//
// Where a container runs is learned from the answer that created it (the origin forwards every
// open, and the answer names the container and, when placement moved it, its host in x-reg-host):
// a container never moves, so its token request and websocket are routed without asking anyone.
// A container the origin did not see created (it restarted, or another origin forwarded the open)
// is asked for (GET /api/cluster/containers/<id>/host), and the answer kept the same way. When no
// host answers that question in time (a class-start rush keeps them busy), a container's request
// waits and asks again (LOOKUP_PATIENCE_MS), then is refused with 503: sent to a host that does not
// run the container, it would fail with a wrong "not found" (159 of 1000 in the rush did).

import { createHmac } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { request } from 'node:http';

export const CLUSTER_HEADER = 'x-reg-cluster';
const SENDER = 'web';
const REFRESH_MS = 2000;
const ROUTE_TTL_MS = 3000;
/** A host that refused a connection is skipped this long (it may be dying before the others notice). */
const SUSPECT_MS = 5000;
const ASK_TIMEOUT_MS = 3000;
/** A container, class or host id as the hosts mint them (anything else is not routed by). */
const ROUTE_ID = /^[A-Za-z0-9_-]{1,128}$/;
/** How long a learned container → host answer is kept (containers never move; their host's status is read live). */
const CONTAINER_TTL_MS = 30 * 60_000;
/** How long a container's request waits for some host to say where it runs. */
const LOOKUP_PATIENCE_MS = 12_000;

/** No host answered where a container runs, within LOOKUP_PATIENCE_MS. */
export class LookupFailed extends Error {
  constructor(what) {
    super(`no sandbox host said where ${what} runs in time`);
    this.code = 'LOOKUP_FAILED';
  }
}

/** Reads the cluster secret file as the hosts do (hex, mode 0600) and derives the request-signing key. */
export async function loadRequestKey(file) {
  const st = await stat(file).catch((e) => {
    throw new Error(`REG_CLUSTER_SECRET_FILE ${file}: ${e.code === 'ENOENT' ? 'does not exist: start a host first (it creates the secret) or copy the cluster secret there' : e.message}`);
  });
  if ((st.mode & 0o077) !== 0) throw new Error(`REG_CLUSTER_SECRET_FILE ${file} is readable by group or others: run chmod 600 ${file}`);
  const hex = (await readFile(file, 'utf8')).trim();
  if (!/^[0-9a-f]{64,}$/.test(hex)) throw new Error(`REG_CLUSTER_SECRET_FILE ${file} does not hold the cluster's hex key`);
  return createHmac('sha256', Buffer.from(hex, 'hex')).update('reg-cluster:requests').digest();
}

export function signRequest(key, method, pathWithQuery, now = Date.now()) {
  const mac = createHmac('sha256', key).update(`${SENDER}\n${now}\n${method.toUpperCase()}\n${pathWithQuery}`).digest('hex');
  return `${SENDER}.${now}.${mac}`;
}

/** What a socket.io handshake URL asks for: its namespace is not in the URL, its routing key is. */
export function socketRouteKey(url = '') {
  const q = new URL(url, 'http://origin').searchParams;
  const container = q.get('container');
  if (container && ROUTE_ID.test(container)) return { container };
  const follow = q.get('follow');
  if (follow && ROUTE_ID.test(follow)) return { follow };
  const host = q.get('host');
  if (host && ROUTE_ID.test(host)) return { host };
  return {};
}

export class HostRouter {
  /**
   * @param {{ seeds: URL[], key?: Buffer, cluster: boolean, log?: (m: string) => void, lookupPatienceMs?: number }} opts
   */
  constructor(opts) {
    this.seeds = opts.seeds.map((u) => ({ id: `seed:${u.host}`, address: u.origin, status: 'up' }));
    this.key = opts.key;
    this.cluster = opts.cluster;
    this.log = opts.log ?? (() => {});
    this.lookupPatienceMs = opts.lookupPatienceMs ?? LOOKUP_PATIENCE_MS;
    /** @type {Array<{id: string, address: string, status: string}>} */
    this.hosts = [...this.seeds];
    this.next = 0;
    /** address → until (ms) */
    this.suspect = new Map();
    /** key → { at, host } */
    this.routes = new Map();
    this.timer = undefined;
    /** address → { since (ms), what }: hosts that did not answer, logged once until they answer again. */
    this.silent = new Map();
    /** @type {Promise<void> | undefined} */
    this.refreshing = undefined;
  }

  async start() {
    if (!this.cluster) return;
    await this.refresh();
    this.timer = setInterval(() => void this.refresh(), REFRESH_MS);
    this.timer.unref();
  }

  stop() {
    clearInterval(this.timer);
  }

  /** The cluster header for a forwarded request (undefined on a single host without a secret). */
  sign(method, path) {
    return this.key ? signRequest(this.key, method, path) : undefined;
  }

  live() {
    const now = Date.now();
    const up = this.hosts.filter((h) => h.status === 'up');
    const reachable = up.filter((h) => !((this.suspect.get(h.address) ?? 0) > now));
    return reachable.length ? reachable : up;
  }

  /** The host a request names, else the next live one (round robin). */
  pick(named) {
    if (named) {
      const h = this.hosts.find((x) => x.id === named && x.status === 'up');
      if (h) return h;
    }
    const live = this.live();
    if (!live.length) return undefined;
    return live[this.next++ % live.length];
  }

  markUnreachable(address) {
    this.suspect.set(address, Date.now() + SUSPECT_MS);
  }

  isUp(address) {
    return this.hosts.some((h) => h.address === address && h.status === 'up');
  }

  /**
   * Where an /api request goes: the one a request names (x-reg-host), else for a container's own
   * routes (/api/containers/<id>, …/terminal-token, …/logs: answered from that host's engine) the
   * host running it while it is up, else any live host (they share the database).
   */
  async forApi(url, named) {
    if (!this.cluster || named) return this.pick(named);
    const m = /^\/api\/containers\/([A-Za-z0-9_-]{1,128})(?:[/?]|$)/.exec(url ?? '');
    if (m) {
      // A lookup nobody answered throws (the caller answers 503): any other host would say 404.
      const host = await this.containerHost(m[1]);
      if (host && host.status === 'up') return host;
    }
    return this.pick();
  }

  /**
   * Where a websocket goes: its container's (or shared terminal's) host when up, else any live host.
   * `settling` says the container's host is down but the cluster has not yet ended its sessions
   * (the failover writes why they ended): the caller waits a moment so the browser, once attached
   * elsewhere, reads "your sandbox host stopped" rather than a bare "ended".
   */
  async forSocket(url) {
    if (!this.cluster) return { host: this.pick(), settling: false };
    const key = socketRouteKey(url);
    if (key.host) return { host: this.hosts.find((h) => h.id === key.host && h.status === 'up'), settling: false };
    let host;
    if (key.container) host = await this.containerHost(key.container);
    else if (key.follow) host = await this.sharingHost(key.follow);
    if (host && host.status === 'up') return { host, settling: false };
    return { host: this.pick(), settling: !!host && host.status !== 'up' && !host.ended };
  }

  /**
   * Where a container runs: a learned answer while its host is up, else the hosts are asked (a
   * down host's answer says whether the failover has ended the container's sessions yet).
   * undefined: no host knows the container. Throws LookupFailed when none answered in time.
   */
  async containerHost(containerId) {
    const k = `c:${containerId}`;
    const hit = this.routes.get(k);
    if (hit?.hostId && Date.now() - hit.at < CONTAINER_TTL_MS) {
      const h = this.hosts.find((x) => x.id === hit.hostId);
      if (h && h.status === 'up') return h;
    } else if (hit && Date.now() - hit.at < ROUTE_TTL_MS) return hit.host;
    const r = await this.askPatiently(`/api/cluster/containers/${encodeURIComponent(containerId)}/host`, `container ${containerId}`);
    const host = r && r.address ? { id: r.hostId, address: r.address, status: r.status ?? 'up', ended: !!r.container?.endReason } : undefined;
    this.remember(k, host && host.status === 'up' ? { at: Date.now(), hostId: host.id } : { at: Date.now(), host });
    return host;
  }

  /** Records where a container runs, from the answer that created it (server.mjs). */
  learn(containerId, hostId) {
    if (!this.cluster || typeof containerId !== 'string' || typeof hostId !== 'string' || hostId.startsWith('seed:')) return;
    if (!ROUTE_ID.test(containerId)) return;
    this.remember(`c:${containerId}`, { at: Date.now(), hostId });
  }

  async sharingHost(classId) {
    return this.cached(`f:${classId}`, async () => {
      const r = await this.askPatiently(`/api/cluster/classes/${encodeURIComponent(classId)}/sharing`, `class ${classId}'s shared terminal`);
      return r && r.containerId ? this.containerHost(r.containerId) : undefined;
    });
  }

  /** Forgets a cached route (its host went away under an open socket). */
  forget(url) {
    const key = socketRouteKey(url);
    if (key.container) this.routes.delete(`c:${key.container}`);
    if (key.follow) this.routes.delete(`f:${key.follow}`);
  }

  async cached(k, load) {
    const hit = this.routes.get(k);
    if (hit && Date.now() - hit.at < ROUTE_TTL_MS) return hit.host;
    const host = await load();
    this.remember(k, { at: Date.now(), host });
    return host;
  }

  remember(k, entry) {
    // Bounded: the oldest answers go first (a Map iterates in insertion order).
    this.routes.delete(k);
    this.routes.set(k, entry);
    if (this.routes.size > 50_000) for (const old of [...this.routes.keys()].slice(0, 10_000)) this.routes.delete(old);
  }

  /** One refresh at a time: a slow one (hosts busy with a rush) is not stacked on by the next tick. */
  refresh() {
    this.refreshing ??= this.refreshOnce().finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  async refreshOnce() {
    const r = await this.ask('/api/cluster/hosts').catch(() => undefined);
    const list = Array.isArray(r) ? r : Array.isArray(r?.hosts) ? r.hosts : undefined;
    if (!list) return;
    const hosts = list
      .filter((h) => h && typeof h.id === 'string' && typeof h.address === 'string')
      .map((h) => ({ id: h.id, address: new URL(h.address).origin, status: h.status }));
    if (hosts.length) this.hosts = hosts;
  }

  /** ask, again every half second while no host answers, for up to lookupPatienceMs. */
  async askPatiently(path, what) {
    const until = Date.now() + this.lookupPatienceMs;
    for (;;) {
      try {
        return await this.ask(path);
      } catch {
        // ask throws only when no host answered: wait and ask again.
        if (Date.now() + 500 >= until) throw new LookupFailed(what);
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }

  /** GET from the first host that answers (live ones first, then the seeds); undefined on 404; throws LookupFailed when none answers. */
  async ask(path) {
    const tried = new Set();
    for (const h of [...this.live(), ...this.seeds]) {
      if (tried.has(h.address)) continue;
      tried.add(h.address);
      try {
        const r = await getJson(new URL(path, h.address), { [CLUSTER_HEADER]: this.sign('GET', path) });
        if (r.status === 404 || r.status === 200) this.answered(h.address);
        if (r.status === 404) return undefined;
        if (r.status === 200) return r.body;
        this.silence(h.address, `HTTP ${r.status} to ${path.split('?')[0]}`);
      } catch (e) {
        // A host that is slow to answer (busy with a class-start rush) is still there: only one
        // that refuses or drops the connection is set aside, else the others would get its load too.
        if (e.code !== 'ETIMEDOUT') this.markUnreachable(h.address);
        this.silence(h.address, e.message);
      }
    }
    throw new LookupFailed(path);
  }

  // A host that stops answering is logged once (and again only if the reason changes), and once
  // more when it answers again, with how long it was silent: under a rush the refresh times out
  // every 2 s per host, and a line each time buried everything else in the origin's log.
  silence(address, what) {
    const was = this.silent.get(address);
    if (was?.what === what) return;
    this.silent.set(address, { since: was?.since ?? Date.now(), what });
    this.log(`${address}: ${what} (logged again when it answers)`);
  }

  answered(address) {
    const was = this.silent.get(address);
    if (!was) return;
    this.silent.delete(address);
    this.log(`${address}: answers again after ${((Date.now() - was.since) / 1000).toFixed(1)} s (last: ${was.what})`);
  }
}

function getJson(url, headers) {
  return new Promise((resolve, reject) => {
    const h = Object.fromEntries(Object.entries(headers).filter(([, v]) => v !== undefined));
    const req = request(url, { method: 'GET', agent: false, headers: { accept: 'application/json', ...h }, timeout: ASK_TIMEOUT_MS }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        let body;
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {
          body = undefined;
        }
        resolve({ status: res.statusCode ?? 0, body });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('no answer in time'), { code: 'ETIMEDOUT' })));
    req.on('error', reject);
    req.end();
  });
}
