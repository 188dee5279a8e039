/**
 * `pull`: an image from a registry into the store.
 *
 * Manifest (an index resolves to the wanted platform) -> config -> layers, several at a time. Each
 * layer is unpacked WHILE it downloads: the download goes into a content-store writer, and the
 * unpacker tails the writer's file as it grows, so memory stays bounded whatever the speeds.
 * A layer directory is named by its chain ID, which the config's diff IDs give in advance, so each
 * layer unpacks on its own into a temporary directory and is published when both its blob (digest
 * and size) and its content (diff ID) verified. The registry's manifest bytes are kept as they are,
 * so RepoDigests name what the registry serves. A lease keeps GC away from everything in flight; on
 * failure what this pull wrote is collected again, so nothing partial stays visible.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Readable, Transform, pipeline } from 'node:stream';
import { type Digest, shortId } from '../content/digest.js';
import type { BlobInfo, BlobWriter, IngestOptions } from '../content/store.js';
import { BerthError, corrupt, failedPrecondition, invalidArgument } from '../errors.js';
import type { ImageRecord } from '../image/image-store.js';
import {
  type Descriptor,
  type ImageConfig,
  type ImageManifest,
  ManifestAcceptTypes,
  formatPlatform,
  hostPlatform,
  isLayerMediaType,
  parseImageConfig,
  parseManifest,
  parsePlatform,
  selectPlatform,
} from '../image/oci.js';
import { type Reference, familiarString, formatReference, parseReference, withDefaultTag } from '../image/reference.js';
import { emitEvent } from './events.js';
import { applyLayer } from '../layer/apply.js';
import { writeTx } from '../metadata/db.js';
import type { RegistryClient, RegistryCredentials } from '../registry/client.js';
import { chainIds } from '../snapshot/layer-store.js';
import type { Engine } from './engine.js';
import { gcLayersAndBlobs } from './images.js';
import { type Lease, withLease } from './leases.js';
import { type ProgressSink, noProgress, throttled } from './progress.js';
import { type RegistriesConfig, loadRegistriesConfig, pullHosts, registryClient } from './registries.js';

export interface PullOptions {
  /** "os/arch[/variant]"; the host's platform by default. */
  platform?: string;
  /** Every tag of the repository (the reference must name no tag or digest). */
  allTags?: boolean;
  onProgress?: ProgressSink;
  signal?: AbortSignal;
  /** Layers downloaded at once (default 3). */
  concurrency?: number;
  /** Docker config directory for credentials (default $DOCKER_CONFIG or ~/.docker). */
  configDir?: string;
  registries?: RegistriesConfig;
  /** Credentials to use instead of the stored ones (the API's X-Registry-Auth). */
  auth?: RegistryCredentials;
}

export interface PulledImage {
  image: ImageRecord;
  /** Fully qualified name pulled: docker.io/library/busybox:latest or repo@digest. */
  reference: string;
  /** Digest of the manifest (or index) the reference resolved to. */
  digest: Digest;
  /** Nothing was downloaded and the name already pointed at this image. */
  upToDate: boolean;
  /** Layer bytes downloaded. */
  bytes: number;
}

export interface PullReport {
  images: PulledImage[];
}

/**
 * Pulls `name` (docker's reference grammar; `latest` when no tag is given). Emits docker-shaped
 * progress events and, at the end, `Digest: ...` and `Status: ...` lines.
 * @throws invalid_argument (bad reference, --all-tags with a tag), not_found (no such image, or no
 *   manifest for the platform: the message lists the available ones), unauthenticated, corrupt
 *   (the registry served content that does not verify: nothing is kept), unavailable, canceled.
 */
