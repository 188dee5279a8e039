/**
 * `push`: a local image to a registry.
 *
 * Local layers are stored uncompressed; a registry gets gzip. A layer never pushed before is
 * compressed while it uploads (one streamed PATCH, then the PUT naming the digest the content store
 * computed), by Berth's block-parallel gzip (layer/pgzip.ts: 1 MiB blocks on the thread pool,
 * Huffman-only where matches do not pay); several layers at once. The encoding is kept in the
 * content store and the layer_blobs table (diff ID -> gzip digest), so the next push of the same
 * layer, to any registry, skips compression. Known blobs the repository has are skipped (HEAD); a
 * blob the same registry holds in another repository we pulled from or pushed to is mounted
 * instead of uploaded. The manifest is Docker's v2 schema 2 when every layer is gzip (what every
 * client reads), OCI otherwise. The image's RepoDigests gain repo@digest.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { once } from 'node:events';
import { PassThrough, type Readable } from 'node:stream';
import { type Digest, shortId } from '../content/digest.js';
import type { BlobInfo } from '../content/store.js';
import { BerthError, corrupt, fromSystemError, invalidArgument, notFound } from '../errors.js';
import type { ImageRecord } from '../image/image-store.js';
import { type Descriptor, type ImageManifest, MediaTypes } from '../image/oci.js';
import { type Reference, familiarString, formatReference, parseReference, withDefaultTag } from '../image/reference.js';
import { emitEvent } from './events.js';
import { compressGzip } from '../layer/compression.js';
import { canParallelGzip, parallelGzip } from '../layer/pgzip.js';
import { writeTx } from '../metadata/db.js';
import type { RegistryClient, RegistryCredentials } from '../registry/client.js';
import type { Engine } from './engine.js';
import { imageLayers, readConfig } from './images.js';
import { type Lease, withLease } from './leases.js';
import { type ProgressSink, noProgress, throttled } from './progress.js';
import { runLimited } from './pull.js';
import { type RegistriesConfig, loadRegistriesConfig, registryClient } from './registries.js';

export interface PushOptions {
  /** Push every local tag of the repository (the reference must name no tag). */
  allTags?: boolean;
  onProgress?: ProgressSink;
  signal?: AbortSignal;
  /** Layers compressed and uploaded at once (default: number of CPUs, at least 2, at most 4). */
  concurrency?: number;
  configDir?: string;
  registries?: RegistriesConfig;
  /** Credentials to use instead of the stored ones (the API's X-Registry-Auth). */
  auth?: RegistryCredentials;
  /**
   * How new gzip encodings are made: 'parallel' (default: Berth's block-parallel gzip on the
   * thread pool, see layer/pgzip.ts), 'pigz' (`pigz -1`), 'zlib' (one stream at level 1).
   * $BERTH_PUSH_COMPRESSOR overrides the default (side-by-side benchmarks).
   */
  compressor?: 'parallel' | 'pigz' | 'zlib';
}

export interface PushedTag {
  tag: string;
  digest: Digest;
  size: number;
  /** Per layer: 'uploaded' | 'exists' | 'mounted'. */
  layers: string[];
  /** Bytes uploaded (blobs the registry already had or mounted are not counted). */
  bytes: number;
}

export interface PushReport {
  repository: string;
  pushed: PushedTag[];
}

const GZIP_TYPES: readonly string[] = [MediaTypes.OciLayerGzip, MediaTypes.DockerLayerGzip];
const UNCOMPRESSED_TYPES: readonly string[] = [MediaTypes.OciLayer, MediaTypes.DockerLayer];

/**
 * Pushes `name` (`latest` when no tag is given) to the registry its name points at.
 * @throws not_found ("An image does not exist locally with the tag"), invalid_argument,
 *   unauthenticated, permission_denied, unavailable, canceled.
 */
