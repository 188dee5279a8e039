/**
 * Docker image references: `[domain/]path[:tag][@digest]`, parsed and normalised exactly as docker's
 * `reference.ParseNormalizedNamed` (github.com/distribution/reference) does, so `busybox`,
 * `docker.io/library/busybox` and `index.docker.io/library/busybox` are one repository.
 *
 * Pure string work: no I/O, no top-level work beyond a few regular expressions.
 */
import type { Digest } from '../content/digest.js';
import { BerthError } from '../errors.js';

/** A parsed, normalised reference. `domain` and `path` are always set; tag and digest only when given. */
export interface Reference {
  /** Registry domain with optional port: `docker.io`, `localhost:5000`, `[::1]:5000`. */
  domain: string;
  /** Repository path inside the registry: `library/busybox`, `user/repo`, `a/b/c`. */
  path: string;
  tag?: string;
  digest?: Digest;
}

const DEFAULT_DOMAIN = 'docker.io';
const LEGACY_DEFAULT_DOMAIN = 'index.docker.io';
const OFFICIAL_PREFIX = 'library/';
const DEFAULT_TAG = 'latest';
/** docker's RepositoryNameTotalLengthMax, applied (as docker does since distribution/reference v0.6) to the path. */
export const MAX_REPOSITORY_PATH = 255;

// The grammar of distribution/reference (regexp.go). Every alternation here is separator-delimited,
// so JS's backtracking engine stays linear-ish on hostile input (tested with long random strings).
const PATH_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN = `(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?`;
const TAG = '[\\w][\\w.-]{0,127}';
const DIGEST = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}';
const REFERENCE_RE = new RegExp(
  `^(?:(${DOMAIN})/)?(${PATH_COMPONENT}(?:/${PATH_COMPONENT})*)(?::(${TAG}))?(?:@(${DIGEST}))?$`,
);
const TAG_RE = new RegExp(`^${TAG}$`);
const IDENTIFIER_RE = /^[a-f0-9]{64}$/;
const ID_PREFIX_RE = /^(?:sha256:)?[a-f0-9]{1,64}$/;
const FULL_ID_RE = /^(?:sha256:)?([a-f0-9]{64})$/;
/** Digest lengths (hex) of the algorithms Berth can verify. docker also knows sha384. */
const DIGEST_HEX_LENGTH: Record<string, number> = { sha256: 64, sha512: 128 };

const invalid = (message: string) =>
  new BerthError('invalid_argument', message, {
    hint: 'use NAME[:TAG][@DIGEST] with a lowercase repository name, e.g. docker.io/library/busybox:latest',
  });

/**
 * Parses a user-supplied image reference with docker's normalisation:
 * `busybox` -> docker.io/library/busybox, `user/repo` -> docker.io/user/repo, `index.docker.io/x` ->
 * docker.io/library/x. The first path element is a registry domain when it contains `.` or `:`, is
 * `localhost`, or has uppercase letters (a namespace never does). No tag is added: see `withDefaultTag`.
 *
 * Fails with `invalid_argument` and docker's wording: "invalid reference format",
 * "invalid reference format: repository name (library/Busybox) must be lowercase",
 * "invalid repository name (<hex>), cannot specify 64-byte hexadecimal strings",
 * "repository name must not be more than 255 characters", and go-digest's
 * "invalid checksum digest length|format" / "unsupported digest algorithm".
 * Known divergence: docker accepts a first element like `a_b.com` that is neither a domain nor
 * followed by a domain-less name and yields an empty domain; Berth rejects it.
 */
export function parseReference(s: string): Reference {
  if (IDENTIFIER_RE.test(s)) {
    throw invalid(`invalid repository name (${s}), cannot specify 64-byte hexadecimal strings`);
  }
  const [domain, remainder] = splitDockerDomain(s);
  const tagSep = remainder.indexOf(':');
  const remote = tagSep >= 0 ? remainder.slice(0, tagSep) : remainder;
  if (remote.toLowerCase() !== remote) {
    throw invalid(`invalid reference format: repository name (${remote}) must be lowercase`);
  }
  const full = `${domain}/${remainder}`;
  const m = REFERENCE_RE.exec(full);
  if (!m) {
    const lower = full.toLowerCase();
    if (lower !== full && REFERENCE_RE.test(lower)) throw invalid('repository name must be lowercase');
    throw invalid('invalid reference format');
  }
  const [, gotDomain, path, tag, digest] = m as unknown as [string, string | undefined, string, string?, string?];
  if (gotDomain !== domain) throw invalid('invalid reference format');
  if (path.length > MAX_REPOSITORY_PATH) {
    throw invalid(`repository name must not be more than ${MAX_REPOSITORY_PATH} characters`);
  }
  const ref: Reference = { domain, path };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = checkDigest(digest);
  return ref;
}

