/** OCI image model (image-spec v1.1) and Docker's v2 schema 2 equivalents. */
import { type Digest, isDigest } from '../content/digest.js';
import { corrupt, invalidArgument, notFound } from '../errors.js';

export const MediaTypes = {
  OciManifest: 'application/vnd.oci.image.manifest.v1+json',
  OciIndex: 'application/vnd.oci.image.index.v1+json',
  OciConfig: 'application/vnd.oci.image.config.v1+json',
  OciLayer: 'application/vnd.oci.image.layer.v1.tar',
  OciLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  OciLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  DockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  DockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  DockerConfig: 'application/vnd.docker.container.image.v1+json',
  DockerLayer: 'application/vnd.docker.image.rootfs.diff.tar',
  DockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  DockerForeignLayerGzip: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  /** The empty JSON blob `{}` that artifacts use as config (OCI image-spec 1.1). */
  OciEmpty: 'application/vnd.oci.empty.v1+json',
} as const;

export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
  'os.version'?: string;
  'os.features'?: string[];
}

export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  annotations?: Record<string, string>;
  platform?: Platform;
  artifactType?: string;
  urls?: string[];
}

export interface ImageManifest {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

export interface ImageIndex {
  schemaVersion: 2;
  mediaType?: string;
  manifests: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

export interface HealthConfig {
  Test?: string[];
  Interval?: number;
  Timeout?: number;
  StartPeriod?: number;
  StartInterval?: number;
  Retries?: number;
}

/** The runtime part of an image config (Docker's field names, as the OCI spec keeps them). */
export interface ContainerDefaults {
  User?: string;
  ExposedPorts?: Record<string, Record<string, never>>;
  Env?: string[];
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  Volumes?: Record<string, Record<string, never>>;
  WorkingDir?: string;
  Labels?: Record<string, string>;
  StopSignal?: string;
  Healthcheck?: HealthConfig;
  ArgsEscaped?: boolean;
  OnBuild?: string[] | null;
  Shell?: string[];
}

export interface HistoryEntry {
  created?: string;
  created_by?: string;
  author?: string;
  comment?: string;
  empty_layer?: boolean;
}

export interface ImageConfig {
  created?: string;
  author?: string;
  architecture: string;
  os: string;
  variant?: string;
  config?: ContainerDefaults;
  rootfs: { type: 'layers'; diff_ids: Digest[] };
  history?: HistoryEntry[];
}

export function isLayerMediaType(mt: string): boolean {
  return (
    mt.startsWith('application/vnd.oci.image.layer.') ||
    mt.startsWith('application/vnd.docker.image.rootfs.')
  );
}

/** Host platform in OCI terms, from process.arch (x64 -> amd64, arm64 -> arm64/v8, ...). */
export function hostPlatform(): Platform {
  const map: Record<string, Platform> = {
    x64: { os: 'linux', architecture: 'amd64' },
    arm64: { os: 'linux', architecture: 'arm64', variant: 'v8' },
    arm: { os: 'linux', architecture: 'arm', variant: 'v7' },
    ia32: { os: 'linux', architecture: '386' },
    ppc64: { os: 'linux', architecture: 'ppc64le' },
    s390x: { os: 'linux', architecture: 's390x' },
    riscv64: { os: 'linux', architecture: 'riscv64' },
  };
  return map[process.arch] ?? { os: 'linux', architecture: process.arch };
}

// ---------------------------------------------------------------------------------------------
// Validation of untrusted manifests and configs (registries, archives, layouts).
// ---------------------------------------------------------------------------------------------

/** Media types that name a single-image manifest. */
export const ManifestMediaTypes: readonly string[] = [MediaTypes.OciManifest, MediaTypes.DockerManifest];
/** Media types that name a list of manifests. */
export const IndexMediaTypes: readonly string[] = [MediaTypes.OciIndex, MediaTypes.DockerManifestList];

/** What registries are asked for when pulling: every manifest kind Berth understands, best first. */
export const ManifestAcceptTypes: readonly string[] = [
  MediaTypes.OciIndex,
  MediaTypes.DockerManifestList,
  MediaTypes.OciManifest,
  MediaTypes.DockerManifest,
];

export const isIndexMediaType = (mt: string): boolean => IndexMediaTypes.includes(mt);
export const isManifestMediaType = (mt: string): boolean => ManifestMediaTypes.includes(mt);

/** The result of {@link parseManifest}: a single-image manifest or an index, told apart by `kind`. */
export type ParsedManifest =
  | { kind: 'manifest'; mediaType: string; manifest: ImageManifest }
  | { kind: 'index'; mediaType: string; index: ImageIndex };

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

function parseJsonObject(buf: Buffer, what: string): Json {
  let v: unknown;
  try {
    v = JSON.parse(buf.toString('utf8'));
  } catch (e) {
    throw corrupt(`${what} is not valid JSON: ${(e as Error).message}`, { cause: e });
  }
  if (!isObject(v)) throw corrupt(`${what} is not a JSON object`);
  return v;
}

function checkString(v: unknown, where: string, optional = false): string | undefined {
  if (v === undefined && optional) return undefined;
  if (typeof v !== 'string') throw corrupt(`${where} must be a string`);
  return v;
}

function checkStringArray(v: unknown, where: string, nullable = false): void {
  if (v === undefined || (nullable && v === null)) return;
  if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) throw corrupt(`${where} must be an array of strings`);
}

function checkStringMap(v: unknown, where: string): void {
  if (v === undefined || v === null) return;
  if (!isObject(v) || !Object.values(v).every((s) => typeof s === 'string')) {
    throw corrupt(`${where} must be an object of strings`);
  }
}

function checkObjectMap(v: unknown, where: string): void {
  if (v === undefined || v === null) return;
  if (!isObject(v) || !Object.values(v).every((s) => isObject(s))) throw corrupt(`${where} must be an object of objects`);
}

function checkDigest(v: unknown, where: string): Digest {
  if (typeof v !== 'string' || !isDigest(v)) throw corrupt(`${where} is not a valid digest: ${JSON.stringify(v)}`);
  return v;
}

function checkPlatform(v: unknown, where: string): void {
  if (v === undefined) return;
  if (!isObject(v)) throw corrupt(`${where} must be an object`);
  checkString(v.architecture, `${where}.architecture`);
  checkString(v.os, `${where}.os`);
  checkString(v.variant, `${where}.variant`, true);
  checkString(v['os.version'], `${where}["os.version"]`, true);
  checkStringArray(v['os.features'], `${where}["os.features"]`);
}

/** Validates one descriptor of untrusted JSON; throws `corrupt` naming where it is. */
export function checkDescriptor(v: unknown, where: string): Descriptor {
  if (!isObject(v)) throw corrupt(`${where} must be an object`);
  checkString(v.mediaType, `${where}.mediaType`);
  checkDigest(v.digest, `${where}.digest`);
  if (typeof v.size !== 'number' || !Number.isSafeInteger(v.size) || v.size < 0) {
    throw corrupt(`${where}.size must be a non-negative integer`);
  }
  checkStringMap(v.annotations, `${where}.annotations`);
  checkPlatform(v.platform, `${where}.platform`);
  checkString(v.artifactType, `${where}.artifactType`, true);
  checkStringArray(v.urls, `${where}.urls`);
  return v as unknown as Descriptor;
}

/**
 * Parses and validates a manifest or index from untrusted bytes.
 *
 * The kind comes from the document's own `mediaType`, else from `contentTypeHint` (an HTTP
 * Content-Type), else from its shape (`manifests` means an index). A document whose `mediaType`
 * contradicts a known hint is rejected, as registries do. Schema 1 manifests are rejected.
 * @throws BerthError `corrupt` with a message naming the offending field.
 */
export function parseManifest(buf: Buffer, contentTypeHint?: string): ParsedManifest {
  const j = parseJsonObject(buf, 'manifest');
  if (j.schemaVersion !== 2) {
    throw corrupt(
      j.schemaVersion === 1
        ? 'manifest uses Docker image schema 1, which is no longer supported: re-push the image with a current client'
        : `manifest has unsupported schemaVersion ${JSON.stringify(j.schemaVersion)} (expected 2)`,
    );
  }
  const own = checkString(j.mediaType, 'manifest.mediaType', true);
  const hint = contentTypeHint?.split(';')[0].trim().toLowerCase();
  const knownHint = hint && (isIndexMediaType(hint) || isManifestMediaType(hint)) ? hint : undefined;
  if (own && knownHint && own !== knownHint) {
    throw corrupt(`manifest mediaType ${own} does not match its content type ${knownHint}`);
  }
  let mediaType = own ?? knownHint;
  if (!mediaType) mediaType = 'manifests' in j ? MediaTypes.OciIndex : MediaTypes.OciManifest;
  checkString(j.artifactType, 'manifest.artifactType', true);
  checkStringMap(j.annotations, 'manifest.annotations');
  if (j.subject !== undefined) checkDescriptor(j.subject, 'manifest.subject');

  if (isIndexMediaType(mediaType)) {
    if (!Array.isArray(j.manifests)) throw corrupt('index.manifests must be an array');
    for (const [i, d] of j.manifests.entries()) checkDescriptor(d, `index.manifests[${i}]`);
    return { kind: 'index', mediaType, index: j as unknown as ImageIndex };
  }
  if (isManifestMediaType(mediaType)) {
    if ('manifests' in j) throw corrupt(`manifest of type ${mediaType} has a "manifests" field`);
    checkDescriptor(j.config, 'manifest.config');
    if (!Array.isArray(j.layers)) throw corrupt('manifest.layers must be an array');
    for (const [i, d] of j.layers.entries()) checkDescriptor(d, `manifest.layers[${i}]`);
    return { kind: 'manifest', mediaType, manifest: j as unknown as ImageManifest };
  }
  throw corrupt(`unsupported manifest media type ${mediaType}`);
}

/**
 * Parses and validates an image config from untrusted bytes (OCI image config or Docker's
 * container image v1, which share the fields Berth uses).
 * @throws BerthError `corrupt` naming the offending field.
 */
export function parseImageConfig(buf: Buffer): ImageConfig {
  const j = parseJsonObject(buf, 'image config');
  checkString(j.architecture, 'config.architecture');
  checkString(j.os, 'config.os');
  checkString(j.variant, 'config.variant', true);
  checkString(j.created, 'config.created', true);
  checkString(j.author, 'config.author', true);
  if (!isObject(j.rootfs)) throw corrupt('config.rootfs must be an object');
  if (j.rootfs.type !== 'layers') throw corrupt(`config.rootfs.type must be "layers", not ${JSON.stringify(j.rootfs.type)}`);
  if (!Array.isArray(j.rootfs.diff_ids)) throw corrupt('config.rootfs.diff_ids must be an array');
  for (const [i, d] of j.rootfs.diff_ids.entries()) checkDigest(d, `config.rootfs.diff_ids[${i}]`);
  if (j.history !== undefined && j.history !== null) {
    if (!Array.isArray(j.history)) throw corrupt('config.history must be an array');
    for (const [i, h] of j.history.entries()) {
      const w = `config.history[${i}]`;
      if (!isObject(h)) throw corrupt(`${w} must be an object`);
      for (const k of ['created', 'created_by', 'author', 'comment'] as const) checkString(h[k], `${w}.${k}`, true);
      if (h.empty_layer !== undefined && typeof h.empty_layer !== 'boolean') throw corrupt(`${w}.empty_layer must be a boolean`);
    }
  }
  const c = j.config;
  if (c !== undefined && c !== null) {
    if (!isObject(c)) throw corrupt('config.config must be an object');
    for (const k of ['User', 'WorkingDir', 'StopSignal'] as const) checkString(c[k], `config.config.${k}`, true);
    for (const k of ['Entrypoint', 'Cmd', 'OnBuild'] as const) checkStringArray(c[k], `config.config.${k}`, true);
    for (const k of ['Env', 'Shell'] as const) checkStringArray(c[k], `config.config.${k}`, true);
    checkObjectMap(c.ExposedPorts, 'config.config.ExposedPorts');
    checkObjectMap(c.Volumes, 'config.config.Volumes');
    checkStringMap(c.Labels, 'config.config.Labels');
    if (c.ArgsEscaped !== undefined && typeof c.ArgsEscaped !== 'boolean') throw corrupt('config.config.ArgsEscaped must be a boolean');
    if (c.Healthcheck !== undefined && c.Healthcheck !== null) {
      const h = c.Healthcheck;
      if (!isObject(h)) throw corrupt('config.config.Healthcheck must be an object');
      checkStringArray(h.Test, 'config.config.Healthcheck.Test');
      for (const k of ['Interval', 'Timeout', 'StartPeriod', 'StartInterval', 'Retries'] as const) {
        if (h[k] !== undefined && typeof h[k] !== 'number') throw corrupt(`config.config.Healthcheck.${k} must be a number`);
      }
    }
  }
  return j as unknown as ImageConfig;
}

/** "linux/arm64/v8" */
export function formatPlatform(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter(Boolean).join('/');
}

/** Parses "linux/arm64/v8" (os/arch[/variant]). @throws invalid_argument */
export function parsePlatform(s: string): Platform {
  const parts = s.split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => p === '')) {
    throw invalidArgument(`invalid platform "${s}": expected os/arch[/variant]`);
  }
  const p: Platform = { os: parts[0].toLowerCase(), architecture: parts[1].toLowerCase() };
  if (parts[2]) p.variant = parts[2].toLowerCase();
  return p;
}

