/**
 * Client of the OCI distribution API (Docker Registry HTTP API v2) on the global fetch.
 *
 * One client talks to one registry host. It negotiates the scheme (https; for localhost and
 * registries marked insecure, https without certificate verification, then plain http; see
 * transport.ts for certificates), authenticates (anonymous, Basic, or the Bearer
 * token flow of WWW-Authenticate challenges, tokens cached per scope), retries 429/5xx and
 * network failures with exponential backoff, and verifies every byte it hands back: manifests
 * against their digest, blobs while streaming into the content store, where nothing becomes
 * visible before the digest and size are checked.
 *
 * Credentials never appear in error messages: they only travel in Authorization headers.
 */
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Transform, pipeline, type Readable } from 'node:stream';
import { type Digest, digestAlgorithm, isDigest } from '../content/digest.js';
import type { BlobInfo, BlobStore } from '../content/store.js';
import { BerthError, type ErrorCode, corrupt, invalidArgument, notFound } from '../errors.js';
import type { Descriptor } from '../image/oci.js';
import { MediaTypes, ManifestAcceptTypes, parseManifest } from '../image/oci.js';
import { type FetchFn, type TlsSettings, certificateHint, certificateProblem, registryFetch, uploadFetch } from './transport.js';
import { rechunk } from '../util/chunks.js';

export interface RegistryCredentials {
  username: string;
  password: string;
}

export interface RegistryClientOptions {
  /** Registry host with optional port: "127.0.0.1:5000", "ghcr.io", "docker.io". */
  host: string;
  /**
   * An insecure registry: https without certificate verification, then plain http when https
   * cannot connect (docker's behaviour). Loopback hosts are always treated so.
   */
  insecure?: boolean;
  /** Extra CAs or a client certificate for this registry (docker's certs.d). */
  tls?: Omit<TlsSettings, 'verify'>;
  /** Where the user marks a registry insecure, for error hints ("/etc/berth/registries.json"). */
  insecureConfig?: string;
  /** Asked at most once, when the registry first demands authentication. */
  credentials?: () => Promise<RegistryCredentials | undefined>;
  userAgent?: string;
  /** Attempts per request for 429, 5xx and network errors (default 3). */
  retries?: number;
  /** First backoff delay in ms, doubled each retry (default 250). Retry-After is honoured up to 30 s. */
  retryDelayMs?: number;
}

export interface ManifestResult {
  /** The exact bytes, verified against `digest`. */
  buf: Buffer;
  mediaType: string;
  digest: Digest;
}

export interface BlobProgress {
  onProgress?: (bytesDone: number, total: number) => void;
  signal?: AbortSignal;
}

export interface PushBlobOptions extends BlobProgress {
  /** Repository on the same registry to mount the blob from (no upload when the registry agrees). */
  mountFrom?: string;
  /** Upload in PATCH chunks of this many bytes; one streamed PUT when unset. */
  chunkSize?: number;
}

/** How pushBlob got the blob there. */
export type PushBlobResult = 'exists' | 'mounted' | 'uploaded';

/** Maximum manifest size accepted from a registry (the OCI spec's suggested 4 MiB, doubled). */
const MAX_MANIFEST_BYTES = 8 << 20;
const MAX_ERROR_BODY = 64 << 10;
const DEFAULT_USER_AGENT = 'berth/0.1';

interface Challenge {
  scheme: 'basic' | 'bearer';
  realm?: string;
  service?: string;
}

interface SendOptions {
  method: string;
  /** Path under the registry root ("/v2/...") or an absolute URL (upload locations). */
  url: string;
  scopes: string[];
  headers?: Record<string, string>;
  /** Called for each attempt: bodies are re-created, never replayed. */
  body?: () => Buffer | Readable | undefined;
  signal?: AbortSignal | undefined;
  /** Retry 429/5xx/network errors inside send (default true). */
  retry?: boolean;
}

/** An HTTP error decoded from a registry's `{"errors":[...]}` body. */
interface RegistryErrorBody {
  status: number;
  statusText: string;
  codes: string[];
  message: string;
}

const pullScope = (repo: string) => `repository:${repo}:pull`;
const pushScope = (repo: string) => `repository:${repo}:pull,push`;

const LOOPBACK = /^(localhost|127\.\d+\.\d+\.\d+|\[::1\]|::1)(:\d+)?$/;
const NON_RETRYABLE_NET = /^(ERR_TLS_|ERR_SSL_|CERT_|DEPTH_ZERO|SELF_SIGNED|UNABLE_TO_|ENOTFOUND|ERR_INVALID|EPROTO)/;
/** https spoken to a plain-http server, or refused by it: time to try plain http. */
const NOT_TLS = /^(ERR_SSL_|EPROTO|ECONNRESET|UND_ERR_SOCKET)/;