export async function pullImage(engine: Engine, name: string, opts: PullOptions = {}): Promise<PullReport> {
  const parsed = parseReference(name);
  if (opts.allTags && (parsed.tag !== undefined || parsed.digest !== undefined))
    throw invalidArgument('tag can\'t be used with --all-tags/-a', { hint: `pull ${familiarString({ domain: parsed.domain, path: parsed.path })} --all-tags` });
  const sink = throttled(opts.onProgress ?? noProgress);
  const cfg = opts.registries ?? loadRegistriesConfig();
  const clientOpts = { config: cfg, ...(opts.configDir ? { configDir: opts.configDir } : {}) };
  const hosts = pullHosts(parsed.domain, cfg);
  // Explicit credentials are for the registry named, not for its mirrors.
  const clients = hosts.map((h) => registryClient(h, h === parsed.domain && opts.auth ? { ...clientOpts, credentials: opts.auth } : clientOpts));
  const refs: Reference[] = [];
  if (opts.allTags) {
    const tags = await firstAnswer(clients, (c) => c.listTags(parsed.path, withSignal(opts.signal)));
    if (tags.length === 0) throw new BerthError('not_found', `repository ${familiarString(parsed)} has no tags`);
    for (const t of tags.sort()) refs.push({ domain: parsed.domain, path: parsed.path, tag: t });
  } else {
    refs.push(withDefaultTag(parsed));
  }
  const report: PullReport = { images: [] };
  for (const ref of refs) report.images.push(await pullOne(engine, clients, ref, opts, sink));
  const shown = opts.allTags ? familiarString({ domain: parsed.domain, path: parsed.path }) : familiarString(refs[0] as Reference);
  const upToDate = report.images.every((i) => i.upToDate);
  sink({ status: upToDate ? `Status: Image is up to date for ${shown}` : `Status: Downloaded newer image for ${shown}` });
  for (const ref of refs) emitEvent(engine.paths.runroot, 'image', 'pull', formatReference(ref), { name: formatReference(ref) });
  return report;
}

export type PullPolicy = 'missing' | 'always' | 'never';

export function parsePullPolicy(s: string | undefined): PullPolicy {
  const v = (s ?? 'missing').toLowerCase();
  if (v === 'missing' || v === 'always' || v === 'never') return v;
  throw invalidArgument(`invalid pull option: '${s}': must be one of "always", "missing" or "never"`);
}

/**
 * What `run` and `create` do before creating a container: with policy `missing`, pulls the image
 * when no local image matches `name` (calling `onMissing` first, for docker's "Unable to find image
 * ... locally"); with `always`, pulls every time; with `never`, does nothing (create then fails
 * with not_found). Returns the pull report when a pull happened.
 */
export async function ensureImage(
  engine: Engine,
  name: string,
  opts: PullOptions & { policy?: PullPolicy; onMissing?: (familiar: string) => void } = {},
): Promise<PullReport | undefined> {
  const policy = opts.policy ?? 'missing';
  if (policy === 'never') return undefined;
  if (policy === 'missing' && engine.images.tryResolve(name)) return undefined;
  const ref = parseReference(name);
  if (policy === 'missing') opts.onMissing?.(familiarString(withDefaultTag(ref)));
  return pullImage(engine, name, opts);
}

const withSignal = (signal: AbortSignal | undefined) => (signal ? { signal } : {});

/** Runs `fn` against each client (mirrors first) until one answers; the last failure is thrown. */
async function firstAnswer<T>(clients: RegistryClient[], fn: (c: RegistryClient) => Promise<T>): Promise<T> {
  let last: unknown;
  for (const [i, c] of clients.entries()) {
    try {
      return await fn(c);
    } catch (e) {
      last = e;
      if (i === clients.length - 1 || (e instanceof BerthError && e.code === 'canceled')) throw e;
    }
  }
  throw last;
}