/** go-digest's Digest.Validate, limited to the algorithms Berth verifies. */
function checkDigest(d: string): Digest {
  const i = d.indexOf(':');
  const alg = d.slice(0, i);
  const hex = d.slice(i + 1);
  const want = DIGEST_HEX_LENGTH[alg];
  if (want === undefined) throw invalid('unsupported digest algorithm');
  if (hex.length !== want) throw invalid('invalid checksum digest length');
  if (!/^[a-f0-9]+$/.test(hex)) throw invalid('invalid checksum digest format');
  return d as Digest;
}

/** distribution/reference's splitDockerDomain: which part is the registry, with docker.io defaults. */
function splitDockerDomain(name: string): [string, string] {
  const slash = name.indexOf('/');
  if (slash < 0) return [DEFAULT_DOMAIN, OFFICIAL_PREFIX + name];
  const first = name.slice(0, slash);
  const rest = name.slice(slash + 1);
  let domain: string;
  let remote: string;
  if (first === 'localhost' || /[.:]/.test(first) || first.toLowerCase() !== first) {
    domain = first === LEGACY_DEFAULT_DOMAIN ? DEFAULT_DOMAIN : first;
    remote = rest;
  } else {
    domain = DEFAULT_DOMAIN;
    remote = name;
  }
  if (domain === DEFAULT_DOMAIN && !remote.includes('/')) remote = OFFICIAL_PREFIX + remote;
  return [domain, remote];
}

/** True when the reference carries a tag. */
export function isTagged(ref: Reference): ref is Reference & { tag: string } {
  return ref.tag !== undefined;
}

/** True when the reference carries a digest. */
export function isDigested(ref: Reference): ref is Reference & { digest: Digest } {
  return ref.digest !== undefined;
}

/** docker's TagNameOnly: adds `latest` when the reference has neither tag nor digest. Never mutates. */
export function withDefaultTag(ref: Reference): Reference {
  return ref.tag === undefined && ref.digest === undefined ? { ...ref, tag: DEFAULT_TAG } : ref;
}

/** Returns a copy with the tag replaced; fails with `invalid_argument` "invalid tag format". */
export function withTag(ref: Reference, tag: string): Reference {
  if (!TAG_RE.test(tag)) throw invalid('invalid tag format');
  return { ...ref, tag };
}

/** `domain/path`, the fully qualified repository: docker.io/library/busybox. */
export function repositoryName(ref: Reference): string {
  return `${ref.domain}/${ref.path}`;
}

/** Fully qualified string: docker.io/library/busybox:latest, with `@digest` when present. */
export function formatReference(ref: Reference): string {
  return repositoryName(ref) + suffix(ref);
}

/** The repository as docker prints it: `busybox`, `user/repo`, `localhost:5000/a/b`. */
export function familiarName(ref: Reference): string {
  if (ref.domain !== DEFAULT_DOMAIN) return repositoryName(ref);
  if (ref.path.startsWith(OFFICIAL_PREFIX)) {
    const rest = ref.path.slice(OFFICIAL_PREFIX.length);
    if (!rest.includes('/')) return rest;
  }
  return ref.path;
}

/** The whole reference as docker prints it: `busybox:latest`, `user/repo@sha256:...`. */
export function familiarString(ref: Reference): string {
  return familiarName(ref) + suffix(ref);
}

function suffix(ref: Reference): string {
  return (ref.tag !== undefined ? `:${ref.tag}` : '') + (ref.digest !== undefined ? `@${ref.digest}` : '');
}

/** The host to contact for a domain: Docker Hub's `docker.io` is served by registry-1.docker.io. */
export function registryHost(domain: string): string {
  return domain === DEFAULT_DOMAIN || domain === LEGACY_DEFAULT_DOMAIN ? 'registry-1.docker.io' : domain;
}

/**
 * An argument that is a complete image ID (`<64 hex>` or `sha256:<64 hex>`), as a Digest; else undefined.
 *
 * How docker resolves an image argument (daemon ImageService.GetImage + reference.ParseAnyReference):
 *   1. a full ID, per this function, is looked up as an ID only, never as a name;
 *   2. otherwise the argument is parsed as a reference (`parseReference`; a parse error ends the
 *      lookup with invalid_argument) and looked up as a name, `latest` added when untagged;
 *   3. if no such name exists and `looksLikeIdPrefix` holds, it is looked up as a unique ID prefix
 *      (an ambiguous prefix is an error).
 * So a local tag `abc123:latest` wins over an image whose ID starts with `abc123`.
 */
export function fullImageId(s: string): Digest | undefined {
  const m = FULL_ID_RE.exec(s);
  return m ? (`sha256:${m[1]}` as Digest) : undefined;
}

/** True for 1-64 lowercase hex digits, optionally `sha256:`-prefixed: a candidate ID (prefix), step 3 above. */
export function looksLikeIdPrefix(s: string): boolean {
  return ID_PREFIX_RE.test(s);
}
