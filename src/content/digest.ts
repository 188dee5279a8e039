import { createHash } from 'node:crypto';
import { invalidArgument } from '../errors.js';

/** A content digest, "sha256:<64 hex>". Only sha256 is produced; sha512 is accepted when verifying. */
export type Digest = `${string}:${string}`;

const DIGEST_RE = /^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/;

export function isDigest(s: string): s is Digest {
  return DIGEST_RE.test(s);
}

/** Validates a digest string from untrusted input (manifests, registries, archives). */
export function parseDigest(s: string): Digest {
  if (!isDigest(s)) throw invalidArgument(`invalid digest "${s}": expected sha256:<64 hex digits>`);
  return s;
}

export function digestHex(d: Digest): string {
  return d.slice(d.indexOf(':') + 1);
}

export function digestAlgorithm(d: Digest): string {
  return d.slice(0, d.indexOf(':'));
}

export function sha256(data: Buffer | string): Digest {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** Short 12-character id as docker prints it. */
export function shortId(idOrDigest: string): string {
  const hex = idOrDigest.includes(':') ? idOrDigest.slice(idOrDigest.indexOf(':') + 1) : idOrDigest;
  return hex.slice(0, 12);
}