async function pullOne(engine: Engine, clients: RegistryClient[], ref: Reference, opts: PullOptions, sink: ProgressSink): Promise<PulledImage> {
  const repo = ref.path;
  const refStr = ref.digest ?? (ref.tag as string);
  sink({ id: refStr, status: `Pulling from ${repo}` });
  // The first host (mirror or registry) that has the manifest serves the whole image.
  let client: RegistryClient | undefined;
  const top = await firstAnswer(clients, async (c) => {
    const m = await c.getManifest(repo, refStr, ManifestAcceptTypes, withSignal(opts.signal));
    client = c;
    return m;
  });
  if (!client) throw new BerthError('internal', 'no registry client answered');
  const c: RegistryClient = client;
  let manifestBuf = top.buf;
  let manifestDigest = top.digest;
  let doc = parseManifest(top.buf, top.mediaType);
  const fromIndex = doc.kind === 'index';
  if (doc.kind === 'index') {
    const want = opts.platform ? parsePlatform(opts.platform) : hostPlatform();
    let desc: Descriptor;
    try {
      desc = selectPlatform(doc.index, want);
    } catch (e) {
      // Name the image (and so its registry): the index alone does not say which pull failed.
      if (e instanceof BerthError) throw new BerthError(e.code, `${familiarString(ref)}: ${e.message}`, { cause: e, ...(e.hint ? { hint: e.hint } : {}) });
      throw e;
    }
    const m = await c.getManifest(repo, desc.digest, ManifestAcceptTypes, withSignal(opts.signal));
    doc = parseManifest(m.buf, m.mediaType);
    if (doc.kind !== 'manifest') throw corrupt(`the index of ${familiarString(ref)} names another index for ${formatPlatform(want)}`);
    manifestBuf = m.buf;
    manifestDigest = m.digest;
  }
  const manifest: ImageManifest = doc.manifest;
  for (const l of manifest.layers)
    if (!isLayerMediaType(l.mediaType))
      throw new BerthError('failed_precondition', `${familiarString(ref)} is not a container image (layer media type ${l.mediaType})`);

  const cfgDesc = manifest.config;
  const cfgBuf = engine.blobs.has(cfgDesc.digest)
    ? engine.blobs.readBuffer(cfgDesc.digest)
    : await c.getBlobBuffer(repo, cfgDesc, withSignal(opts.signal));
  let config: ImageConfig;
  try {
    config = parseImageConfig(cfgBuf);
  } catch (e) {
    if (!(e instanceof BerthError)) throw e;
    throw new BerthError(e.code, `the image config of ${familiarString(ref)} (${cfgDesc.digest}) from registry ${c.host}: ${e.message}`, { cause: e });
  }
  if (config.rootfs.diff_ids.length !== manifest.layers.length)
    throw corrupt(`image ${familiarString(ref)}: its manifest has ${manifest.layers.length} layers but its config ${config.rootfs.diff_ids.length} diff ids`);
  if (opts.platform && !fromIndex) {
    const want = parsePlatform(opts.platform);
    if (config.os !== want.os || config.architecture !== want.architecture)
      throw failedPrecondition(
        `image with reference ${familiarString(ref)} was found but its platform (${formatPlatform({ os: config.os, architecture: config.architecture, ...(config.variant ? { variant: config.variant } : {}) })}) does not match the specified platform (${formatPlatform(want)})`,
      );
  }
  const imageId = cfgDesc.digest;
  const repoName = `${ref.domain}/${ref.path}`;
  const tagName = ref.tag !== undefined ? formatReference({ domain: ref.domain, path: ref.path, tag: ref.tag }) : undefined;
  const before = tagName
    ? (engine.db.prepare('SELECT image_id FROM tags WHERE name = ?').get(tagName) as { image_id: string } | undefined)?.image_id
    : (engine.db.prepare('SELECT image_id FROM repo_digests WHERE repo = ? AND digest = ?').get(repoName, top.digest) as { image_id: string } | undefined)?.image_id;

  const diffIds = config.rootfs.diff_ids as Digest[];
  const chain = chainIds(diffIds);
  let bytes = 0;
  const run = async (lease: Lease): Promise<ImageRecord> => {
    lease.add('blob', manifestDigest);
    lease.add('blob', imageId);
    for (const l of manifest.layers) lease.add('blob', l.digest);
    for (const cid of chain) lease.add('layer', cid);
    const known = engine.images.get(imageId) !== undefined;
    const jobs: { id: string; run: () => Promise<void> }[] = [];
    manifest.layers.forEach((desc, i) => {
      const haveBlob = engine.blobs.has(desc.digest);
      const haveLayer = engine.layers.has(chain[i] as Digest);
      const id = shortId(desc.digest);
      if (haveBlob && haveLayer) {
        if (!known) sink({ id, status: 'Already exists' });
        return;
      }
      sink({ id, status: 'Pulling fs layer' });
      jobs.push({
        id,
        run: async () => {
          bytes += await pullLayer(engine, c, repo, desc, {
            diffId: diffIds[i] as Digest,
            parent: i === 0 ? null : (chain[i - 1] as Digest),
            haveBlob,
            haveLayer,
            sink,
            signal: opts.signal,
          });
        },
      });
    });
    const limit = Math.max(1, opts.concurrency ?? 3);
    for (const job of jobs.slice(limit)) sink({ id: job.id, status: 'Waiting' });
    await runLimited(jobs.map((j) => j.run), limit);

    // Everything verified: record the image in one transaction.
    engine.blobs.putBuffer(manifestBuf, { expected: manifestDigest });
    if (!engine.blobs.has(imageId)) engine.blobs.putBuffer(cfgBuf, { expected: imageId });
    const created = config.created ? Date.parse(config.created) : Date.now();
    const size = chain.reduce((a, cid) => a + (engine.layers.get(cid)?.size ?? 0), 0);
    return writeTx(engine.db, () => {
      for (const [i, l] of manifest.layers.entries())
        engine.db
          .prepare('INSERT OR IGNORE INTO layer_blobs (diff_id, digest, media_type, size) VALUES (?, ?, ?, ?)')
          .run(diffIds[i], l.digest, l.mediaType, l.size);
      const rec = engine.images.create({
        id: imageId,
        manifestDigest,
        created: Number.isNaN(created) ? Date.now() : created,
        size,
        topLayer: chain.at(-1) ?? null,
        labels: config.config?.Labels ?? {},
      });
      if (tagName) engine.images.tag(rec.id, tagName);
      engine.images.addRepoDigest(rec.id, repoName, top.digest);
      return engine.images.get(rec.id) as ImageRecord;
    });
  };
  let image: ImageRecord;
  try {
    image = await withLease(engine.db, run);
  } catch (e) {
    // The lease is released: collect whatever this pull committed that no image references.
    try {
      gcLayersAndBlobs(engine);
    } catch {
      /* the pull's own error matters more; system check --repair collects later */
    }
    throw e;
  }
  sink({ status: `Digest: ${top.digest}` });
  return {
    image,
    reference: ref.digest ? `${repoName}@${ref.digest}` : (tagName as string),
    digest: top.digest,
    upToDate: bytes === 0 && before === imageId,
    bytes,
  };
}

