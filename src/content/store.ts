/**
 * Content-addressed blob store shared by images, builds and the registry.
 *
 * Layout: <root>/blobs/sha256/<hex> for committed blobs, <root>/ingest/<random> for writes in progress.
 * A blob becomes visible only after its bytes were hashed while streaming, the size and digest
 * verified, the file fsynced and renamed into place: a crash leaves at most an ingest file,
 * which `system check --repair` (or a later GC) removes.
 */
import { createHash, randomBytes, type Hash } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BerthError, corrupt, fromSystemError, notFound } from '../errors.js';
import { type Digest, digestAlgorithm, digestHex, isDigest } from './digest.js';

export interface BlobInfo {
  digest: Digest;
  size: number;
}

/** Reads committed blobs. Helpers that only read take this role, not the whole store. */
export interface BlobProvider {
  has(digest: Digest): boolean;
  info(digest: Digest): BlobInfo;
  /** Path of the committed blob (for zero-copy consumers such as sendfile or GNU tar). */
  blobPath(digest: Digest): string;
  reader(digest: Digest, opts?: { start?: number; end?: number }): Readable;
  readBuffer(digest: Digest): Buffer;
}

export interface IngestOptions {
  /** When given, the commit fails with `corrupt` unless the bytes hash to this digest. */
  expected?: Digest;
  /** When given, the commit fails with `corrupt` unless exactly this many bytes arrived. */
  expectedSize?: number;
  signal?: AbortSignal;
}

/** An open write. `commit` verifies and publishes; `abort` discards. */
export interface BlobWriter {
  readonly path: string;
  write(chunk: Buffer): void;
  /** Bytes written so far. */
  readonly size: number;
  commit(): Promise<BlobInfo>;
  /** Same as commit, synchronously (all store I/O is local). */
  commitSync(): BlobInfo;
  abort(): void;
}

export interface BlobIngester {
  writer(opts?: IngestOptions): BlobWriter;
  /** Streams `src` into the store. Resolves with the committed blob's info. */
  ingest(src: Readable | AsyncIterable<Buffer>, opts?: IngestOptions): Promise<BlobInfo>;
  putBuffer(data: Buffer, opts?: IngestOptions): BlobInfo;
}

export interface BlobStore extends BlobProvider, BlobIngester {
  delete(digest: Digest): void;
  list(): Iterable<BlobInfo>;
  /** Ingest files older than `olderThanMs` (leftovers of crashed writes). */
  staleIngests(olderThanMs: number): string[];
  readonly root: string;
}

const HASH_ALGS: Record<string, string> = { sha256: 'sha256', sha512: 'sha512' };

class FileBlobWriter implements BlobWriter {
  readonly path: string;
  private fd: number;
  private hash: Hash;
  private verifyHash: Hash | undefined;
  size = 0;
  private done = false;
  constructor(
    private readonly store: ContentStore,
    private readonly opts: IngestOptions,
  ) {
    this.path = path.join(store.root, 'ingest', `${Date.now()}-${randomBytes(8).toString('hex')}`);
    try {
      this.fd = fs.openSync(this.path, 'wx', 0o644);
    } catch (e) {
      throw fromSystemError(e, 'creating a blob');
    }
    this.hash = createHash('sha256');
    if (opts.expected && digestAlgorithm(opts.expected) !== 'sha256') {
      const alg = HASH_ALGS[digestAlgorithm(opts.expected)];
      if (!alg) throw corrupt(`unsupported digest algorithm in ${opts.expected}`);
      this.verifyHash = createHash(alg);
    }
  }
  write(chunk: Buffer): void {
    if (this.done) throw new BerthError('internal', 'write after commit/abort');
    let off = 0;
    try {
      while (off < chunk.length) off += fs.writeSync(this.fd, chunk, off, chunk.length - off);
    } catch (e) {
      this.abort();
      throw fromSystemError(e, 'writing a blob');
    }
    this.hash.update(chunk);
    this.verifyHash?.update(chunk);
    this.size += chunk.length;
  }
  async commit(): Promise<BlobInfo> {
    return this.commitSync();
  }
  commitSync(): BlobInfo {
    if (this.done) throw new BerthError('internal', 'commit after commit/abort');
    const digest = `sha256:${this.hash.digest('hex')}` as Digest;
    const { expected, expectedSize } = this.opts;
    if (expectedSize !== undefined && expectedSize !== this.size) {
      this.abort();
      throw corrupt(`size mismatch: expected ${expectedSize} bytes, got ${this.size}${expected ? ` for ${expected}` : ''}`);
    }
    if (expected) {
      const actual = this.verifyHash ? `${digestAlgorithm(expected)}:${this.verifyHash.digest('hex')}` : digest;
      if (actual !== expected) {
        this.abort();
        throw corrupt(`digest mismatch: expected ${expected}, got ${actual}`);
      }
    }
    const target = this.store.blobPath(digest);
    try {
      fs.fsyncSync(this.fd);
      fs.closeSync(this.fd);
      this.done = true;
      fs.renameSync(this.path, target);
    } catch (e) {
      this.abort();
      throw fromSystemError(e, `committing blob ${digest}`);
    }
    return { digest, size: this.size };
  }
  abort(): void {
    if (!this.done) {
      this.done = true;
      try {
        fs.closeSync(this.fd);
      } catch {
        /* already closed */
      }
    }
    fs.rmSync(this.path, { force: true });
  }
}

