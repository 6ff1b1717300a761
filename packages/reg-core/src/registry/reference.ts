// Naming on the registry side: where a registry is (`REGISTRY/NAMESPACE`, HTTP only on loopback),
// which repository holds a RET, and which tag holds a version. Registries restrict repository
// path components to [a-z0-9]+ joined by single separators (. _ __ -) and tags to
// [A-Za-z0-9_][A-Za-z0-9._-]{0,127}; RET names and versions allow a little more ("libstdc++",
// "20230311+deb12u1"), so both are mapped reversibly:
//
//   repository component: a RET name that is already a valid component without "__" is used
//     as-is; any other name is spelt with its punctuation escaped as "__" + a letter
//     (+ → __p, . → __d, _ → __u, - → __h): libstdc++ → libstdc__p__p.
//   tag: "_" → "__", "+" → "_p", "~" → "_t": 20230311+deb12u1 → 20230311_pdeb12u1.

import { RegError } from '../errors.js';
import { RET_NAME_RE } from '../ret/schema.js';
import { isValidVersion } from '../ret/version.js';

export interface RegistryTarget {
  /** host[:port] as written (lowercased): the key for credentials and the name in messages. */
  host: string;
  /** Repository path prefix under which each RET is one repository ("" for the registry root). */
  namespace: string;
  /** scheme://host[:port], without a trailing slash. */
  baseUrl: string;
  /** host/namespace, for messages. */
  display: string;
}

const COMPONENT_RE = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const PLAIN_COMPONENT_RE = /^[a-z0-9]+(?:(?:[.]|_|-+)[a-z0-9]+)*$/;
const TAG_RE = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;

/** True for host names that never leave the machine: localhost, 127.0.0.0/8, ::1. */
export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.toLowerCase().replace(/^\[|\]$/g, '');
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
  const v4 = /^(?:::ffff:)?(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(h);
  return v4 !== null && v4[1] === '127' && v4.slice(2).every((o) => Number(o) <= 255);
}

/**
 * Refuses URLs Reg must not contact: plain HTTP is for loopback registries only (as Docker
 * treats localhost), everything else goes over TLS. Applied to the registry itself and to every
 * URL it sends us to (upload locations, redirects, token realms).
 */
export function checkTransport(url: URL, what: string): void {
  if (url.protocol === 'https:') return;
  if (url.protocol === 'http:' && isLoopbackHost(url.hostname)) return;
  throw new RegError('REGISTRY_PROTOCOL', `${what}: refusing ${url.protocol.replace(':', '')} to ${url.host}: plain HTTP is allowed only for loopback registries`, {
    hint: 'use an HTTPS registry, or run the registry on 127.0.0.1 / ::1 / localhost',
  });
}

/** Parses `REGISTRY[/NAMESPACE]`, e.g. `127.0.0.1:5000/campus`, `registry.example.edu/reg/rets`. */
export function parseRegistryTarget(text: string): RegistryTarget {
  const usage = (why: string) =>
    new RegError('USAGE', `"${text}" is not a registry: ${why}`, {
      hint: 'write REGISTRY/NAMESPACE, e.g. 127.0.0.1:5000/campus or registry.example.edu/reg',
    });
  let rest = text.trim();
  let scheme: 'http' | 'https' | undefined;
  const m = /^(https?):\/\//i.exec(rest);
  if (m) {
    scheme = m[1]!.toLowerCase() as 'http' | 'https';
    rest = rest.slice(m[0].length);
  }
  rest = rest.replace(/\/+$/, '');
  const slash = rest.indexOf('/');
  const host = (slash < 0 ? rest : rest.slice(0, slash)).toLowerCase();
  const namespace = slash < 0 ? '' : rest.slice(slash + 1);
  if (!/^(?:\[[0-9a-f:.]+\]|[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?)(?::\d{1,5})?$/.test(host)) throw usage('the host part is not a host name or address');
  for (const part of namespace ? namespace.split('/') : []) {
    if (!COMPONENT_RE.test(part)) throw usage(`namespace component "${part}" must be lowercase letters and digits joined by . _ or -`);
  }
  const hostname = host.replace(/:\d+$/, '');
  const loopback = isLoopbackHost(hostname);
  if (scheme === 'http' && !loopback) throw usage('plain HTTP is allowed only for loopback registries (127.0.0.0/8, ::1, localhost)');
  const baseUrl = `${scheme ?? (loopback ? 'http' : 'https')}://${host}`;
  return { host, namespace, baseUrl, display: namespace ? `${host}/${namespace}` : host };
}

const ESCAPE: Record<string, string> = { '+': 'p', '.': 'd', _: 'u', '-': 'h' };
const UNESCAPE: Record<string, string> = { p: '+', d: '.', u: '_', h: '-' };

/** The repository path component that holds a RET name. */
export function repoComponent(retName: string): string {
  if (PLAIN_COMPONENT_RE.test(retName)) return retName;
  let out = '';
  for (const ch of retName) out += ESCAPE[ch] !== undefined ? `__${ESCAPE[ch]}` : ch;
  return out;
}

/** Inverse of repoComponent; undefined for components Reg did not write. */
export function retNameOfComponent(component: string): string | undefined {
  let name = component;
  if (component.includes('__')) {
    name = component.replace(/__([a-z])/g, (_, c: string) => UNESCAPE[c] ?? `\0`);
    if (name.includes('\0')) return undefined;
  }
  return RET_NAME_RE.test(name) && repoComponent(name) === component ? name : undefined;
}

export function repositoryOf(target: RegistryTarget, retName: string): string {
  return target.namespace ? `${target.namespace}/${repoComponent(retName)}` : repoComponent(retName);
}

/** The RET name a repository of this namespace holds, or undefined for other repositories. */
export function retNameOfRepository(target: RegistryTarget, repository: string): string | undefined {
  const prefix = target.namespace ? `${target.namespace}/` : '';
  if (!repository.startsWith(prefix)) return undefined;
  const rest = repository.slice(prefix.length);
  return rest.includes('/') ? undefined : retNameOfComponent(rest);
}

export function versionToTag(version: string): string {
  const tag = version.replace(/[_+~]/g, (c) => (c === '_' ? '__' : c === '+' ? '_p' : '_t'));
  if (!TAG_RE.test(tag)) throw new RegError('RET_INVALID', `version "${version}" cannot be written as a registry tag`, { field: 'version' });
  return tag;
}

/** Inverse of versionToTag; undefined for tags that are not RET versions (e.g. "latest"). */
export function tagToVersion(tag: string): string | undefined {
  let bad = false;
  const version = tag.replace(/_(.?)/g, (_, c: string) => {
    if (c === '_') return '_';
    if (c === 'p') return '+';
    if (c === 't') return '~';
    bad = true;
    return '';
  });
  return !bad && isValidVersion(version) && versionToTag(version) === tag ? version : undefined;
}