/** Runs the jobs, at most `limit` at once; after the first failure no new job starts, and it is thrown once the running ones end. */
export async function runLimited(jobs: (() => Promise<void>)[], limit: number): Promise<void> {
  let next = 0;
  let failed: unknown;
  const worker = async () => {
    while (next < jobs.length && failed === undefined) {
      const job = jobs[next++] as () => Promise<void>;
      try {
        await job();
      } catch (e) {
        failed ??= e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, jobs.length) }, worker));
  if (failed !== undefined) throw failed;
}

interface LayerJob {
  diffId: Digest;
  parent: Digest | null;
  haveBlob: boolean;
  haveLayer: boolean;
  sink: ProgressSink;
  signal: AbortSignal | undefined;
}

/**
 * Downloads and/or unpacks one layer. Returns the bytes downloaded. The layer is published only
 * when its blob and its diff ID both verified.
 */
async function pullLayer(engine: Engine, c: RegistryClient, repo: string, desc: Descriptor, j: LayerJob): Promise<number> {
  const id = shortId(desc.digest);
  const total = desc.size;
  const abort = new AbortController();
  const onOuterAbort = () => abort.abort(j.signal?.reason);
  j.signal?.addEventListener('abort', onOuterAbort, { once: true });
  const tail = new TailReader();
  let downloaded = false;
  const download = async (): Promise<BlobInfo> => {
    if (j.haveBlob) return engine.blobs.info(desc.digest);
    const store = {
      has: (d: Digest) => engine.blobs.has(d),
      writer: (o?: IngestOptions): BlobWriter => tail.attach(engine.blobs.writer(o)),
    };
    const info = await c.pullBlob(repo, desc, store, {
      signal: abort.signal,
      onProgress: (cur, tot) => j.sink({ id, status: 'Downloading', progressDetail: { current: cur, total: tot } }),
    });
    downloaded = true;
    j.sink({ id, status: 'Verifying Checksum' });
    j.sink({ id, status: 'Download complete' });
    return info;
  };
  try {
    if (j.haveLayer) {
      await download();
      j.sink({ id, status: 'Pull complete' });
      return total;
    }
    // The unpacker reads the blob file: the committed one, or the one being written.
    let consumed = 0;
    const counter = new Transform({
      transform(b: Buffer, _enc, cb) {
        consumed += b.length;
        if (downloaded || j.haveBlob) j.sink({ id, status: 'Extracting', progressDetail: { current: consumed, total } });
        cb(null, b);
      },
    });
    const src = pipeline(j.haveBlob ? engine.blobs.reader(desc.digest) : tail, counter, () => undefined);
    const tmp = engine.layers.makeTempDir();
    try {
      // Whichever side fails first explains the failure: a bad download breaks the unpack, a bad
      // tar cancels the download.
      let first: unknown;
      const applying = applyLayer(src, path.join(tmp, 'diff'), { signal: abort.signal }).catch((e: unknown) => {
        first ??= e;
        abort.abort();
        throw e;
      });
      const fetching = download().then(
        (info) => {
          // The blob might have been committed by another process before our writer existed.
          if (!tail.attached) tail.fromFile(engine.blobs.blobPath(info.digest), info.size);
          return info;
        },
        (e: unknown) => {
          first ??= e;
          tail.fail(e instanceof Error ? e : new Error(String(e)));
          throw e;
        },
      );
      const [applied, fetched] = await Promise.allSettled([applying, fetching]);
      if (applied.status === 'rejected' || fetched.status === 'rejected') throw first;
      const res = applied.value;
      if (res.diffId !== j.diffId)
        throw corrupt(`layer ${desc.digest} unpacks to content ${res.diffId}, but the image config says ${j.diffId}`, {
          hint: 'the registry serves a broken image: push it again',
        });
      engine.layers.publish(j.parent, res.diffId, res.size, tmp);
    } catch (e) {
      fs.rmSync(tmp, { recursive: true, force: true });
      throw e;
    }
    j.sink({ id, status: 'Pull complete' });
    return j.haveBlob ? 0 : total;
  } finally {
    j.signal?.removeEventListener('abort', onOuterAbort);
    tail.destroy();
  }
}

