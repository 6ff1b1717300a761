// A RET as an OCI artifact. The image manifest (application/vnd.oci.image.manifest.v1+json) has
//   artifactType  application/vnd.reg.ret.v1+yaml
//   config        the RET YAML with its lock, media type application/vnd.reg.ret.v1+yaml
//   layers        one descriptor per distinct file content named by the lock, media type
//                 application/vnd.reg.file.v1, sorted by digest (the empty descriptor when the
//                 RET has no files, since registries expect at least one layer)
//   annotations   the RET's name, version, kind, requires and lock id (readable without the YAML)
// Modes and paths live in the lock only: one blob serves every path and mode with that content.
// The manifest is a pure function of the RET, so pushing an unchanged RET produces the same digest
// and a HEAD on the tag is enough to know there is nothing to do.

import { z } from 'zod';
import { RegError } from '../errors.js';
import { lockId, stringifyRet } from '../ret/parse.js';
import type { LockedRet } from '../ret/schema.js';
import { hashBuffer } from '../store/put.js';
import { DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST } from './client.js';

export const RET_ARTIFACT_TYPE = 'application/vnd.reg.ret.v1+yaml';
export const RET_CONFIG_MEDIA_TYPE = RET_ARTIFACT_TYPE;
export const RET_FILE_MEDIA_TYPE = 'application/vnd.reg.file.v1';
export const OCI_EMPTY_MEDIA_TYPE = 'application/vnd.oci.empty.v1+json';
export const OCI_EMPTY_BYTES = Buffer.from('{}');
export const OCI_EMPTY_DIGEST = 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a';
/** The largest RET YAML Reg fetches (a lock of ~100k files). */
export const MAX_CONFIG_BYTES = 32 << 20;

const DescriptorSchema = z.object({
  mediaType: z.string(),
  digest: z.string().regex(/^sha256:[0-9a-f]{64}$/, 'only sha256 digests are supported'),
  size: z.number().int().nonnegative(),
  annotations: z.record(z.string(), z.string()).optional(),
});

const ManifestSchema = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  artifactType: z.string().optional(),
  config: DescriptorSchema,
  layers: z.array(DescriptorSchema),
  annotations: z.record(z.string(), z.string()).optional(),
});

export type Descriptor = z.output<typeof DescriptorSchema>;
export type RetManifest = z.output<typeof ManifestSchema>;

export interface RetArtifact {
  config: Buffer;
  configDescriptor: Descriptor;
  /** File blobs (or the empty descriptor), each once. */
  layers: Descriptor[];
  manifest: Buffer;
  manifestDigest: string;
}

/** The artifact of a locked RET: its YAML as config, one layer per distinct file content. */
export function retArtifact(ret: LockedRet): RetArtifact {
  const config = Buffer.from(stringifyRet(ret));
  const configDescriptor: Descriptor = { mediaType: RET_CONFIG_MEDIA_TYPE, digest: hashBuffer(config), size: config.length };
  const sizes = new Map<string, number>();
  for (const e of ret.lock.files) if (e.digest !== undefined && !sizes.has(e.digest)) sizes.set(e.digest, e.size ?? 0);
  let layers: Descriptor[] = [...sizes.keys()].sort().map((digest) => ({ mediaType: RET_FILE_MEDIA_TYPE, digest, size: sizes.get(digest)! }));
  if (layers.length === 0) layers = [{ mediaType: OCI_EMPTY_MEDIA_TYPE, digest: OCI_EMPTY_DIGEST, size: OCI_EMPTY_BYTES.length }];
  const requires = [...(ret.libs ?? []), ...(ret.requires ?? [])];
  const annotations: Record<string, string> = {
    'org.opencontainers.image.title': ret.name,
    'org.opencontainers.image.version': ret.version,
    ...(ret.description && { 'org.opencontainers.image.description': ret.description }),
    'dev.reg.ret.kind': ret.kind,
    'dev.reg.ret.requires': requires.join(' '),
    'dev.reg.ret.lock-id': lockId(ret),
  };
  const manifest = Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, artifactType: RET_ARTIFACT_TYPE, config: configDescriptor, layers, annotations }),
  );
  return { config, configDescriptor, layers, manifest, manifestDigest: hashBuffer(manifest) };
}

const KIND_OF: Record<string, string> = {
  [OCI_INDEX]: 'an OCI image index (a multi-platform image?)',
  [DOCKER_MANIFEST]: 'a Docker image manifest (a container image?)',
  [DOCKER_LIST]: 'a Docker manifest list',
};

function notARet(where: string, why: string): RegError {
  return new RegError('REGISTRY_PROTOCOL', `${where} is not a RET: ${why}`, {
    hint: `RETs are OCI artifacts of type ${RET_ARTIFACT_TYPE}, pushed with \`reg push\``,
  });
}

/** Validates a fetched manifest as a RET artifact. `where` names registry, repository and tag. */
export function parseRetManifest(bytes: Buffer, contentType: string, where: string): RetManifest {
  if (KIND_OF[contentType]) throw notARet(where, `the manifest is ${KIND_OF[contentType]} (${contentType})`);
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw notARet(where, 'the manifest is not JSON');
  }
  const declared = (doc as { mediaType?: unknown } | null)?.mediaType;
  const mediaType = typeof declared === 'string' ? declared : contentType;
  if (mediaType !== OCI_MANIFEST) throw notARet(where, `the manifest's media type is ${mediaType || '(none)'}, not ${OCI_MANIFEST}`);
  const r = ManifestSchema.safeParse(doc);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw notARet(where, `the manifest is malformed at ${i.path.join('.') || '(document)'}: ${i.message}`);
  }
  const m = r.data;
  const type = m.artifactType ?? m.config.mediaType;
  if (type !== RET_ARTIFACT_TYPE) throw notARet(where, `its artifact type is ${type}`);
  if (m.config.mediaType !== RET_CONFIG_MEDIA_TYPE) throw notARet(where, `its config media type is ${m.config.mediaType}`);
  for (const l of m.layers) {
    if (l.mediaType !== RET_FILE_MEDIA_TYPE && l.mediaType !== OCI_EMPTY_MEDIA_TYPE) throw notARet(where, `layer ${l.digest} has media type ${l.mediaType}`);
  }
  if (m.config.size > MAX_CONFIG_BYTES) throw notARet(where, `its YAML is ${m.config.size} bytes (Reg accepts up to ${MAX_CONFIG_BYTES})`);
  return m;
}

/**
 * Checks that the manifest carries every blob the RET's lock names, at the size the lock says.
 * Returns the layer sizes by digest.
 */
export function checkLockAgainstManifest(ret: LockedRet, manifest: RetManifest, where: string): Map<string, number> {
  const sizes = new Map(manifest.layers.map((l) => [l.digest, l.size] as const));
  for (const e of ret.lock.files) {
    if (e.digest === undefined) continue;
    const size = sizes.get(e.digest);
    if (size === undefined) throw notARet(where, `its lock names blob ${e.digest} (for ${e.path}) that the manifest does not carry`);
    if (e.size !== undefined && e.size !== size) throw notARet(where, `blob ${e.digest} (for ${e.path}) is ${e.size} bytes in the lock but ${size} in the manifest`);
  }
  return sizes;
}