export async function pushImage(engine: Engine, name: string, opts: PushOptions = {}): Promise<PushReport> {
  const parsed = parseReference(name);
  if (parsed.digest) throw invalidArgument(`cannot push a digest reference ${name}`, { hint: 'push a tag; the registry computes the digest' });
  if (opts.allTags && parsed.tag !== undefined) throw invalidArgument(`tag can't be used with --all-tags/-a`);
  const repoName = `${parsed.domain}/${parsed.path}`;
  let tags: string[];
  if (opts.allTags) {
    tags = (engine.db.prepare('SELECT name FROM tags WHERE name LIKE ? ORDER BY name').all(`${repoName}:%`) as { name: string }[])
      .map((r) => r.name.slice(repoName.length + 1))
      .filter((t) => !t.includes('/'));
    if (tags.length === 0) throw notFound(`An image does not exist locally with the tag: ${familiarString(parsed)}`);
  } else {
    tags = [withDefaultTag(parsed).tag as string];
  }
  const images = tags.map((tag) => {
    const ref: Reference = { domain: parsed.domain, path: parsed.path, tag };
    const img = engine.images.tryResolve(formatReference(ref));
    if (!img) throw notFound(`An image does not exist locally with the tag: ${familiarString(ref)}`);
    return { tag, img };
  });
  const sink = throttled(opts.onProgress ?? noProgress);
  sink({ status: `The push refers to repository [${repoName}]` });
  const cfg = opts.registries ?? loadRegistriesConfig();
  const client = registryClient(parsed.domain, {
    config: cfg,
    ...(opts.configDir ? { configDir: opts.configDir } : {}),
    ...(opts.auth ? { credentials: opts.auth } : {}),
  });
  const report: PushReport = { repository: repoName, pushed: [] };
  await withLease(engine.db, async (lease) => {
    for (const { tag, img } of images) report.pushed.push(await pushOne(engine, client, parsed, tag, img, lease, sink, opts));
  });
  for (const p of report.pushed) emitEvent(engine.paths.runroot, 'image', 'push', `${repoName}:${p.tag}`, { name: `${repoName}:${p.tag}` });
  return report;
}

async function pushOne(
  engine: Engine,
  client: RegistryClient,
  ref: Reference,
  tag: string,
  img: ImageRecord,
  lease: Lease,
  sink: ProgressSink,
  opts: PushOptions,
): Promise<PushedTag> {
  const repo = ref.path;
  const layers = imageLayers(engine, img);
  const cfgBuf = engine.blobs.readBuffer(img.id);
  const sig = opts.signal ? { signal: opts.signal } : {};
  const hints = mountHints(engine, ref);
  for (const l of layers) sink({ id: shortId(l.diffId), status: 'Preparing' });
  const results: string[] = new Array<string>(layers.length);
  const pushedDescs: Descriptor[] = new Array<Descriptor>(layers.length);
  let bytes = 0;
  const jobs = layers.map((l, i) => async () => {
    const id = shortId(l.diffId);
    const known = knownBlob(engine, l.diffId, l.blob, lease);
    if (!known) {
      // Never compressed: compress and upload at once (the digest is known only at the end).
      const { desc, uploaded } = await compressWhileUploading(engine, client, repo, l.diffId, l.blob, lease, opts, (cur, tot) =>
        sink({ id, status: 'Pushing', progressDetail: { current: cur, total: tot } }),
      );
      pushedDescs[i] = desc;
      if (uploaded) {
        results[i] = 'uploaded';
        bytes += desc.size;
        sink({ id, status: 'Pushed' });
        return;
      }
    }
    const desc = known ?? pushedDescs[i];
    pushedDescs[i] = desc;
    const from = hints.get(l.diffId);
    const how = await client.pushBlob(repo, desc, () => engine.blobs.reader(desc.digest), {
      ...sig,
      ...(from ? { mountFrom: from } : {}),
      onProgress: (cur, tot) => sink({ id, status: 'Pushing', progressDetail: { current: cur, total: tot } }),
    });
    results[i] = how;
    if (how === 'uploaded') bytes += desc.size;
    sink({ id, status: how === 'exists' ? 'Layer already exists' : how === 'mounted' ? `Mounted from ${from}` : 'Pushed' });
  });
  for (const l of layers.slice(concurrency(opts))) sink({ id: shortId(l.diffId), status: 'Waiting' });
  await runLimited(jobs, concurrency(opts));
  const cfgDesc = { digest: img.id, size: cfgBuf.length };
  await client.pushBlob(repo, cfgDesc, () => engine.blobs.reader(img.id), sig);

  const allGzip = pushedDescs.every((d) => GZIP_TYPES.includes(d.mediaType));
  const manifest: ImageManifest = allGzip
    ? {
        schemaVersion: 2,
        mediaType: MediaTypes.DockerManifest,
        config: { mediaType: MediaTypes.DockerConfig, ...cfgDesc },
        layers: pushedDescs.map((d) => ({ mediaType: MediaTypes.DockerLayerGzip, digest: d.digest, size: d.size })),
      }
    : {
        schemaVersion: 2,
        mediaType: MediaTypes.OciManifest,
        config: { mediaType: MediaTypes.OciConfig, ...cfgDesc },
        layers: pushedDescs.map((d) => ({ mediaType: ociType(d.mediaType), digest: d.digest, size: d.size })),
      };
  const buf = Buffer.from(JSON.stringify(manifest, null, 3));
  const mediaType = manifest.mediaType as string;
  const digest = await client.putManifest(repo, tag, buf, mediaType, sig);
  engine.images.addRepoDigest(img.id, `${ref.domain}/${ref.path}`, digest);
  sink({ status: `${tag}: digest: ${digest} size: ${buf.length}` });
  sink({ status: '', aux: { Tag: tag, Digest: digest, Size: buf.length } });
  return { tag, digest, size: buf.length, layers: results, bytes };
}

