/**
 * The engine of `berth registry serve`: an OCI distribution registry on node:http(s).
 *
 * Storage under `root`:
 *   content/                         a ContentStore: every blob and manifest, content-addressed and
 *                                    verified before it becomes visible
 *   repositories/<name>/_layers/<alg>/<hex>          empty file: the blob belongs to the repository
 *   repositories/<name>/_manifests/<alg>/<hex>.json  the manifest's media type, size, subject, ...
 *   repositories/<name>/_tags/<tag>                  the digest the tag points to
 *   repositories/<name>/_referrers/<alg>/<subject hex>/<alg>-<hex>  empty file: a referrer of subject
 * Name components cannot start with "_", so these folders never clash with nested repositories.
 * Metadata files are written to a temporary name, fsynced and renamed, so a crash leaves each one
 * either old or new.
 *
 * Upload sessions live in memory (a restart forgets them: clients get BLOB_UPLOAD_UNKNOWN and
 * start again); their bytes go straight into a content-store writer that hashes as they arrive.
 */
import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import bcrypt from 'bcryptjs';
import { type Digest, digestAlgorithm, digestHex, isDigest } from '../content/digest.js';
import { type BlobWriter, ContentStore } from '../content/store.js';
import { BerthError, invalidArgument } from '../errors.js';
import { type Descriptor, type ImageIndex, MediaTypes, parseManifest } from '../image/oci.js';

export interface RegistryServerOptions {
  /** "host:port" to listen on; port 0 picks a free one. Default "127.0.0.1:5000". */
  addr?: string;
  /** Directory holding the registry's content and metadata (created when missing). */
  root: string;
  /** An htpasswd file of bcrypt entries (`htpasswd -B`); when set, every request needs Basic auth. */
  htpasswd?: string;
  /** Serve https. Each is a PEM string or a path to a PEM file. */
  tls?: { cert: string; key: string };
  /** Largest manifest accepted (default 4 MiB, the OCI spec's suggestion). */
  maxManifestBytes?: number;
  /** Upload sessions idle longer than this are discarded (default 1 hour). */
  uploadIdleMs?: number;
}

export interface RegistryServer {
  /** Base URL, e.g. "http://127.0.0.1:5000". */
  readonly url: string;
  /** "host:port" as clients name the registry. */
  readonly host: string;
  readonly port: number;
  /** Stops listening, drops open connections and discards unfinished uploads. */
  close(): Promise<void>;
}

const NAME_RE = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;
const TAG_RE = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;

/** Distribution error codes and their HTTP statuses. */
const ERROR_STATUS = {
  BLOB_UNKNOWN: 404,
  BLOB_UPLOAD_INVALID: 400,
  BLOB_UPLOAD_UNKNOWN: 404,
  DIGEST_INVALID: 400,
  MANIFEST_BLOB_UNKNOWN: 400,
  MANIFEST_INVALID: 400,
  MANIFEST_UNKNOWN: 404,
  NAME_INVALID: 400,
  NAME_UNKNOWN: 404,
  SIZE_INVALID: 400,
  TAG_INVALID: 400,
  UNAUTHORIZED: 401,
  DENIED: 403,
  UNSUPPORTED: 405,
  RANGE_INVALID: 416,
  UNKNOWN: 500,
} as const;
type ErrorCodeName = keyof typeof ERROR_STATUS;

/** An error that becomes a distribution error response at the one boundary in `handle`. */
class HttpError extends Error {
  constructor(
    readonly code: ErrorCodeName,
    message: string,
    readonly status: number = ERROR_STATUS[code],
    readonly headers: Record<string, string> = {},
    readonly detail?: unknown,
  ) {
    super(message);
  }
}

interface ManifestMeta {
  mediaType: string;
  size: number;
  artifactType?: string;
  subject?: Digest;
  annotations?: Record<string, string>;
}

interface UploadSession {
  id: string;
  name: string;
  writer: BlobWriter;
  busy: boolean;
  lastActive: number;
}