export class ContentStore implements BlobStore {
  readonly root: string;
  constructor(root: string) {
    this.root = root;
    fs.mkdirSync(path.join(root, 'blobs', 'sha256'), { recursive: true });
    fs.mkdirSync(path.join(root, 'ingest'), { recursive: true });
  }

  blobPath(digest: Digest): string {
    if (!isDigest(digest)) throw corrupt(`invalid digest "${digest}"`);
    return path.join(this.root, 'blobs', digestAlgorithm(digest), digestHex(digest));
  }

  has(digest: Digest): boolean {
    return fs.existsSync(this.blobPath(digest));
  }

  info(digest: Digest): BlobInfo {
    try {
      return { digest, size: fs.statSync(this.blobPath(digest)).size };
    } catch {
      throw notFound(`blob ${digest} not found in the content store`);
    }
  }

  reader(digest: Digest, opts: { start?: number; end?: number } = {}): Readable {
    const p = this.blobPath(digest);
    if (!fs.existsSync(p)) throw notFound(`blob ${digest} not found in the content store`);
    return fs.createReadStream(p, { highWaterMark: 1 << 20, ...opts });
  }

  readBuffer(digest: Digest): Buffer {
    try {
      return fs.readFileSync(this.blobPath(digest));
    } catch {
      throw notFound(`blob ${digest} not found in the content store`);
    }
  }

  writer(opts: IngestOptions = {}): BlobWriter {
    return new FileBlobWriter(this, opts);
  }

  async ingest(src: Readable | AsyncIterable<Buffer>, opts: IngestOptions = {}): Promise<BlobInfo> {
    const w = this.writer(opts);
    try {
      await pipeline(
        src,
        new Writable({
          write(chunk: Buffer, _enc, cb) {
            try {
              w.write(chunk);
              cb();
            } catch (e) {
              cb(e as Error);
            }
          },
        }),
        opts.signal ? { signal: opts.signal } : {},
      );
    } catch (e) {
      w.abort();
      throw fromSystemError(e, 'ingesting a blob');
    }
    return w.commit();
  }

  putBuffer(data: Buffer, opts: IngestOptions = {}): BlobInfo {
    const w = this.writer(opts);
    w.write(data);
    return w.commitSync();
  }

  delete(digest: Digest): void {
    fs.rmSync(this.blobPath(digest), { force: true });
  }

  *list(): Iterable<BlobInfo> {
    const dir = path.join(this.root, 'blobs', 'sha256');
    for (const name of fs.readdirSync(dir)) {
      const digest = `sha256:${name}` as Digest;
      if (!isDigest(digest)) continue;
      yield { digest, size: fs.statSync(path.join(dir, name)).size };
    }
  }

  staleIngests(olderThanMs: number): string[] {
    const dir = path.join(this.root, 'ingest');
    const now = Date.now();
    return fs
      .readdirSync(dir)
      .map((n) => path.join(dir, n))
      .filter((p) => {
        try {
          return now - fs.statSync(p).mtimeMs > olderThanMs;
        } catch {
          return false;
        }
      });
  }
}

/** Verifies a committed blob by rehashing it. */
export async function verifyBlob(store: BlobProvider, digest: Digest): Promise<boolean> {
  const alg = HASH_ALGS[digestAlgorithm(digest)];
  if (!alg) return false;
  const h = createHash(alg);
  await pipeline(store.reader(digest), new Writable({ write(c, _e, cb) { h.update(c); cb(); } }));
  return `${digestAlgorithm(digest)}:${h.digest('hex')}` === digest;
}

export async function removeStaleIngests(store: BlobStore, olderThanMs: number): Promise<number> {
  const stale = store.staleIngests(olderThanMs);
  for (const p of stale) await fsp.rm(p, { force: true });
  return stale.length;
}
