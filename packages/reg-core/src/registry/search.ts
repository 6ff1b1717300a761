// What a registry offers: the RETs under a namespace (from _catalog) and the versions of each
// (from tags/list), decoded back from the registry's repository and tag spelling. Registries that
// do not expose _catalog (Docker Hub, GHCR) can still be asked about one RET by name.

import type { RegHome } from '../home.js';
import { compareVersions } from '../ret/version.js';
import { RegistryClient, type ClientOptions, type ClientStats } from './client.js';
import { createLimiter, DEFAULT_CONCURRENCY } from './limiter.js';
import { parseRegistryTarget, repositoryOf, retNameOfRepository, tagToVersion, type RegistryTarget } from './reference.js';

export interface RemoteRet {
  name: string;
  repository: string;
  /** Versions, lowest first. */
  versions: string[];
}

export interface SearchOptions extends Omit<ClientOptions, 'home'> {
  concurrency?: number;
}

/** Lists the RETs of REGISTRY/NAMESPACE, or the versions of one RET when `name` is given. */
export async function searchRegistry(
  home: RegHome,
  registry: string | RegistryTarget,
  name?: string,
  opts: SearchOptions = {},
): Promise<{ registry: string; rets: RemoteRet[]; requests: ClientStats }> {
  const target = typeof registry === 'string' ? parseRegistryTarget(registry) : registry;
  const client = await RegistryClient.open(target, { ...opts, home });
  const limit = createLimiter(opts.concurrency ?? DEFAULT_CONCURRENCY);
  const candidates: Array<{ name: string; repository: string }> = [];
  if (name) candidates.push({ name, repository: repositoryOf(target, name) });
  else {
    for (const repository of await client.catalog(`listing the repositories of ${target.display}`)) {
      const n = retNameOfRepository(target, repository);
      if (n) candidates.push({ name: n, repository });
    }
  }
  const rets = await Promise.all(
    candidates.map((c) =>
      limit(async () => {
        const tags = (await client.listTags(c.repository, `listing the versions of ${c.name} (${c.repository})`)) ?? [];
        const versions = tags.map(tagToVersion).filter((v): v is string => v !== undefined).sort(compareVersions);
        return { ...c, versions };
      }),
    ),
  );
  return {
    registry: target.display,
    rets: rets.filter((r) => r.versions.length > 0).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
    requests: client.stats,
  };
}