function causeCode(e: unknown): string | undefined {
  let c: unknown = e;
  for (let i = 0; i < 4 && c; i++) {
    const code = (c as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    c = (c as { cause?: unknown }).cause;
  }
  return undefined;
}

function causeMessage(e: unknown): string {
  const inner = (e as { cause?: { message?: string } })?.cause?.message;
  const outer = (e as Error)?.message ?? String(e);
  return inner ? `${outer}: ${inner}` : outer;
}

const isRetryableStatus = (s: number) => s === 429 || s === 500 || s === 502 || s === 503 || s === 504;

function isRetryableNetworkError(e: unknown): boolean {
  if (e instanceof BerthError) return false;
  const code = causeCode(e);
  return !(code && NON_RETRYABLE_NET.test(code));
}

function retryAfterMs(res: Response): number | undefined {
  const h = res.headers.get('retry-after');
  if (!h) return undefined;
  const secs = Number(h);
  if (Number.isFinite(secs)) return Math.min(secs * 1000, 30_000);
  const at = Date.parse(h);
  return Number.isFinite(at) ? Math.min(Math.max(at - Date.now(), 0), 30_000) : undefined;
}

/** Parses `Bearer realm="...",service="...",scope="..."` (quoted values may hold commas). */
export function parseChallenge(header: string | null): Challenge | undefined {
  if (!header) return undefined;
  const m = /^\s*(\w+)\s*(.*)$/s.exec(header);
  if (!m) return undefined;
  const scheme = m[1].toLowerCase();
  if (scheme !== 'basic' && scheme !== 'bearer') return undefined;
  const params: Record<string, string> = {};
  const re = /([\w-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g;
  for (let p = re.exec(m[2]); p; p = re.exec(m[2])) {
    params[p[1].toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : p[3];
  }
  return { scheme, realm: params.realm, service: params.service };
}

function digestOf(buf: Buffer, alg = 'sha256'): Digest {
  return `${alg}:${createHash(alg).update(buf).digest('hex')}` as Digest;
}

async function readLimited(res: Response, limit: number, what: string): Promise<Buffer> {
  const len = Number(res.headers.get('content-length') ?? '-1');
  if (len > limit) {
    await res.body?.cancel().catch(() => {});
    throw corrupt(`${what} is too large (${len} bytes, limit ${limit})`);
  }
  const chunks: Buffer[] = [];
  let n = 0;
  if (res.body) {
    for await (const c of res.body) {
      n += c.byteLength;
      if (n > limit) {
        await res.body.cancel().catch(() => {});
        throw corrupt(`${what} is too large (more than ${limit} bytes)`);
      }
      chunks.push(Buffer.from(c.buffer, c.byteOffset, c.byteLength));
    }
  }
  return Buffer.concat(chunks);
}

async function drain(res: Response): Promise<void> {
  await res.body?.cancel().catch(() => {});
}


/** A registry client. Cheap to create; keep one per registry for token reuse. */
export class RegistryClient {
  /** The host as given (used in messages). */
  readonly host: string;
  private readonly apiHost: string;
  private readonly allowHttp: boolean;
  private readonly attempts: number;
  private readonly retryDelayMs: number;
  private readonly userAgent: string;
  private readonly credentialSource: (() => Promise<RegistryCredentials | undefined>) | undefined;
  private readonly fetch: FetchFn;
  /** For requests that stream a body (see uploadFetch). */
  private readonly uploadFetch: FetchFn;
  private readonly insecureConfig: string | undefined;
  private creds: Promise<RegistryCredentials | undefined> | undefined;
  private basePromise: Promise<string> | undefined;
  private base = '';
  private challenge: Challenge | undefined;
  private readonly tokens = new Map<string, { token: string; expires: number }>();

  constructor(opts: RegistryClientOptions) {
    if (!opts.host || /[/\s@]/.test(opts.host)) throw invalidArgument(`invalid registry host "${opts.host}"`);
    this.host = opts.host;
    this.apiHost = opts.host === 'docker.io' || opts.host === 'index.docker.io' ? 'registry-1.docker.io' : opts.host;
    this.allowHttp = opts.insecure === true || LOOPBACK.test(this.apiHost);
    this.attempts = Math.max(1, opts.retries ?? 3);
    this.retryDelayMs = opts.retryDelayMs ?? 250;
    this.userAgent = opts.userAgent ?? DEFAULT_USER_AGENT;
    this.credentialSource = opts.credentials;
    this.insecureConfig = opts.insecureConfig;
    this.fetch = registryFetch(this.allowHttp, opts.tls);
    this.uploadFetch = uploadFetch(this.allowHttp, opts.tls);
  }

  // -------------------------------------------------------------------------------------------
  // Manifests
  // -------------------------------------------------------------------------------------------

  /**
   * Fetches a manifest by tag or digest. By digest, the bytes must hash to it; by tag, the digest is
   * computed from the bytes (and must equal a sha256 Docker-Content-Digest the registry sends).
   * @throws not_found ("manifest for x:tag not found", or docker's "pull access denied" when the
   *   repository is missing or hidden), unauthenticated, corrupt, unavailable.
   */
  async getManifest(
    repo: string,
    ref: string,
    accept: readonly string[] = ManifestAcceptTypes,
    opts: { signal?: AbortSignal } = {},
  ): Promise<ManifestResult> {
    this.checkRepo(repo);
    checkRef(ref);
    const res = await this.send({
      method: 'GET',
      url: `/v2/${repo}/manifests/${ref}`,
      scopes: [pullScope(repo)],
      headers: { accept: accept.join(', ') },
      signal: opts.signal,
    });
    if (!res.ok) throw await this.manifestError(res, repo, ref);
    const buf = await readLimited(res, MAX_MANIFEST_BYTES, `manifest ${this.display(repo)}:${ref}`);
    let digest: Digest;
    if (isDigest(ref)) {
      digest = digestOf(buf, digestAlgorithm(ref));
      if (digest !== ref) throw corrupt(`manifest ${this.display(repo)}@${ref} from ${this.host} has digest ${digest}: the registry sent different content`);
    } else {
      digest = digestOf(buf);
      const claimed = res.headers.get('docker-content-digest');
      if (claimed?.startsWith('sha256:') && claimed !== digest) {
        throw corrupt(`manifest ${this.display(repo)}:${ref} from ${this.host} hashes to ${digest}, but the registry says ${claimed}`);
      }
    }
    const ct = res.headers.get('content-type')?.split(';')[0].trim();
    let parsed: ReturnType<typeof parseManifest>;
    try {
      parsed = parseManifest(buf, ct);
    } catch (e) {
      if (!(e instanceof BerthError)) throw e;
      const sep = isDigest(ref) ? '@' : ':';
      throw new BerthError(e.code, `manifest ${this.display(repo)}${sep}${ref} from registry ${this.host}: ${e.message}`, { cause: e, ...(e.hint ? { hint: e.hint } : {}) });
    }
    return { buf, mediaType: parsed.mediaType, digest };
  }

  /**
   * HEAD of a manifest: its descriptor, or undefined when the registry says 404.
   * When the registry sends no Docker-Content-Digest, falls back to a GET.
   */
  async headManifest(
    repo: string,
    ref: string,
    accept: readonly string[] = ManifestAcceptTypes,
    opts: { signal?: AbortSignal } = {},
  ): Promise<Descriptor | undefined> {
    this.checkRepo(repo);
    checkRef(ref);
    const res = await this.send({
      method: 'HEAD',
      url: `/v2/${repo}/manifests/${ref}`,
      scopes: [pullScope(repo)],
      headers: { accept: accept.join(', ') },
      signal: opts.signal,
    });
    await drain(res);
    if (res.status === 404) return undefined;
    if (!res.ok) throw await this.manifestError(res, repo, ref);
    const digest = res.headers.get('docker-content-digest');
    const size = Number(res.headers.get('content-length') ?? 'NaN');
    const mediaType = res.headers.get('content-type')?.split(';')[0].trim();
    if (!digest || !isDigest(digest) || !Number.isSafeInteger(size) || !mediaType) {
      const m = await this.getManifest(repo, ref, accept, opts);
      return { mediaType: m.mediaType, digest: m.digest, size: m.buf.length };
    }
    if (isDigest(ref) && digest !== ref) throw corrupt(`registry ${this.host} answered HEAD ${ref} with digest ${digest}`);
    return { mediaType, digest, size };
  }

  /**
   * Uploads a manifest under a tag or its digest. Returns its digest (checked against the
   * registry's Docker-Content-Digest).
   * @throws invalid_argument (MANIFEST_INVALID, MANIFEST_BLOB_UNKNOWN: push the blobs first),
   *   permission_denied, unauthenticated, unavailable.
   */
  async putManifest(repo: string, ref: string, buf: Buffer, mediaType: string, opts: { signal?: AbortSignal } = {}): Promise<Digest> {
    this.checkRepo(repo);
    checkRef(ref);
    const digest = digestOf(buf, isDigest(ref) ? digestAlgorithm(ref) : 'sha256');
    if (isDigest(ref) && ref !== digest) throw invalidArgument(`manifest bytes hash to ${digest}, not ${ref}`);
    const res = await this.send({
      method: 'PUT',
      url: `/v2/${repo}/manifests/${ref}`,
      scopes: [pushScope(repo)],
      headers: { 'content-type': mediaType },
      body: () => buf,
      signal: opts.signal,
    });
    if (res.status !== 201 && !res.ok) throw await this.pushError(res, repo, `manifest ${ref}`);
    await drain(res);
    const claimed = res.headers.get('docker-content-digest');
    if (claimed?.startsWith(`${digestAlgorithm(digest)}:`) && claimed !== digest) {
      throw corrupt(`registry ${this.host} stored manifest ${digest} as ${claimed}`);
    }
    return digest;
  }

  /** Deletes a manifest by digest (or a tag, where the registry supports it). */
  async deleteManifest(repo: string, ref: string, opts: { signal?: AbortSignal } = {}): Promise<void> {
    this.checkRepo(repo);
    checkRef(ref);
    const res = await this.send({ method: 'DELETE', url: `/v2/${repo}/manifests/${ref}`, scopes: [`repository:${repo}:delete`, pushScope(repo)], signal: opts.signal });
    if (!res.ok) throw await this.genericError(res, repo, `deleting manifest ${ref}`);
    await drain(res);
  }

  // -------------------------------------------------------------------------------------------
  // Blobs
  // -------------------------------------------------------------------------------------------

  /** Whether the repository has the blob (HEAD; 404 means no). */
  async blobExists(repo: string, digest: Digest, opts: { signal?: AbortSignal; scopes?: string[] } = {}): Promise<boolean> {
    this.checkRepo(repo);
    const res = await this.send({
      method: 'HEAD',
      url: `/v2/${repo}/blobs/${digest}`,
      scopes: opts.scopes ?? [pullScope(repo)],
      signal: opts.signal,
    });
    await drain(res);
    if (res.ok) return true;
    if (res.status === 404) return false;
    throw await this.genericError(res, repo, `checking blob ${digest}`);
  }

  /**
   * Streams a blob into the content store, verifying its size and digest before it becomes visible.
   * A download that breaks mid-way resumes with a Range request from the bytes already written
   * (the writer keeps hashing in order). Already-present blobs return at once.
   * Follows redirects to blob storage.
   * @throws not_found, corrupt (digest or size mismatch: nothing is kept), unavailable, canceled.
   */
  async pullBlob(
    repo: string,
    desc: Pick<Descriptor, 'digest' | 'size'>,
    store: Pick<BlobStore, 'has' | 'writer'>,
    opts: BlobProgress = {},
  ): Promise<BlobInfo> {
    this.checkRepo(repo);
    if (store.has(desc.digest)) {
      opts.onProgress?.(desc.size, desc.size);
      return { digest: desc.digest, size: desc.size };
    }
    const w = store.writer({ expected: desc.digest, expectedSize: desc.size, signal: opts.signal });
    try {
      let failures = 0;
      let lastError: unknown;
      while (w.size < desc.size) {
        const offset = w.size;
        const res = await this.send({
          method: 'GET',
          url: `/v2/${repo}/blobs/${desc.digest}`,
          scopes: [pullScope(repo)],
          headers: { 'accept-encoding': 'identity', ...(offset > 0 ? { range: `bytes=${offset}-` } : {}) },
          signal: opts.signal,
        });
        if (!res.ok) throw await this.blobError(res, repo, desc.digest);
        let skip = 0;
        if (offset > 0) {
          if (res.status === 206) {
            const m = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(res.headers.get('content-range') ?? '');
            const start = m ? Number(m[1]) : Number.NaN;
            if (!(start <= offset)) {
              await drain(res);
              throw corrupt(`registry ${this.host} answered a resume of ${desc.digest} at ${offset} with range ${res.headers.get('content-range')}`);
            }
            skip = offset - start;
          } else {
            skip = offset; // the registry ignored Range: drop what we already have
          }
        }
        try {
          if (res.body) {
            for await (const c of res.body) {
              let chunk = Buffer.from(c.buffer, c.byteOffset, c.byteLength);
              if (skip > 0) {
                const n = Math.min(skip, chunk.length);
                skip -= n;
                chunk = chunk.subarray(n);
                if (!chunk.length) continue;
              }
              if (w.size + chunk.length > desc.size) {
                await res.body.cancel().catch(() => {});
                throw corrupt(`registry ${this.host} sent more than the ${desc.size} bytes of blob ${desc.digest}`);
              }
              w.write(chunk);
              opts.onProgress?.(w.size, desc.size);
            }
          }
        } catch (e) {
          if (e instanceof BerthError) throw e;
          if (opts.signal?.aborted) throw this.canceled(opts.signal);
          lastError = e;
        }
        if (w.size >= desc.size) break;
        // The body broke off or ended short: resume from what we have, with backoff when no progress was made.
        failures = w.size > offset ? 0 : failures + 1;
        if (failures >= this.attempts) {
          throw new BerthError(
            'unavailable',
            `downloading blob ${desc.digest} from ${this.display(repo)} failed at ${w.size} of ${desc.size} bytes after ${this.attempts} attempts` +
              (lastError ? `: ${causeMessage(lastError)}` : ': the registry ended the body early'),
            { cause: lastError },
          );
        }
        if (failures > 0) await this.backoff(failures, undefined, opts.signal);
      }
      return await w.commit();
    } catch (e) {
      w.abort();
      if (opts.signal?.aborted && !(e instanceof BerthError && e.code === 'canceled')) throw this.canceled(opts.signal);
      if (e instanceof BerthError && e.code === 'corrupt' && /mismatch/.test(e.message)) {
        throw corrupt(`blob ${desc.digest} from ${this.display(repo)} failed verification: ${e.message}`, { cause: e });
      }
      throw e;
    }
  }

  /**
   * Reads a small blob (an image config) into memory, verified against its digest.
   * @throws corrupt when it is larger than `maxSize` (default 32 MiB) or does not verify.
   */
  async getBlobBuffer(repo: string, desc: Pick<Descriptor, 'digest' | 'size'>, opts: { maxSize?: number; signal?: AbortSignal } = {}): Promise<Buffer> {
    this.checkRepo(repo);
    const limit = opts.maxSize ?? 32 << 20;
    if (desc.size > limit) throw corrupt(`blob ${desc.digest} is too large to read into memory (${desc.size} bytes)`);
    const res = await this.send({
      method: 'GET',
      url: `/v2/${repo}/blobs/${desc.digest}`,
      scopes: [pullScope(repo)],
      headers: { 'accept-encoding': 'identity' },
      signal: opts.signal,
    });
    if (!res.ok) throw await this.blobError(res, repo, desc.digest);
    const buf = await readLimited(res, limit, `blob ${desc.digest}`);
    const actual = digestOf(buf, digestAlgorithm(desc.digest));
    if (buf.length !== desc.size || actual !== desc.digest) {
      throw corrupt(`blob ${desc.digest} from ${this.display(repo)} failed verification: got ${buf.length} bytes hashing to ${actual}`);
    }
    return buf;
  }

  /**
   * Uploads a blob unless the repository has it. With `mountFrom`, first asks the registry to
   * mount it from that repository (`POST ?mount=&from=`), uploading only when it declines.
   * `open` is called once per upload attempt and must return the blob's bytes from the start.
   * A failed upload (429/5xx/network) restarts from a new session, up to `retries` times.
   * @throws permission_denied, unauthenticated, invalid_argument (DIGEST_INVALID, SIZE_INVALID), unavailable.
   */
  async pushBlob(repo: string, desc: Pick<Descriptor, 'digest' | 'size'>, open: () => Readable, opts: PushBlobOptions = {}): Promise<PushBlobResult> {
    this.checkRepo(repo);
    if (opts.mountFrom) this.checkRepo(opts.mountFrom);
    if (opts.chunkSize !== undefined && !(opts.chunkSize > 0)) throw invalidArgument('chunkSize must be positive');
    const scopes = opts.mountFrom && opts.mountFrom !== repo ? [pushScope(repo), pullScope(opts.mountFrom)] : [pushScope(repo)];
    if (await this.blobExists(repo, desc.digest, { signal: opts.signal, scopes })) {
      opts.onProgress?.(desc.size, desc.size);
      return 'exists';
    }
    let lastError: unknown;
    for (let attempt = 1; attempt <= this.attempts; attempt++) {
      if (attempt > 1) await this.backoff(attempt - 1, undefined, opts.signal);
      let location: string | undefined;
      try {
        // Start the session (or mount).
        const mount = opts.mountFrom && opts.mountFrom !== repo && attempt === 1;
        const q = mount ? `?mount=${encodeURIComponent(desc.digest)}&from=${encodeURIComponent(opts.mountFrom as string)}` : '';
        const start = await this.send({
          method: 'POST',
          url: `/v2/${repo}/blobs/uploads/${q}`,
          scopes,
          headers: { 'content-length': '0' },
          signal: opts.signal,
        });
        await drain(start);
        if (mount && start.status === 201) {
          opts.onProgress?.(desc.size, desc.size);
          return 'mounted';
        }
        if (start.status !== 202) throw await this.pushError(start, repo, `blob ${desc.digest}`);
        location = this.resolveLocation(start);

        let done = 0;
        // pipeline (not pipe) so that a read error of the source fails the upload.
        const counted = (): Readable =>
          pipeline(
            open(),
            new Transform({
              transform(chunk: Buffer, _enc, cb) {
                done += chunk.length;
                opts.onProgress?.(Math.min(done, desc.size), desc.size);
                cb(null, chunk);
              },
            }),
            () => {},
          );
        let fin: Response;
        if (opts.chunkSize) {
          let offset = 0;
          for await (const chunk of rechunk(counted(), opts.chunkSize)) {
            const loc = location;
            const res = await this.send({
              method: 'PATCH',
              url: loc,
              scopes,
              headers: {
                'content-type': 'application/octet-stream',
                'content-length': String(chunk.length),
                'content-range': `${offset}-${offset + chunk.length - 1}`,
              },
              body: () => chunk,
              signal: opts.signal,
              retry: false,
            });
            await drain(res);
            if (res.status !== 202) throw await this.pushError(res, repo, `blob ${desc.digest}`);
            offset += chunk.length;
            location = this.resolveLocation(res);
          }
          fin = await this.send({
            method: 'PUT',
            url: withQuery(location, 'digest', desc.digest),
            scopes,
            headers: { 'content-length': '0' },
            signal: opts.signal,
            retry: false,
          });
        } else {
          fin = await this.send({
            method: 'PUT',
            url: withQuery(location, 'digest', desc.digest),
            scopes,
            headers: { 'content-type': 'application/octet-stream', 'content-length': String(desc.size) },
            body: counted,
            signal: opts.signal,
            retry: false,
          });
        }
        await drain(fin);
        if (fin.status !== 201) throw await this.pushError(fin, repo, `blob ${desc.digest}`);
        const claimed = fin.headers.get('docker-content-digest');
        if (claimed && claimed !== desc.digest) throw corrupt(`registry ${this.host} stored blob ${desc.digest} as ${claimed}`);
        return 'uploaded';
      } catch (e) {
        lastError = e;
        if (opts.signal?.aborted) throw this.canceled(opts.signal);
        const retryable = e instanceof RetryableHttpError || (!(e instanceof BerthError) && isRetryableNetworkError(e));
        if (location) void this.cancelUpload(location, scopes);
        if (!retryable) throw e instanceof RetryableHttpError ? e.error : e instanceof BerthError ? e : this.networkError(e, `uploading blob ${desc.digest}`);
      }
    }
    throw lastError instanceof RetryableHttpError
      ? lastError.error
      : lastError instanceof BerthError
        ? lastError
        : this.networkError(lastError, `uploading blob ${desc.digest}`);
  }

  /**
   * Uploads a blob whose digest is known only after its last byte (a layer being compressed while
   * it uploads): one streamed PATCH, then `PUT ?digest=` with the digest `finished` resolves to; the
   * registry verifies it. No retries and no existence check: the bytes cannot be replayed, so on
   * failure the caller pushes the finished blob with pushBlob.
   * @throws like pushBlob; a network failure as `unavailable`.
   */
  async pushBlobStream(repo: string, body: Readable, finished: () => Promise<Digest>, opts: { signal?: AbortSignal } = {}): Promise<void> {
    this.checkRepo(repo);
    const scopes = [pushScope(repo)];
    let location: string | undefined;
    let used = false;
    try {
      const start = await this.send({ method: 'POST', url: `/v2/${repo}/blobs/uploads/`, scopes, headers: { 'content-length': '0' }, signal: opts.signal });
      await drain(start);
      if (start.status !== 202) throw await this.pushError(start, repo, 'a layer');
      location = this.resolveLocation(start);
      const patch = await this.send({
        method: 'PATCH',
        url: location,
        scopes,
        headers: { 'content-type': 'application/octet-stream' },
        body: () => {
          if (used) throw new BerthError('unavailable', `registry ${this.host} asked to send a streamed layer twice`);
          used = true;
          return body;
        },
        signal: opts.signal,
        retry: false,
      });
      await drain(patch);
      if (patch.status !== 202) throw await this.pushError(patch, repo, 'a layer');
      location = this.resolveLocation(patch);
      const digest = await finished();
      const fin = await this.send({
        method: 'PUT',
        url: withQuery(location, 'digest', digest),
        scopes,
        headers: { 'content-length': '0' },
        signal: opts.signal,
        retry: false,
      });
      await drain(fin);
      if (fin.status !== 201) throw await this.pushError(fin, repo, `blob ${digest}`);
      const claimed = fin.headers.get('docker-content-digest');
      if (claimed && claimed !== digest) throw corrupt(`registry ${this.host} stored blob ${digest} as ${claimed}`);
    } catch (e) {
      if (!used) body.destroy();
      if (location) void this.cancelUpload(location, scopes);
      if (opts.signal?.aborted) throw this.canceled(opts.signal);
      throw e instanceof RetryableHttpError ? e.error : e instanceof BerthError ? e : this.networkError(e, 'uploading a layer');
    }
  }

  /** Removes a blob from a repository (registries may refuse: not_implemented). */
  async deleteBlob(repo: string, digest: Digest, opts: { signal?: AbortSignal } = {}): Promise<void> {
    this.checkRepo(repo);
    const res = await this.send({ method: 'DELETE', url: `/v2/${repo}/blobs/${digest}`, scopes: [`repository:${repo}:delete`, pushScope(repo)], signal: opts.signal });
    if (!res.ok) throw await this.genericError(res, repo, `deleting blob ${digest}`);
    await drain(res);
  }

  // -------------------------------------------------------------------------------------------
  // Listing
  // -------------------------------------------------------------------------------------------

  /** All tags of a repository, following `Link: <...>; rel="next"` pages. @throws not_found */
  async listTags(repo: string, opts: { pageSize?: number; signal?: AbortSignal } = {}): Promise<string[]> {
    this.checkRepo(repo);
    return this.paginate(`/v2/${repo}/tags/list${opts.pageSize ? `?n=${opts.pageSize}` : ''}`, [pullScope(repo)], 'tags', repo, opts.signal);
  }

  /** All repositories of the registry (`/v2/_catalog`, paginated). */
  async catalog(opts: { pageSize?: number; signal?: AbortSignal } = {}): Promise<string[]> {
    return this.paginate(`/v2/_catalog${opts.pageSize ? `?n=${opts.pageSize}` : ''}`, ['registry:catalog:*'], 'repositories', undefined, opts.signal);
  }

  /**
   * Manifests whose `subject` is `digest` (OCI referrers API), filtered by artifactType.
   * Falls back to the referrers tag schema (`sha256-<hex>`) when the registry has no API.
   */
  async referrers(repo: string, digest: Digest, opts: { artifactType?: string; signal?: AbortSignal } = {}): Promise<Descriptor[]> {
    this.checkRepo(repo);
    const q = opts.artifactType ? `?artifactType=${encodeURIComponent(opts.artifactType)}` : '';
    const res = await this.send({ method: 'GET', url: `/v2/${repo}/referrers/${digest}${q}`, scopes: [pullScope(repo)], headers: { accept: MediaTypes.OciIndex }, signal: opts.signal });
    let manifests: Descriptor[];
    if (res.ok) {
      const parsed = parseManifest(await readLimited(res, MAX_MANIFEST_BYTES, 'referrers index'), MediaTypes.OciIndex);
      if (parsed.kind !== 'index') throw corrupt(`registry ${this.host} answered the referrers API with a manifest`);
      manifests = parsed.index.manifests;
      if (res.headers.get('oci-filters-applied')?.includes('artifactType')) return manifests;
    } else if (res.status === 404) {
      await drain(res);
      const tag = digest.replace(':', '-');
      try {
        const m = await this.getManifest(repo, tag, [MediaTypes.OciIndex], opts);
        const parsed = parseManifest(m.buf, m.mediaType);
        manifests = parsed.kind === 'index' ? parsed.index.manifests : [];
      } catch (e) {
        if (e instanceof BerthError && e.code === 'not_found') return [];
        throw e;
      }
    } else {
      throw await this.genericError(res, repo, `listing referrers of ${digest}`);
    }
    return opts.artifactType ? manifests.filter((d) => d.artifactType === opts.artifactType) : manifests;
  }

  // -------------------------------------------------------------------------------------------
  // Transport
  // -------------------------------------------------------------------------------------------

  /** Resolves the scheme once: https, or http when allowed and https cannot connect. Learns the auth challenge. */
  private async resolveBase(signal?: AbortSignal): Promise<string> {
    if (this.base) return this.base;
    this.basePromise ??= (async () => {
      const candidates = this.allowHttp ? [`https://${this.apiHost}`, `http://${this.apiHost}`] : [`https://${this.apiHost}`];
      let lastError: unknown;
      for (const base of candidates) {
        for (let attempt = 1; attempt <= this.attempts; attempt++) {
          try {
            const res = await this.fetch(`${base}/v2/`, { headers: { 'user-agent': this.userAgent }, signal: signal ?? null });
            await drain(res);
            if (res.status === 401) this.challenge = parseChallenge(res.headers.get('www-authenticate'));
            if (isRetryableStatus(res.status) && attempt < this.attempts) {
              await this.backoff(attempt, retryAfterMs(res), signal);
              continue;
            }
            this.base = base;
            return base;
          } catch (e) {
            lastError = e;
            if (signal?.aborted) throw this.canceled(signal);
            // https to a plain-http registry: try the next scheme at once.
            if (!isRetryableNetworkError(e) || (base.startsWith('https:') && this.allowHttp && NOT_TLS.test(causeCode(e) ?? ''))) break;
            if (attempt < this.attempts) await this.backoff(attempt, undefined, signal);
          }
        }
      }
      throw this.networkError(lastError, 'connecting');
    })();
    try {
      return await this.basePromise;
    } catch (e) {
      this.basePromise = undefined;
      throw e;
    }
  }

  private async getCredentials(): Promise<RegistryCredentials | undefined> {
    if (!this.credentialSource) return undefined;
    this.creds ??= this.credentialSource();
    return this.creds;
  }

  private async authHeader(scopes: string[], signal?: AbortSignal): Promise<string | undefined> {
    const ch = this.challenge;
    if (!ch) return undefined;
    if (ch.scheme === 'basic') {
      const c = await this.getCredentials();
      return c ? `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}` : undefined;
    }
    const key = [...scopes].sort().join(' ');
    const cached = this.tokens.get(key);
    if (cached && cached.expires > Date.now()) return `Bearer ${cached.token}`;
    return `Bearer ${await this.fetchToken(ch, scopes, key, signal)}`;
  }

  /** The Bearer token flow: GET realm?service=&scope= with Basic credentials when we have them. */
  private async fetchToken(ch: Challenge, scopes: string[], key: string, signal?: AbortSignal): Promise<string> {
    if (!ch.realm) throw new BerthError('unavailable', `registry ${this.host} asked for a bearer token without naming a realm`);
    let url: URL;
    try {
      url = new URL(ch.realm);
    } catch {
      throw new BerthError('unavailable', `registry ${this.host} named an invalid token realm`);
    }
    if (ch.service) url.searchParams.set('service', ch.service);
    for (const s of scopes) url.searchParams.append('scope', s);
    const c = await this.getCredentials();
    const headers: Record<string, string> = { 'user-agent': this.userAgent };
    if (c) headers.authorization = `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;
    let res: Response | undefined;
    for (let attempt = 1; attempt <= this.attempts; attempt++) {
      try {
        res = await this.fetch(url, { headers, signal: signal ?? null });
      } catch (e) {
        if (signal?.aborted) throw this.canceled(signal);
        if (attempt < this.attempts && isRetryableNetworkError(e)) {
          await this.backoff(attempt, undefined, signal);
          continue;
        }
        throw this.networkError(e, 'getting a token');
      }
      if (isRetryableStatus(res.status) && attempt < this.attempts) {
        await drain(res);
        await this.backoff(attempt, retryAfterMs(res), signal);
        continue;
      }
      break;
    }
    if (!res) throw new BerthError('unavailable', `no token from ${this.host}`);
    if (res.status === 401 || res.status === 403) {
      await drain(res);
      throw new BerthError('unauthenticated', c ? `unauthorized: incorrect username or password for ${this.host}` : `unauthorized: ${this.host} refused an anonymous token`, {
        hint: `run 'berth login ${this.host}'`,
      });
    }
    if (!res.ok) {
      await drain(res);
      throw new BerthError(isRetryableStatus(res.status) ? 'unavailable' : 'internal', `token server of ${this.host} answered ${res.status} ${res.statusText}`);
    }
    let body: { token?: unknown; access_token?: unknown; expires_in?: unknown };
    try {
      body = JSON.parse((await readLimited(res, 1 << 20, 'token response')).toString('utf8'));
    } catch (e) {
      throw new BerthError('unavailable', `token server of ${this.host} sent an invalid response`, { cause: e instanceof BerthError ? e : undefined });
    }
    const token = typeof body.token === 'string' && body.token ? body.token : typeof body.access_token === 'string' ? body.access_token : '';
    if (!token) throw new BerthError('unavailable', `token server of ${this.host} sent no token`);
    const ttl = typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : 60;
    this.tokens.set(key, { token, expires: Date.now() + Math.max(ttl - 10, 5) * 1000 });
    return token;
  }

  /**
   * One HTTP exchange with auth and retries. Returns the final response (any status):
   * callers map statuses to errors. Network failures after retries throw `unavailable`.
   */
  private async send(o: SendOptions): Promise<Response> {
    const base = await this.resolveBase(o.signal);
    const url = o.url.startsWith('/') ? `${base}${o.url}` : o.url;
    const sameOrigin = new URL(url).origin === new URL(base).origin;
    const retry = o.retry !== false;
    let authRetried = false;
    for (let attempt = 1; ; attempt++) {
      const headers: Record<string, string> = { 'user-agent': this.userAgent, ...o.headers };
      if (sameOrigin) {
        const auth = await this.authHeader(o.scopes, o.signal);
        if (auth) headers.authorization = auth;
      }
      const body = o.body?.();
      let res: Response;
      try {
        const streamed = body !== undefined && !Buffer.isBuffer(body);
        res = await (streamed ? this.uploadFetch : this.fetch)(url, {
          method: o.method,
          headers,
          body: body as unknown as RequestInit["body"],
          signal: o.signal ?? null,
          redirect: 'follow',
          ...(body ? { duplex: 'half' } : {}),
        } as RequestInit);
      } catch (e) {
        if (o.signal?.aborted) throw this.canceled(o.signal);
        if (retry && attempt < this.attempts && isRetryableNetworkError(e)) {
          await this.backoff(attempt, undefined, o.signal);
          continue;
        }
        if (!retry && isRetryableNetworkError(e)) throw e; // the caller restarts at its own level
        throw this.networkError(e, `${o.method} ${new URL(url).pathname}`);
      }
      if (res.status === 401 && sameOrigin && !authRetried) {
        const ch = parseChallenge(res.headers.get('www-authenticate'));
        const known = this.challenge;
        if (ch && (!known || known.scheme !== ch.scheme || known.realm !== ch.realm)) {
          // A challenge we had not answered yet: answer it once.
          this.challenge = ch;
          authRetried = true;
          if (ch.scheme === 'bearer' || (await this.getCredentials())) {
            await drain(res);
            attempt--;
            continue;
          }
        } else if (ch?.scheme === 'bearer') {
          // Maybe an expired token: get a fresh one once.
          this.tokens.delete([...o.scopes].sort().join(' '));
          authRetried = true;
          await drain(res);
          attempt--;
          continue;
        }
      }
      if (isRetryableStatus(res.status)) {
        if (retry && attempt < this.attempts) {
          await drain(res);
          await this.backoff(attempt, retryAfterMs(res), o.signal);
          continue;
        }
        if (!retry) throw new RetryableHttpError(await this.statusError(res, 'unavailable', `${o.method} ${new URL(url).pathname}`));
        throw await this.statusError(res, 'unavailable', `${o.method} ${new URL(url).pathname}`, attempt);
      }
      return res;
    }
  }

  private async backoff(attempt: number, hintMs: number | undefined, signal?: AbortSignal): Promise<void> {
    const base = this.retryDelayMs * 2 ** (attempt - 1);
    const ms = hintMs ?? base + Math.random() * base * 0.2;
    try {
      await sleep(ms, undefined, signal ? { signal } : undefined);
    } catch {
      throw this.canceled(signal);
    }
  }

  private async cancelUpload(location: string, scopes: string[]): Promise<void> {
    try {
      const res = await this.send({ method: 'DELETE', url: location, scopes, retry: false });
      await drain(res);
    } catch {
      /* best effort: the registry expires abandoned sessions */
    }
  }

  private resolveLocation(res: Response): string {
    const loc = res.headers.get('location');
    if (!loc) throw new BerthError('unavailable', `registry ${this.host} started an upload without a Location`);
    return new URL(loc, `${this.base}/`).toString();
  }

  private async paginate(first: string, scopes: string[], field: 'tags' | 'repositories', repo: string | undefined, signal?: AbortSignal): Promise<string[]> {
    const out: string[] = [];
    let next: string | undefined = first;
    for (let pages = 0; next && pages < 10_000; pages++) {
      const res = await this.send({ method: 'GET', url: next, scopes, signal });
      if (!res.ok) {
        if (repo && res.status === 404) {
          const e = await this.decodeError(res);
          throw notFound(`repository ${this.display(repo)} not found${e.message ? `: ${e.message}` : ''}`);
        }
        throw await this.genericError(res, repo, field === 'tags' ? 'listing tags' : 'listing repositories');
      }
      let body: Record<string, unknown>;
      try {
        body = JSON.parse((await readLimited(res, 32 << 20, field)).toString('utf8'));
      } catch (e) {
        if (e instanceof BerthError) throw e;
        throw corrupt(`registry ${this.host} sent invalid JSON for ${field}`);
      }
      const list = body[field];
      if (list !== null && list !== undefined) {
        if (!Array.isArray(list) || !list.every((t) => typeof t === 'string')) throw corrupt(`registry ${this.host} sent an invalid ${field} list`);
        out.push(...list);
      }
      const link = res.headers.get('link');
      const m = link ? /<([^>]+)>\s*;\s*rel="?next"?/.exec(link) : null;
      next = m ? new URL(m[1], `${this.base}/`).toString() : undefined;
      if (next && new URL(next).origin !== new URL(this.base).origin) next = undefined;
    }
    return out;
  }

  // -------------------------------------------------------------------------------------------
  // Errors
  // -------------------------------------------------------------------------------------------

  /** docker's familiar name in messages: "busybox" for Docker Hub library images, else host/repo. */
  private display(repo: string): string {
    if (this.apiHost === 'registry-1.docker.io') return repo.startsWith('library/') ? repo.slice(8) : repo;
    return `${this.host}/${repo}`;
  }

  private checkRepo(repo: string): void {
    if (!/^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/.test(repo)) {
      throw invalidArgument(`invalid repository name "${repo}"`);
    }
  }

  private canceled(signal?: AbortSignal): BerthError {
    return new BerthError('canceled', `request to ${this.host} canceled`, { cause: signal?.reason });
  }

  private networkError(e: unknown, what: string): BerthError {
    if (e instanceof BerthError) return e;
    const where = this.insecureConfig ? `under "insecure" in ${this.insecureConfig}` : 'as insecure';
    const bad = certificateProblem(e);
    if (bad) {
      return new BerthError('unavailable', `registry ${this.host} presented a TLS certificate that cannot be verified (${bad})`, {
        cause: e,
        hint: certificateHint(this.host, this.insecureConfig),
      });
    }
    return new BerthError('unavailable', `cannot reach registry ${this.host} (${what}): ${causeMessage(e)}`, {
      cause: e,
      hint: this.allowHttp ? undefined : `if ${this.host} serves plain http, list it ${where}`,
    });
  }

  private async decodeError(res: Response): Promise<RegistryErrorBody> {
    let codes: string[] = [];
    let message = '';
    try {
      const buf = res.body ? await readLimited(res, MAX_ERROR_BODY, 'error body') : Buffer.alloc(0);
      const j = JSON.parse(buf.toString('utf8')) as { errors?: { code?: unknown; message?: unknown; detail?: unknown }[] };
      if (Array.isArray(j.errors)) {
        codes = j.errors.map((x) => String(x.code ?? ''));
        message = j.errors
          .map((x) => `${String(x.code ?? '').toLowerCase().replace(/_/g, ' ')}: ${String(x.message ?? '')}`)
          .join('; ');
      }
    } catch {
      await drain(res);
    }
    return { status: res.status, statusText: res.statusText, codes, message };
  }

  private async statusError(res: Response, code: ErrorCode, what: string, attempts?: number): Promise<BerthError> {
    const e = await this.decodeError(res);
    const tail = attempts && attempts > 1 ? ` after ${attempts} attempts` : '';
    const kind = res.status === 429 ? 'toomanyrequests: ' : '';
    return new BerthError(code, `${kind}registry ${this.host} answered ${res.status} ${res.statusText} to ${what}${tail}${e.message ? `: ${e.message}` : ''}`);
  }

  private async authError(res: Response): Promise<BerthError | undefined> {
    if (res.status !== 401) return undefined;
    const usedCreds = (await this.getCredentials()) !== undefined;
    if (this.challenge?.scheme === 'bearer') return undefined; // valid token, no access: the caller's "denied"
    await drain(res);
    return new BerthError('unauthenticated', usedCreds ? `unauthorized: incorrect username or password for ${this.host}` : `no basic auth credentials for ${this.host}`, {
      hint: `run 'berth login ${this.host}'`,
    });
  }

  private async manifestError(res: Response, repo: string, ref: string): Promise<BerthError> {
    const auth = await this.authError(res);
    if (auth) return auth;
    const e = await this.decodeError(res);
    const sep = isDigest(ref) ? '@' : ':';
    if (res.status === 404 && e.codes.includes('MANIFEST_UNKNOWN')) {
      return notFound(`manifest for ${this.display(repo)}${sep}${ref} not found: manifest unknown`);
    }
    if (res.status === 401 || res.status === 403 || res.status === 404) {
      return notFound(
        `pull access denied for ${this.display(repo)}, repository does not exist or may require 'docker login'${e.message ? `: ${e.message}` : ''}`,
        { hint: `check the name, or run 'berth login ${this.host}'` },
      );
    }
    return this.mapStatus(e, `fetching manifest ${this.display(repo)}${sep}${ref}`);
  }

  private async blobError(res: Response, repo: string, digest: Digest): Promise<BerthError> {
    const auth = await this.authError(res);
    if (auth) return auth;
    const e = await this.decodeError(res);
    if (res.status === 404) return notFound(`blob ${digest} not found in ${this.display(repo)}${e.message ? `: ${e.message}` : ''}`);
    if (res.status === 401 || res.status === 403) {
      return notFound(`pull access denied for ${this.display(repo)}, repository does not exist or may require 'docker login'`);
    }
    return this.mapStatus(e, `fetching blob ${digest} from ${this.display(repo)}`);
  }

  private async pushError(res: Response, repo: string, what: string): Promise<BerthError> {
    const auth = await this.authError(res);
    if (auth) return auth;
    const e = await this.decodeError(res);
    if (res.status === 401 || res.status === 403) {
      return new BerthError('permission_denied', `denied: requested access to the resource is denied (pushing ${what} to ${this.display(repo)})${e.message ? `: ${e.message}` : ''}`, {
        hint: `run 'berth login ${this.host}' with an account that may push to ${repo}`,
      });
    }
    return this.mapStatus(e, `pushing ${what} to ${this.display(repo)}`);
  }

  private async genericError(res: Response, repo: string | undefined, what: string): Promise<BerthError> {
    const auth = await this.authError(res);
    if (auth) return auth;
    const e = await this.decodeError(res);
    return this.mapStatus(e, `${what}${repo ? ` in ${this.display(repo)}` : ''}`);
  }

  private mapStatus(e: RegistryErrorBody, what: string): BerthError {
    const code: ErrorCode =
      e.status === 404
        ? 'not_found'
        : e.status === 401
          ? 'unauthenticated'
          : e.status === 403
            ? 'permission_denied'
            : e.status === 405 || e.status === 501
              ? 'not_implemented'
              : e.status === 409
                ? 'conflict'
                : e.status >= 500
                  ? 'unavailable'
                  : e.status >= 400
                    ? 'invalid_argument'
                    : 'internal';
    return new BerthError(code, `registry ${this.host} answered ${e.status} ${e.statusText} to ${what}${e.message ? `: ${e.message}` : ''}`);
  }
}

/** A 429/5xx seen by a non-retrying send: the caller restarts the whole operation. */
class RetryableHttpError extends Error {
  constructor(readonly error: BerthError) {
    super(error.message);
  }
}

/** A tag or a digest, as the distribution spec allows them in a URL path. */
function checkRef(ref: string): void {
  if (!isDigest(ref) && !/^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/.test(ref)) throw invalidArgument(`invalid tag or digest "${ref}"`);
}

function withQuery(url: string, key: string, value: string): string {
  const u = new URL(url);
  u.searchParams.set(key, value);
  return u.toString();
}