/** The variant a platform implies when none is written (arm64 means v8, as containerd normalizes). */
function normalVariant(p: Pick<Platform, 'architecture' | 'variant'>): string | undefined {
  if (p.variant) return p.variant;
  if (p.architecture === 'arm64') return 'v8';
  return undefined;
}

/**
 * Picks the manifest for `want` from an index. Without a wanted variant any variant matches,
 * preferring an entry without one. Entries without a platform or with "unknown/unknown"
 * (attestations) never match.
 * @throws BerthError `not_found` listing the platforms the index offers.
 */
export function selectPlatform(index: ImageIndex, want: Platform): Descriptor {
  const wantVariant = want.variant ? normalVariant(want) : undefined;
  const candidates = index.manifests.filter(
    (d) =>
      d.platform &&
      d.platform.os === want.os &&
      d.platform.architecture === want.architecture &&
      (wantVariant === undefined || normalVariant(d.platform) === wantVariant) &&
      !isIndexMediaType(d.mediaType),
  );
  const pick = candidates.find((d) => !d.platform?.variant) ?? candidates[0];
  if (pick) return pick;
  const offered = index.manifests
    .filter((d) => d.platform && d.platform.os !== 'unknown')
    .map((d) => formatPlatform(d.platform as Platform));
  throw notFound(
    `no matching manifest for ${formatPlatform(want)} in the manifest list entries` +
      (offered.length ? ` (available: ${[...new Set(offered)].join(', ')})` : ' (it lists no platforms)'),
    { hint: 'pass --platform with one of the available platforms' },
  );
}
