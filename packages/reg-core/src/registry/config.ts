// Registry settings: which registry to pull from by default and the credentials for each registry.
// Looked up, first match wins, in
//   1. the environment: REG_REGISTRY (the default registry) and REG_REGISTRY_AUTH (credentials:
//      either `HOST=USER:PASSWORD` or a JSON document of the file format below);
//   2. ${REG_HOME}/registries.json (the machine's settings, e.g. the sandbox host's);
//   3. ${XDG_CONFIG_HOME:-~/.config}/reg/auth.json (a user's own).
// File format (Docker's config.json `auths` shape is accepted too):
//   { "default": "registry.example.edu/reg",
//     "auths": { "registry.example.edu": { "username": "u", "password": "p" },
//                "127.0.0.1:5000": { "auth": "base64(user:password)" },
//                "ghcr.io": { "token": "a bearer token" } } }
// Credentials are secrets: they are never printed, and errors name only where they came from.

import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { RegError } from '../errors.js';
import type { RegHome } from '../home.js';

export type Credentials =
  | { kind: 'basic'; username: string; password: string; source: string }
  | { kind: 'token'; token: string; source: string };

const AuthEntrySchema = z.object({
  username: z.string().optional(),
  password: z.string().optional(),
  auth: z.string().optional(),
  token: z.string().optional(),
});

const RegistryConfigSchema = z.object({
  default: z.string().optional(),
  auths: z.record(z.string(), AuthEntrySchema).optional(),
});

export type RegistryConfig = z.output<typeof RegistryConfigSchema>;

export function registryConfigFiles(home: RegHome | undefined): string[] {
  const xdg = process.env.XDG_CONFIG_HOME || join(homedir(), '.config');
  return [...(home ? [join(home.root, 'registries.json')] : []), join(xdg, 'reg', 'auth.json')];
}

/** Parses a config document. The text is never echoed: it may hold passwords. */
export function parseRegistryConfig(text: string, source: string): RegistryConfig {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new RegError('USAGE', `${source} is not valid JSON`, { file: source, hint: 'see the registry config format in the README' });
  }
  const r = RegistryConfigSchema.safeParse(doc);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new RegError('USAGE', `${source}: ${issue.path.join('.') || '(document)'}: ${issue.message}`, {
      file: source,
      hint: 'expected { "default": "HOST/NAMESPACE", "auths": { "HOST": { "username": …, "password": … } } }',
    });
  }
  return r.data;
}

async function readConfigFile(path: string): Promise<RegistryConfig | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
  return parseRegistryConfig(text, path);
}

function fromEnvAuth(value: string): RegistryConfig {
  if (value.trim().startsWith('{')) return parseRegistryConfig(value, '$REG_REGISTRY_AUTH');
  const eq = value.indexOf('=');
  const colon = value.indexOf(':', eq + 1);
  if (eq <= 0 || colon < 0) {
    throw new RegError('USAGE', '$REG_REGISTRY_AUTH must be HOST=USER:PASSWORD or a JSON document', {
      hint: 'e.g. REG_REGISTRY_AUTH=registry.example.edu=teacher:secret',
    });
  }
  return { auths: { [value.slice(0, eq)]: { username: value.slice(eq + 1, colon), password: value.slice(colon + 1) } } };
}

/** Normalises an `auths` key: Docker writes "https://host/v1/", Reg writes "host". */
function hostKey(key: string): string {
  return key.replace(/^https?:\/\//i, '').replace(/\/.*$/, '').toLowerCase();
}

function entryCredentials(entry: z.output<typeof AuthEntrySchema>, source: string): Credentials | undefined {
  if (entry.token) return { kind: 'token', token: entry.token, source };
  if (entry.username !== undefined && entry.password !== undefined) return { kind: 'basic', username: entry.username, password: entry.password, source };
  if (entry.auth) {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon > 0) return { kind: 'basic', username: decoded.slice(0, colon), password: decoded.slice(colon + 1), source };
  }
  return undefined;
}

async function configSources(home: RegHome | undefined): Promise<Array<{ config: RegistryConfig; source: string }>> {
  const out: Array<{ config: RegistryConfig; source: string }> = [];
  const env = process.env.REG_REGISTRY_AUTH;
  if (env) out.push({ config: fromEnvAuth(env), source: '$REG_REGISTRY_AUTH' });
  for (const file of registryConfigFiles(home)) {
    const config = await readConfigFile(file);
    if (config) out.push({ config, source: file });
  }
  return out;
}

/** The credentials configured for a registry host, or undefined (anonymous). */
export async function credentialsFor(home: RegHome | undefined, host: string): Promise<Credentials | undefined> {
  const want = host.toLowerCase();
  for (const { config, source } of await configSources(home)) {
    for (const [key, entry] of Object.entries(config.auths ?? {})) {
      if (hostKey(key) !== want) continue;
      const creds = entryCredentials(entry, source);
      if (creds) return creds;
    }
  }
  return undefined;
}

/** The registry to pull from when none is named: $REG_REGISTRY, then the config files' default. */
export async function defaultRegistry(home: RegHome): Promise<string | undefined> {
  if (process.env.REG_REGISTRY) return process.env.REG_REGISTRY;
  for (const file of registryConfigFiles(home)) {
    const config = await readConfigFile(file);
    if (config?.default) return config.default;
  }
  return undefined;
}