function writeFileAtomic(file: string, data: string | Buffer): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}-${randomUUID()}`;
  const fd = fs.openSync(tmp, 'w', 0o644);
  try {
    fs.writeFileSync(fd, data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
}

function touch(file: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.closeSync(fs.openSync(file, 'a'));
}

const rmFile = (file: string): boolean => {
  try {
    fs.unlinkSync(file);
    return true;
  } catch {
    return false;
  }
};

const readDirSafe = (dir: string): string[] => {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
};

/** Repository metadata on the file system. Every method is synchronous: the server never interleaves two updates. */
class RepositoryStore {
  constructor(readonly root: string) {
    fs.mkdirSync(root, { recursive: true });
  }
  private dir(name: string): string {
    return path.join(this.root, ...name.split('/'));
  }
  private digestPath(name: string, kind: string, d: Digest, ext = ''): string {
    return path.join(this.dir(name), kind, digestAlgorithm(d), digestHex(d) + ext);
  }

  exists(name: string): boolean {
    const d = this.dir(name);
    return ['_layers', '_manifests', '_tags'].some((k) => fs.existsSync(path.join(d, k)));
  }

  hasBlob(name: string, d: Digest): boolean {
    return fs.existsSync(this.digestPath(name, '_layers', d));
  }
  linkBlob(name: string, d: Digest): void {
    touch(this.digestPath(name, '_layers', d));
  }
  unlinkBlob(name: string, d: Digest): boolean {
    return rmFile(this.digestPath(name, '_layers', d));
  }

  manifest(name: string, d: Digest): ManifestMeta | undefined {
    try {
      return JSON.parse(fs.readFileSync(this.digestPath(name, '_manifests', d, '.json'), 'utf8')) as ManifestMeta;
    } catch {
      return undefined;
    }
  }
  putManifest(name: string, d: Digest, meta: ManifestMeta): void {
    writeFileAtomic(this.digestPath(name, '_manifests', d, '.json'), JSON.stringify(meta));
    if (meta.subject) touch(path.join(this.referrerDir(name, meta.subject), `${digestAlgorithm(d)}-${digestHex(d)}`));
  }
  deleteManifest(name: string, d: Digest): boolean {
    const meta = this.manifest(name, d);
    if (!meta) return false;
    if (meta.subject) rmFile(path.join(this.referrerDir(name, meta.subject), `${digestAlgorithm(d)}-${digestHex(d)}`));
    for (const t of this.tags(name)) if (this.tag(name, t) === d) this.deleteTag(name, t);
    return rmFile(this.digestPath(name, '_manifests', d, '.json'));
  }

  private referrerDir(name: string, subject: Digest): string {
    return path.join(this.dir(name), '_referrers', digestAlgorithm(subject), digestHex(subject));
  }
  referrers(name: string, subject: Digest): Digest[] {
    return readDirSafe(this.referrerDir(name, subject))
      .map((f) => f.replace('-', ':'))
      .filter((d): d is Digest => isDigest(d));
  }

  tag(name: string, tag: string): Digest | undefined {
    try {
      const d = fs.readFileSync(path.join(this.dir(name), '_tags', tag), 'utf8').trim();
      return isDigest(d) ? d : undefined;
    } catch {
      return undefined;
    }
  }
  setTag(name: string, tag: string, d: Digest): void {
    writeFileAtomic(path.join(this.dir(name), '_tags', tag), d);
  }
  deleteTag(name: string, tag: string): boolean {
    return rmFile(path.join(this.dir(name), '_tags', tag));
  }
  tags(name: string): string[] {
    return readDirSafe(path.join(this.dir(name), '_tags'))
      .filter((t) => TAG_RE.test(t))
      .sort();
  }

  /** All repository names, sorted. */
  repositories(): string[] {
    const out: string[] = [];
    const walk = (dir: string, prefix: string) => {
      for (const ent of readDirSafe(dir)) {
        if (ent.startsWith('_') || ent.includes('.tmp-')) continue;
        const full = path.join(dir, ent);
        if (!fs.statSync(full, { throwIfNoEntry: false })?.isDirectory()) continue;
        const name = prefix ? `${prefix}/${ent}` : ent;
        if (this.exists(name)) out.push(name);
        walk(full, name);
      }
    };
    walk(this.root, '');
    return out.sort();
  }
}

interface Htpasswd {
  entries: Map<string, string>;
  /** sha256 of Authorization values that verified: bcrypt is slow, and clients send it on every request. */
  verified: Set<string>;
}

function loadHtpasswd(file: string): Htpasswd {
  const entries = new Map<string, string>();
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const t = line.trim();
    if (!t || t.startsWith('#')) continue;
    const i = t.indexOf(':');
    if (i <= 0) continue;
    const hash = t.slice(i + 1);
    // Only bcrypt entries are honoured, as in distribution: the other htpasswd formats are weak.
    if (/^\$2[abxy]?\$\d\d\$/.test(hash)) entries.set(t.slice(0, i), hash);
  }
  return { entries, verified: new Set() };
}

function pem(v: string): string | Buffer {
  return v.includes('-----BEGIN') ? v : fs.readFileSync(v);
}

function parseAddr(addr: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(addr);
  if (!m) throw invalidArgument(`invalid listen address "${addr}": expected host:port`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port: Number(m[3]) };
}

function parseDigestParam(v: string | null, what = 'digest'): Digest {
  if (!v || !isDigest(v)) throw new HttpError('DIGEST_INVALID', `invalid ${what} ${JSON.stringify(v ?? '')}`);
  return v;
}

/** Uploads are stored under sha256 only (what the content store computes). */
function parseUploadDigest(v: string | null): Digest {
  const d = parseDigestParam(v);
  if (digestAlgorithm(d) !== 'sha256') throw new HttpError('DIGEST_INVALID', `unsupported digest algorithm in ${d}: use sha256`);
  return d;
}

async function readBody(req: http.IncomingMessage, limit: number): Promise<Buffer> {
  const len = Number(req.headers['content-length'] ?? '-1');
  if (len > limit) throw new HttpError('MANIFEST_INVALID', `manifest too large: ${len} bytes, limit ${limit}`, 413);
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of req) {
    n += (c as Buffer).length;
    if (n > limit) throw new HttpError('MANIFEST_INVALID', `manifest too large: more than ${limit} bytes`, 413);
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}

/** Appends a request body to an upload; the writer hashes in order. */
async function appendBody(req: http.IncomingMessage, w: BlobWriter): Promise<number> {
  let n = 0;
  for await (const c of req) {
    w.write(c as Buffer);
    n += (c as Buffer).length;
  }
  return n;
}

function uploadRange(w: BlobWriter): string {
  return `0-${Math.max(w.size - 1, 0)}`;
}

/**
 * Starts the registry and resolves once it listens.
 * @throws invalid_argument for a bad address or htpasswd file, or the listen error.
 */
export async function startRegistryServer(opts: RegistryServerOptions): Promise<RegistryServer> {
  const { host: listenHost, port: listenPort } = parseAddr(opts.addr ?? '127.0.0.1:5000');
  fs.mkdirSync(opts.root, { recursive: true });
  const store = new ContentStore(path.join(opts.root, 'content'));
  const repos = new RepositoryStore(path.join(opts.root, 'repositories'));
  const auth = opts.htpasswd ? loadHtpasswd(opts.htpasswd) : undefined;
  if (auth && auth.entries.size === 0) throw invalidArgument(`htpasswd file ${opts.htpasswd} has no bcrypt entries (create them with htpasswd -B)`);
  const maxManifest = opts.maxManifestBytes ?? 4 << 20;
  const uploads = new Map<string, UploadSession>();
  const idleMs = opts.uploadIdleMs ?? 3_600_000;

  const reaper = setInterval(() => {
    const now = Date.now();
    for (const s of uploads.values()) {
      if (!s.busy && now - s.lastActive > idleMs) {
        s.writer.abort();
        uploads.delete(s.id);
      }
    }
  }, Math.min(idleMs, 60_000));
  reaper.unref();

  let dummyHash: string | undefined;
  async function authenticate(req: http.IncomingMessage): Promise<void> {
    if (!auth) return;
    const h = req.headers.authorization ?? '';
    const deny = (msg: string) => new HttpError('UNAUTHORIZED', msg, 401, { 'www-authenticate': 'Basic realm="berth"' });
    const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(h);
    if (!m) throw deny('authentication required');
    const key = createHash('sha256').update(h).digest('hex');
    if (auth.verified.has(key)) return;
    const decoded = Buffer.from(m[1], 'base64').toString('utf8');
    const i = decoded.indexOf(':');
    const user = i >= 0 ? decoded.slice(0, i) : decoded;
    const pass = i >= 0 ? decoded.slice(i + 1) : '';
    const hash = auth.entries.get(user);
    // Compare against a dummy hash for unknown users, so timing does not tell which users exist.
    dummyHash ??= bcrypt.hashSync('berth', 10);
    const ok = await bcrypt.compare(pass, hash ?? dummyHash);
    if (!ok || !hash) throw deny('authentication required');
    if (auth.verified.size > 10_000) auth.verified.clear();
    auth.verified.add(key);
  }

  function session(name: string, id: string): UploadSession {
    const s = uploads.get(id);
    if (!s || s.name !== name) throw new HttpError('BLOB_UPLOAD_UNKNOWN', `upload ${id} is unknown to this registry`);
    if (s.busy) throw new HttpError('BLOB_UPLOAD_INVALID', `upload ${id} is in use by another request`);
    return s;
  }

  function sessionHeaders(res: http.ServerResponse, s: UploadSession): void {
    res.setHeader('location', `/v2/${s.name}/blobs/uploads/${s.id}`);
    res.setHeader('range', uploadRange(s.writer));
    res.setHeader('docker-upload-uuid', s.id);
    res.setHeader('content-length', '0');
  }

  /** Commits a finished upload, checks the digest the client claimed and links the blob. */
  function finishUpload(name: string, w: BlobWriter, want: Digest): void {
    let info: { digest: Digest };
    try {
      info = w.commitSync();
    } catch (e) {
      if (e instanceof BerthError && e.code === 'corrupt') throw new HttpError('DIGEST_INVALID', e.message);
      throw e;
    }
    if (info.digest !== want) {
      // The bytes are a valid blob under their own digest, but nobody asked for it.
      // Committing and this check run in one tick, so no other request can link it in between.
      const used = repos.repositories().some((r) => repos.hasBlob(r, info.digest) || repos.manifest(r, info.digest));
      if (!used) store.delete(info.digest);
      throw new HttpError('DIGEST_INVALID', `uploaded content hashes to ${info.digest}, not ${want}`);
    }
    repos.linkBlob(name, want);
  }

  function blobHeaders(res: http.ServerResponse, d: Digest): void {
    res.setHeader('docker-content-digest', d);
    res.setHeader('etag', `"${d}"`);
  }

  async function handleBlob(req: http.IncomingMessage, res: http.ServerResponse, name: string, ref: string): Promise<void> {
    const d = parseDigestParam(ref);
    const method = req.method ?? 'GET';
    if (method === 'DELETE') {
      if (!repos.unlinkBlob(name, d)) throw new HttpError('BLOB_UNKNOWN', `blob ${d} is unknown to repository ${name}`);
      res.writeHead(202, { 'content-length': '0' }).end();
      return;
    }
    if (method !== 'GET' && method !== 'HEAD') throw new HttpError('UNSUPPORTED', `method ${method} not allowed`, 405);
    if (!repos.hasBlob(name, d) || !store.has(d)) throw new HttpError('BLOB_UNKNOWN', `blob ${d} is unknown to repository ${name}`);
    const size = store.info(d).size;
    blobHeaders(res, d);
    res.setHeader('accept-ranges', 'bytes');
    res.setHeader('content-type', 'application/octet-stream');
    res.setHeader('cache-control', 'max-age=31536000');
    let start = 0;
    let end = size - 1;
    let status = 200;
    const range = req.headers.range;
    if (range) {
      const m = /^bytes=(\d*)-(\d*)$/.exec(range.trim());
      if (!m || (m[1] === '' && m[2] === '')) throw new HttpError('RANGE_INVALID', `unsupported range ${range}`, 416, { 'content-range': `bytes */${size}` });
      if (m[1] === '') {
        start = Math.max(size - Number(m[2]), 0);
      } else {
        start = Number(m[1]);
        if (m[2] !== '') end = Math.min(Number(m[2]), size - 1);
      }
      if (start >= size || start > end) throw new HttpError('RANGE_INVALID', `range ${range} is outside the blob's ${size} bytes`, 416, { 'content-range': `bytes */${size}` });
      status = 206;
      res.setHeader('content-range', `bytes ${start}-${end}/${size}`);
    }
    res.setHeader('content-length', String(Math.max(end - start + 1, 0)));
    res.writeHead(status);
    if (method === 'HEAD' || size === 0) {
      res.end();
      return;
    }
    await pipeline(store.reader(d, { start, end }), res);
  }

  async function handleUploadStart(req: http.IncomingMessage, res: http.ServerResponse, name: string, q: URLSearchParams): Promise<void> {
    const mount = q.get('mount');
    const from = q.get('from');
    if (mount !== null && from !== null) {
      const d = parseDigestParam(mount, 'mount digest');
      if (!NAME_RE.test(from)) throw new HttpError('NAME_INVALID', `invalid repository name ${JSON.stringify(from)}`);
      if (repos.hasBlob(from, d) && store.has(d)) {
        repos.linkBlob(name, d);
        blobHeaders(res, d);
        res.writeHead(201, { location: `/v2/${name}/blobs/${d}`, 'content-length': '0' }).end();
        return;
      }
      // Not mountable: fall through to an ordinary upload session, as the spec says.
    }
    const digest = q.get('digest');
    if (digest !== null) {
      const d = parseUploadDigest(digest);
      const w = store.writer({ expected: d });
      try {
        await appendBody(req, w);
      } catch (e) {
        w.abort();
        throw e;
      }
      finishUpload(name, w, d);
      blobHeaders(res, d);
      res.writeHead(201, { location: `/v2/${name}/blobs/${d}`, 'content-length': '0' }).end();
      return;
    }
    const s: UploadSession = { id: randomUUID(), name, writer: store.writer(), busy: false, lastActive: Date.now() };
    uploads.set(s.id, s);
    sessionHeaders(res, s);
    res.writeHead(202).end();
  }

  async function handleUpload(req: http.IncomingMessage, res: http.ServerResponse, name: string, id: string, q: URLSearchParams): Promise<void> {
    const method = req.method ?? 'GET';
    const s = session(name, id);
    if (method === 'GET') {
      sessionHeaders(res, s);
      res.writeHead(204).end();
      return;
    }
    if (method === 'DELETE') {
      s.writer.abort();
      uploads.delete(id);
      res.writeHead(204, { 'content-length': '0' }).end();
      return;
    }
    if (method !== 'PATCH' && method !== 'PUT') throw new HttpError('UNSUPPORTED', `method ${method} not allowed`, 405);
    const want = method === 'PUT' ? parseUploadDigest(q.get('digest')) : undefined;
    const cr = req.headers['content-range'];
    let expectLen: number | undefined;
    if (cr) {
      const m = /^(?:bytes[ =])?(\d+)-(\d+)(?:\/(?:\d+|\*))?$/.exec(cr.trim());
      if (!m) throw new HttpError('RANGE_INVALID', `invalid Content-Range ${cr}`, 416, { range: uploadRange(s.writer), location: `/v2/${name}/blobs/uploads/${id}` });
      const start = Number(m[1]);
      if (start !== s.writer.size || Number(m[2]) < start) {
        throw new HttpError('RANGE_INVALID', `Content-Range ${cr} does not continue the upload at ${s.writer.size}`, 416, {
          range: uploadRange(s.writer),
          location: `/v2/${name}/blobs/uploads/${id}`,
        });
      }
      expectLen = Number(m[2]) - start + 1;
    }
    s.busy = true;
    try {
      const before = s.writer.size;
      await appendBody(req, s.writer);
      if (expectLen !== undefined && s.writer.size - before !== expectLen) {
        s.writer.abort();
        uploads.delete(id);
        throw new HttpError('BLOB_UPLOAD_INVALID', `chunk of ${s.writer.size - before} bytes does not match Content-Range ${cr}`);
      }
    } finally {
      s.busy = false;
      s.lastActive = Date.now();
    }
    if (method === 'PATCH') {
      sessionHeaders(res, s);
      res.writeHead(202).end();
      return;
    }
    uploads.delete(id);
    finishUpload(name, s.writer, want as Digest);
    blobHeaders(res, want as Digest);
    res.writeHead(201, { location: `/v2/${name}/blobs/${want}`, 'content-length': '0' }).end();
  }

  function resolveRef(name: string, ref: string): Digest {
    if (isDigest(ref)) {
      if (!repos.manifest(name, ref) || !store.has(ref)) throw new HttpError('MANIFEST_UNKNOWN', `manifest ${ref} is unknown to repository ${name}`);
      return ref;
    }
    if (!TAG_RE.test(ref)) throw new HttpError('TAG_INVALID', `invalid tag ${JSON.stringify(ref)}`);
    const d = repos.tag(name, ref);
    if (!d || !repos.manifest(name, d)) throw new HttpError('MANIFEST_UNKNOWN', `manifest ${name}:${ref} is unknown`, 404, {}, { Tag: ref });
    return d;
  }

  async function handleManifest(req: http.IncomingMessage, res: http.ServerResponse, name: string, ref: string): Promise<void> {
    const method = req.method ?? 'GET';
    if (method === 'GET' || method === 'HEAD') {
      const d = resolveRef(name, ref);
      const meta = repos.manifest(name, d) as ManifestMeta;
      res.writeHead(200, {
        'content-type': meta.mediaType,
        'content-length': String(meta.size),
        'docker-content-digest': d,
        etag: `"${d}"`,
      });
      if (method === 'HEAD') {
        res.end();
        return;
      }
      res.end(store.readBuffer(d));
      return;
    }
    if (method === 'DELETE') {
      if (isDigest(ref)) {
        if (!repos.deleteManifest(name, ref)) throw new HttpError('MANIFEST_UNKNOWN', `manifest ${ref} is unknown to repository ${name}`);
      } else {
        if (!TAG_RE.test(ref)) throw new HttpError('TAG_INVALID', `invalid tag ${JSON.stringify(ref)}`);
        if (!repos.deleteTag(name, ref)) throw new HttpError('MANIFEST_UNKNOWN', `manifest ${name}:${ref} is unknown`);
      }
      res.writeHead(202, { 'content-length': '0' }).end();
      return;
    }
    if (method !== 'PUT') throw new HttpError('UNSUPPORTED', `method ${method} not allowed`, 405);
    if (!isDigest(ref) && !TAG_RE.test(ref)) throw new HttpError('TAG_INVALID', `invalid tag ${JSON.stringify(ref)}`);
    const buf = await readBody(req, maxManifest);
    const alg = isDigest(ref) ? digestAlgorithm(ref) : 'sha256';
    const d = `${alg}:${createHash(alg).update(buf).digest('hex')}` as Digest;
    if (isDigest(ref) && d !== ref) throw new HttpError('DIGEST_INVALID', `manifest content hashes to ${d}, not ${ref}`);
    let parsed: ReturnType<typeof parseManifest>;
    try {
      parsed = parseManifest(buf, req.headers['content-type']);
    } catch (e) {
      throw new HttpError('MANIFEST_INVALID', (e as Error).message);
    }
    const meta: ManifestMeta = { mediaType: parsed.mediaType, size: buf.length };
    if (parsed.kind === 'manifest') {
      const m = parsed.manifest;
      for (const desc of [m.config, ...m.layers]) {
        if (desc.urls?.length) continue; // foreign layers live elsewhere
        if (!repos.hasBlob(name, desc.digest) || !store.has(desc.digest)) {
          throw new HttpError('MANIFEST_BLOB_UNKNOWN', `blob ${desc.digest} is unknown to repository ${name}: push it before the manifest`, 400, {}, { digest: desc.digest });
        }
      }
      meta.artifactType = m.artifactType ?? m.config.mediaType;
      if (m.subject) meta.subject = m.subject.digest;
      if (m.annotations) meta.annotations = m.annotations;
    } else {
      const ix = parsed.index;
      for (const desc of ix.manifests) {
        if (!repos.manifest(name, desc.digest) || !store.has(desc.digest)) {
          throw new HttpError('MANIFEST_BLOB_UNKNOWN', `manifest ${desc.digest} is unknown to repository ${name}: push it before the index`, 400, {}, { digest: desc.digest });
        }
      }
      if (ix.subject) meta.subject = ix.subject.digest;
      const at = (ix as ImageIndex & { artifactType?: string }).artifactType;
      if (at) meta.artifactType = at;
      if (ix.annotations) meta.annotations = ix.annotations;
    }
    if (alg === 'sha256') store.putBuffer(buf, { expected: d });
    else throw new HttpError('DIGEST_INVALID', `only sha256 manifests are stored, not ${alg}`);
    repos.putManifest(name, d, meta);
    if (!isDigest(ref)) repos.setTag(name, ref, d);
    const headers: Record<string, string> = { location: `/v2/${name}/manifests/${d}`, 'docker-content-digest': d, 'content-length': '0' };
    if (meta.subject) headers['oci-subject'] = meta.subject;
    res.writeHead(201, headers).end();
  }

  /** Applies `n` and `last` to a sorted list and sets the Link header for the next page. */
  function paginate(res: http.ServerResponse, all: string[], q: URLSearchParams, base: string): string[] {
    const last = q.get('last');
    let list = last ? all.filter((x) => x > last) : all;
    const nParam = q.get('n');
    if (nParam !== null) {
      const n = Number(nParam);
      if (!Number.isSafeInteger(n) || n < 0) throw new HttpError('UNSUPPORTED', `invalid n=${nParam}`, 400);
      if (list.length > n) {
        list = list.slice(0, n);
        if (n > 0) res.setHeader('link', `<${base}?n=${n}&last=${encodeURIComponent(list[n - 1])}>; rel="next"`);
      }
    }
    return list;
  }

  function sendJson(res: http.ServerResponse, status: number, body: unknown, contentType = 'application/json', head = false): void {
    const buf = Buffer.from(JSON.stringify(body));
    res.writeHead(status, { 'content-type': contentType, 'content-length': String(buf.length) });
    res.end(head ? undefined : buf);
  }

  function handleReferrers(res: http.ServerResponse, name: string, ref: string, q: URLSearchParams, head: boolean): void {
    const subject = parseDigestParam(ref);
    const filter = q.get('artifactType');
    const manifests: Descriptor[] = [];
    for (const d of repos.referrers(name, subject)) {
      const meta = repos.manifest(name, d);
      if (!meta) continue;
      if (filter && meta.artifactType !== filter) continue;
      const desc: Descriptor = { mediaType: meta.mediaType, digest: d, size: meta.size };
      if (meta.artifactType) desc.artifactType = meta.artifactType;
      if (meta.annotations) desc.annotations = meta.annotations;
      manifests.push(desc);
    }
    if (filter) res.setHeader('oci-filters-applied', 'artifactType');
    const index: ImageIndex = { schemaVersion: 2, mediaType: MediaTypes.OciIndex, manifests };
    sendJson(res, 200, index, MediaTypes.OciIndex, head);
  }

  async function route(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://registry');
    let p: string;
    try {
      p = decodeURIComponent(url.pathname);
    } catch {
      throw new HttpError('NAME_INVALID', 'invalid path encoding');
    }
    const method = req.method ?? 'GET';
    const head = method === 'HEAD';
    if (p === '/v2/' || p === '/v2') {
      sendJson(res, 200, {}, 'application/json', head);
      return;
    }
    if (p === '/v2/_catalog') {
      if (method !== 'GET') throw new HttpError('UNSUPPORTED', `method ${method} not allowed`, 405);
      sendJson(res, 200, { repositories: paginate(res, repos.repositories(), url.searchParams, '/v2/_catalog') });
      return;
    }
    const m =
      /^\/v2\/(.+)\/(blobs\/uploads)\/?([^/]*)$/.exec(p) ??
      /^\/v2\/(.+)\/(manifests|blobs|referrers)\/([^/]+)$/.exec(p) ??
      /^\/v2\/(.+)\/(tags)\/list$/.exec(p);
    if (!m) throw new HttpError('NAME_UNKNOWN', `no route for ${p}`, 404);
    const [, name, kind, ref] = m;
    if (name.length > 255 || !NAME_RE.test(name)) throw new HttpError('NAME_INVALID', `invalid repository name ${JSON.stringify(name)}`, 400, {}, { name });
    switch (kind) {
      case 'manifests':
        return handleManifest(req, res, name, ref);
      case 'blobs':
        return handleBlob(req, res, name, ref);
      case 'blobs/uploads':
        if (ref) return handleUpload(req, res, name, ref, url.searchParams);
        if (method !== 'POST') throw new HttpError('UNSUPPORTED', `method ${method} not allowed`, 405);
        return handleUploadStart(req, res, name, url.searchParams);
      case 'referrers':
        if (method !== 'GET' && method !== 'HEAD') throw new HttpError('UNSUPPORTED', `method ${method} not allowed`, 405);
        return handleReferrers(res, name, ref, url.searchParams, head);
      case 'tags': {
        if (method !== 'GET') throw new HttpError('UNSUPPORTED', `method ${method} not allowed`, 405);
        if (!repos.exists(name)) throw new HttpError('NAME_UNKNOWN', `repository ${name} is not known to this registry`, 404, {}, { name });
        sendJson(res, 200, { name, tags: paginate(res, repos.tags(name), url.searchParams, `/v2/${name}/tags/list`) });
        return;
      }
    }
  }

  function toHttpError(e: unknown): HttpError {
    if (e instanceof HttpError) return e;
    if (e instanceof BerthError && e.code === 'corrupt') return new HttpError('DIGEST_INVALID', e.message);
    if (e instanceof BerthError && e.code === 'not_found') return new HttpError('BLOB_UNKNOWN', e.message);
    return new HttpError('UNKNOWN', e instanceof Error ? e.message : String(e));
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    res.setHeader('docker-distribution-api-version', 'registry/2.0');
    try {
      await authenticate(req);
      await route(req, res);
    } catch (e) {
      if (res.headersSent) {
        res.destroy(); // mid-body failure: the client sees a broken transfer, never a wrong one
        return;
      }
      const he = toHttpError(e);
      const body = Buffer.from(JSON.stringify({ errors: [{ code: he.code, message: he.message, detail: he.detail ?? null }] }));
      res.writeHead(he.status, { ...he.headers, 'content-type': 'application/json', 'content-length': String(body.length) });
      res.end(req.method === 'HEAD' ? undefined : body);
      // An unread request body (an upload we refused) must not poison the connection.
      if (!req.complete) req.resume();
    }
  }

  const listener = (req: http.IncomingMessage, res: http.ServerResponse) => void handle(req, res);
  const server = opts.tls ? https.createServer({ cert: pem(opts.tls.cert), key: pem(opts.tls.key) }, listener) : http.createServer(listener);
  server.requestTimeout = 0; // uploads of large layers take as long as they take
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listenPort, listenHost, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const shownHost = listenHost === '0.0.0.0' || listenHost === '::' ? '127.0.0.1' : listenHost;
  const hostPort = shownHost.includes(':') ? `[${shownHost}]:${port}` : `${shownHost}:${port}`;
  return {
    url: `${opts.tls ? 'https' : 'http'}://${hostPort}`,
    host: hostPort,
    port,
    close: async () => {
      clearInterval(reaper);
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
      for (const s of uploads.values()) s.writer.abort();
      uploads.clear();
    },
  };
}