/**
 * A readable stream over a file that another writer is still appending to: it yields bytes up to
 * what the writer reported, waits for more, and ends when the writer committed (or fails when it
 * aborted). The fd is opened when the writer is created, so the commit's rename or the abort's
 * unlink do not disturb reading.
 */
class TailReader extends Readable {
  private fd: number | undefined;
  private pos = 0;
  private avail = 0;
  private finished = false;
  private error: Error | undefined;
  private reading = false;
  private waiting = false;
  attached = false;

  constructor() {
    super({ highWaterMark: 1 << 20 });
  }

  /** Wraps the download's writer so every write and the commit are seen here. */
  attach(w: BlobWriter): BlobWriter {
    this.attached = true;
    this.fd = fs.openSync(w.path, 'r');
    const tail = this;
    return {
      get path() {
        return w.path;
      },
      get size() {
        return w.size;
      },
      write(chunk: Buffer) {
        w.write(chunk);
        tail.grow(w.size);
      },
      async commit() {
        return this.commitSync();
      },
      commitSync() {
        try {
          const info = w.commitSync();
          tail.finish(info.size);
          return info;
        } catch (e) {
          tail.fail(e as Error);
          throw e;
        }
      },
      abort() {
        // The download's own error reaches the tail through pullLayer, which knows it.
        w.abort();
      },
    };
  }

  /** Reads a complete file instead (the blob was already there). */
  fromFile(file: string, size: number): void {
    if (this.fd !== undefined) return;
    this.fd = fs.openSync(file, 'r');
    this.finish(size);
  }

  private grow(size: number): void {
    this.avail = size;
    this.wake();
  }

  private finish(size: number): void {
    this.avail = size;
    this.finished = true;
    this.wake();
  }

  fail(e: Error): void {
    if (this.finished) return;
    this.error ??= e;
    this.wake();
  }

  private wake(): void {
    if (this.waiting) {
      this.waiting = false;
      this.pump();
    }
  }

  override _read(): void {
    this.pump();
  }

  private pump(): void {
    if (this.reading || this.destroyed) return;
    if (this.error) {
      this.destroy(this.error);
      return;
    }
    const want = Math.min(this.avail - this.pos, 1 << 20);
    if (this.fd === undefined || want <= 0) {
      if (this.finished && this.fd !== undefined) this.push(null);
      else this.waiting = true;
      return;
    }
    this.reading = true;
    const buf = Buffer.allocUnsafe(want);
    fs.read(this.fd, buf, 0, want, this.pos, (err, n) => {
      this.reading = false;
      if (err) {
        this.destroy(err);
        return;
      }
      this.pos += n;
      if (n === 0) {
        this.waiting = true;
        return;
      }
      if (this.push(buf.subarray(0, n))) this.pump();
    });
  }

  override _destroy(err: Error | null, cb: (e: Error | null) => void): void {
    if (this.fd !== undefined) {
      const fd = this.fd;
      this.fd = undefined;
      fs.close(fd, () => cb(err));
    } else cb(err);
  }
}