function ociType(mt: string): string {
  if (GZIP_TYPES.includes(mt)) return MediaTypes.OciLayerGzip;
  if (mt === MediaTypes.OciLayerZstd) return mt;
  return MediaTypes.OciLayer;
}

function concurrency(opts: PushOptions): number {
  return Math.max(1, opts.concurrency ?? Math.min(4, Math.max(2, os.availableParallelism())));
}

/**
 * For each diff ID, a repository of the same registry that holds it (an image we pulled from or
 * pushed to it has that diff): a candidate for a cross-repository mount.
 */
function mountHints(engine: Engine, target: Reference): Map<Digest, string> {
  const out = new Map<Digest, string>();
  const prefix = `${target.domain}/`;
  const rows = engine.db.prepare('SELECT DISTINCT repo, image_id FROM repo_digests WHERE repo LIKE ?').all(`${prefix}%`) as { repo: string; image_id: Digest }[];
  for (const r of rows) {
    const path = r.repo.slice(prefix.length);
    if (path === target.path || path.includes(':')) continue;
    const img = engine.images.get(r.image_id);
    if (!img) continue;
    try {
      for (const d of readConfig(engine, img).rootfs.diff_ids) if (!out.has(d)) out.set(d, path);
    } catch {
      /* a missing config is system check's business */
    }
  }
  return out;
}

/**
 * The blob to push for a layer when it exists already: the stored one when it is compressed, else a
 * cached gzip encoding of the same diff; undefined when the layer must be compressed first.
 */
function knownBlob(engine: Engine, diffId: Digest, stored: Descriptor, lease: Lease): Descriptor | undefined {
  if (!UNCOMPRESSED_TYPES.includes(stored.mediaType) && engine.blobs.has(stored.digest)) return stored;
  const cached = (
    engine.db.prepare('SELECT digest, media_type, size FROM layer_blobs WHERE diff_id = ? ORDER BY media_type').all(diffId) as {
      digest: Digest;
      media_type: string;
      size: number;
    }[]
  ).find((r) => GZIP_TYPES.includes(r.media_type) && engine.blobs.has(r.digest));
  if (!cached) return undefined;
  lease.add('blob', cached.digest);
  return { mediaType: MediaTypes.OciLayerGzip, digest: cached.digest, size: cached.size };
}

/** Errors after which uploading the finished blob again cannot help. */
const FINAL_CODES: readonly string[] = ['unauthenticated', 'permission_denied', 'not_found', 'canceled'];

/**
 * Compresses an uncompressed layer into a new gzip blob (recorded in layer_blobs for the next push,
 * to any registry) while the same bytes stream to the registry in one PATCH; the PUT that closes
 * the upload names the digest the content store computed. One read of the layer, one hash, and
 * compression overlaps the upload instead of preceding it. When the streamed upload fails (a
 * network error, a registry refusing streamed chunks), the finished blob is pushed again with
 * retries: `uploaded` is false and the caller does that.
 */
async function compressWhileUploading(
  engine: Engine,
  client: RegistryClient,
  repo: string,
  diffId: Digest,
  stored: Descriptor,
  lease: Lease,
  opts: PushOptions,
  onProgress: (current: number, total: number) => void,
): Promise<{ desc: Descriptor; uploaded: boolean }> {
  if (!engine.blobs.has(stored.digest))
    throw corrupt(`the blob ${stored.digest} of layer ${diffId} is missing from the store`, { hint: 'run berth system check' });
  const src = gzipSource(engine, stored.digest, opts);
  const w = engine.blobs.writer();
  const up = new PassThrough({ highWaterMark: 1 << 20 });
  let digest: (d: Digest) => void = () => undefined;
  let failed: (e: unknown) => void = () => undefined;
  const finished = new Promise<Digest>((res, rej) => {
    digest = res;
    failed = rej;
  });
  finished.catch(() => undefined);
  let uploadError: unknown;
  const upload = client.pushBlobStream(repo, up, () => finished, opts.signal ? { signal: opts.signal } : {}).then(
    () => true,
    (e: unknown) => {
      uploadError = e;
      up.destroy();
      return false;
    },
  );
  let info: BlobInfo;
  let shownAt = 0;
  try {
    for await (const c of src.out as AsyncIterable<Buffer>) {
      w.write(c);
      if (uploadError === undefined && !up.write(c)) await Promise.race([once(up, 'drain').catch(() => undefined), upload]);
      if (uploadError instanceof BerthError && FINAL_CODES.includes(uploadError.code)) throw uploadError;
      const now = Date.now();
      if (now - shownAt >= 100) {
        shownAt = now;
        onProgress(Math.min(src.consumed(), stored.size), stored.size);
      }
    }
    await src.exited;
    up.end();
    info = w.commitSync();
  } catch (e) {
    src.stop();
    w.abort();
    failed(e);
    up.destroy();
    await upload;
    throw e;
  }
  writeTx(engine.db, () =>
    engine.db
      .prepare('INSERT OR IGNORE INTO layer_blobs (diff_id, digest, media_type, size) VALUES (?, ?, ?, ?)')
      .run(diffId, info.digest, MediaTypes.OciLayerGzip, info.size),
  );
  lease.add('blob', info.digest);
  digest(info.digest);
  const uploaded = await upload;
  if (uploaded) onProgress(stored.size, stored.size);
  else if (uploadError instanceof BerthError && FINAL_CODES.includes(uploadError.code)) throw uploadError;
  return { desc: { mediaType: MediaTypes.OciLayerGzip, digest: info.digest, size: info.size }, uploaded };
}

let pigzAvailable: boolean | undefined;
function hasPigz(): boolean {
  pigzAvailable ??= spawnSync('pigz', ['--version'], { stdio: 'ignore' }).status === 0;
  return pigzAvailable;
}

interface GzipSource {
  out: Readable;
  /** Resolves when the compressor finished successfully. */
  exited: Promise<void>;
  /** Uncompressed bytes read so far (for progress). */
  consumed(): number;
  stop(): void;
}

function compressorFor(opts: PushOptions): 'parallel' | 'pigz' | 'zlib' {
  const env = process.env.BERTH_PUSH_COMPRESSOR;
  let c = opts.compressor ?? (env === 'pigz' || env === 'zlib' || env === 'parallel' ? env : 'parallel');
  if (c === 'parallel' && !canParallelGzip()) c = 'pigz';
  if (c === 'pigz' && !hasPigz()) c = 'zlib';
  return c;
}

/** gzip of a stored blob as a stream, made by the compressor `opts` choose. */
function gzipSource(engine: Engine, src: Digest, opts: PushOptions): GzipSource {
  const file = engine.blobs.blobPath(src);
  const how = compressorFor(opts);
  if (how === 'pigz') {
    const fd = fs.openSync(file, 'r');
    const child = spawn('pigz', ['-1', '-n', '-c'], { stdio: [fd, 'pipe', 'pipe'] });
    fs.closeSync(fd);
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (s: string) => (stderr = (stderr + s).slice(-2000)));
    const exited = new Promise<void>((resolve, reject) => {
      child.on('error', (e) => reject(fromSystemError(e, 'running pigz')));
      child.on('close', (code, signal) =>
        code === 0 ? resolve() : reject(new BerthError('internal', `pigz failed compressing ${src} (${code ?? signal}): ${stderr.trim()}`)),
      );
    });
    exited.catch(() => undefined);
    const stop = () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    };
    opts.signal?.addEventListener('abort', stop, { once: true });
    // pigz reads the file itself: its offset in the shared file description is the progress.
    const consumed = () => {
      try {
        return Number(/^pos:\s*(\d+)/m.exec(fs.readFileSync(`/proc/${child.pid}/fdinfo/0`, 'utf8'))?.[1] ?? 0);
      } catch {
        return 0;
      }
    };
    return { out: child.stdout as Readable, exited, consumed, stop };
  }
  let n = 0;
  const input = engine.blobs.reader(src);
  if (how === 'parallel') {
    const counted = async function* () {
      for await (const c of input as AsyncIterable<Buffer>) {
        n += c.length;
        yield c;
      }
    };
    return { out: parallelGzip(counted()), exited: Promise.resolve(), consumed: () => n, stop: () => input.destroy() };
  }
  input.on('data', (c: Buffer) => {
    n += c.length;
  });
  return { out: compressGzip(input, 1), exited: Promise.resolve(), consumed: () => n, stop: () => input.destroy() };
}
