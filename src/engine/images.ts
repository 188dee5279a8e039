/**
 * Image operations of the engine: writing images from layers, import, remove (untag vs delete), prune,
 * history and garbage collection. Save and load live in archive.ts.
 */
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import type { Digest } from '../content/digest.js';
import { BerthError, conflict, corrupt, notFound } from '../errors.js';
import { applyChanges } from '../image/changes.js';
import { type ImageRecord, readImageConfig } from '../image/image-store.js';
import {
  type ContainerDefaults,
  type Descriptor,
  type HistoryEntry,
  type ImageConfig,
  type ImageManifest,
  MediaTypes,
  hostPlatform,
} from '../image/oci.js';
import { familiarString, formatReference, parseReference, withDefaultTag } from '../image/reference.js';
import { applyLayer } from '../layer/apply.js';
import { decompress } from '../layer/compression.js';
import { writeTx } from '../metadata/db.js';
import type { LayerRecord } from '../snapshot/layer-store.js';
import type { Engine } from './engine.js';
import { emitEvent } from './events.js';
import { type Lease, leasedResources, withLease } from './leases.js';

export interface LayerRef {
  diffId: Digest;
  /** The blob in the content store holding this layer (uncompressed tar: digest === diffId). */
  blob: Descriptor;
}

export interface WriteImageInput {
  config: Omit<ImageConfig, 'rootfs'>;
  layers: LayerRef[];
  parent?: Digest | null;
  tags?: string[];
  meta?: Record<string, unknown>;
  lease?: Lease;
}

/** Stable JSON with sorted object keys (image configs, manifests): the same image always gets the same digest. */
export function canonicalJson(v: unknown): string {
  return JSON.stringify(v, (_k, val: unknown) => {
    if (val && typeof val === 'object' && !Array.isArray(val)) {
      const o = val as Record<string, unknown>;
      return Object.fromEntries(Object.keys(o).sort().map((k) => [k, o[k]]));
    }
    return val;
  });
}

/**
 * Writes config and manifest blobs and records the image; layers must already be unpacked in the
 * layer store. Tags point at it afterwards. Returns the record.
 */
export function writeImage(engine: Engine, input: WriteImageInput): ImageRecord {
  const config: ImageConfig = { ...input.config, rootfs: { type: 'layers', diff_ids: input.layers.map((l) => l.diffId) } };
  const configBuf = Buffer.from(canonicalJson(config));
  const cfgInfo = engine.blobs.putBuffer(configBuf);
  input.lease?.add('blob', cfgInfo.digest);
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MediaTypes.OciManifest,
    config: { mediaType: MediaTypes.OciConfig, digest: cfgInfo.digest, size: cfgInfo.size },
    layers: input.layers.map((l) => ({ mediaType: l.blob.mediaType, digest: l.blob.digest, size: l.blob.size })),
  };
  const manInfo = engine.blobs.putBuffer(Buffer.from(JSON.stringify(manifest)));
  input.lease?.add('blob', manInfo.digest);
  const chain = engine.layers;
  let top: LayerRecord | undefined;
  let size = 0;
  {
    let parent: Digest | null = null;
    for (const l of input.layers) {
      const { chainIdOf } = chainHelpers;
      const cid = chainIdOf(parent, l.diffId);
      const rec = chain.get(cid);
      if (!rec) throw corrupt(`layer ${l.diffId} is not unpacked`);
      size += rec.size;
      top = rec;
      parent = cid;
    }
  }
  // Record which blob holds each diff (for save/push without recompressing).
  writeTx(engine.db, () => {
    for (const l of input.layers)
      engine.db
        .prepare('INSERT OR IGNORE INTO layer_blobs (diff_id, digest, media_type, size) VALUES (?, ?, ?, ?)')
        .run(l.diffId, l.blob.digest, l.blob.mediaType, l.blob.size);
  });
  const created = config.created ? Date.parse(config.created) : Date.now();
  const rec = engine.images.create({
    id: cfgInfo.digest,
    manifestDigest: manInfo.digest,
    created: Number.isNaN(created) ? Date.now() : created,
    size,
    topLayer: top?.chainId ?? null,
    parent: input.parent ?? null,
    labels: config.config?.Labels ?? {},
    meta: input.meta ?? {},
  });
  for (const t of input.tags ?? []) engine.images.tag(rec.id, t);
  return engine.images.get(rec.id) as ImageRecord;
}

import { chainIdOf } from '../snapshot/layer-store.js';
const chainHelpers = { chainIdOf };

/**
 * Streams a tar (any compression) into the content store as an uncompressed layer blob and, at the
 * same time, unpacks it on top of `parent`. Nothing becomes visible unless both succeed.
 */
export async function ingestLayer(
  engine: Engine,
  parent: Digest | null,
  src: Readable,
  opts: { lease?: Lease; signal?: AbortSignal } = {},
): Promise<{ layer: LayerRecord; ref: LayerRef }> {
  const { stream } = await decompress(src);
  const writer = engine.blobs.writer();
  const tee = new PassThrough({ highWaterMark: 1 << 20 });
  const tmp = engine.layers.makeTempDir();
  const applying = applyLayer(tee, path.join(tmp, 'diff'), opts.signal ? { signal: opts.signal } : {});
  applying.catch(() => undefined);
  try {
    try {
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        writer.write(chunk);
        if (!tee.write(chunk)) await Promise.race([once(tee, 'drain'), applying]);
      }
      tee.end();
    } catch (e) {
      tee.destroy(e as Error);
      throw e;
    }
    const res = await applying;
    const blob = writer.commitSync();
    opts.lease?.add('blob', blob.digest);
    if (blob.digest !== res.diffId) throw corrupt(`layer digest mismatch while unpacking (${blob.digest} != ${res.diffId})`);
    const layer = engine.layers.publish(parent, res.diffId, res.size, tmp);
    opts.lease?.add('layer', layer.chainId);
    return { layer, ref: { diffId: res.diffId, blob: { mediaType: MediaTypes.OciLayer, digest: blob.digest, size: blob.size } } };
  } catch (e) {
    writer.abort();
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}

export interface ImportOptions {
  source: Readable;
  tag?: string;
  changes?: string[];
  message?: string;
  platform?: string;
}

/** `import`: a root filesystem tarball becomes a one-layer image. */
export async function importImage(engine: Engine, opts: ImportOptions): Promise<ImageRecord> {
  if (opts.tag) parseReference(opts.tag);
  const defaults: ContainerDefaults = applyChanges({}, opts.changes ?? []);
  return withLease(engine.db, async (lease) => {
    const { ref } = await ingestLayer(engine, null, opts.source, { lease });
    const now = new Date().toISOString();
    const plat = hostPlatform();
    const [os, arch, variant] = opts.platform ? opts.platform.split('/') : [plat.os, plat.architecture, plat.variant];
    const history: HistoryEntry = { created: now, created_by: 'berth import' };
    if (opts.message) history.comment = opts.message;
    const cfg: Omit<ImageConfig, 'rootfs'> = {
      created: now,
      architecture: arch ?? plat.architecture,
      os: os ?? 'linux',
      config: defaults,
      history: [history],
    };
    if (variant) cfg.variant = variant;
    const img = writeImage(engine, { config: cfg, layers: [ref], tags: opts.tag ? [opts.tag] : [], lease });
    emitEvent(engine.paths.runroot, 'image', 'import', img.id, opts.tag ? { name: opts.tag } : {});
    return img;
  });
}

export function readConfig(engine: Engine, img: ImageRecord): ImageConfig {
  return readImageConfig(engine.blobs, img);
}

export function readManifest(engine: Engine, img: ImageRecord): ImageManifest {
  if (!img.manifestDigest) throw corrupt(`image ${img.id} has no manifest`);
  return JSON.parse(engine.blobs.readBuffer(img.manifestDigest).toString('utf8')) as ImageManifest;
}

/** The layer blobs of an image with their diff ids, bottom first. */
export function imageLayers(engine: Engine, img: ImageRecord): LayerRef[] {
  const cfg = readConfig(engine, img);
  const man = readManifest(engine, img);
  if (man.layers.length !== cfg.rootfs.diff_ids.length) throw corrupt(`image ${img.id}: manifest and config disagree on the number of layers`);
  return man.layers.map((d, i) => ({ diffId: cfg.rootfs.diff_ids[i] as Digest, blob: d }));
}

export interface RemoveReport {
  untagged: string[];
  deleted: string[];
}

/** Container usage of images, for rmi/prune (containers register here once that module exists). */
export function imagesInUse(engine: Engine): Map<string, string[]> {
  const rows = engine.db.prepare('SELECT id, name, image_id FROM containers').all() as { id: string; name: string; image_id: string }[];
  const m = new Map<string, string[]>();
  for (const r of rows) m.set(r.image_id, [...(m.get(r.image_id) ?? []), r.id]);
  return m;
}

/**
 * `rmi`, with docker's rules: a name untags, and the image goes when its last name goes; an ID
 * deletes (refused when several names point at it, unless `force`). An image a container uses is
 * refused unless `force`, and then only loses its names: the containers keep it.
 */
export function removeImage(engine: Engine, nameOrId: string, opts: { force?: boolean } = {}): RemoveReport {
  const img = engine.images.resolve(nameOrId);
  const report: RemoveReport = { untagged: [], deleted: [] };
  const users = imagesInUse(engine).get(img.id) ?? [];
  const hex = nameOrId.replace(/^sha256:/, '');
  const byId = /^[0-9a-f]+$/.test(hex) && img.id.slice(7).startsWith(hex) && !img.tags.includes(formatReferenceSafe(nameOrId));
  const names = [...img.tags, ...img.repoDigests];
  const short = img.id.slice(7, 19);
  if (!byId) {
    const ref = parseReference(nameOrId);
    const full = ref.digest ? `${ref.domain}/${ref.path}@${ref.digest}` : formatReference(withDefaultTag(ref));
    const others = names.filter((n) => n !== full);
    if (others.length === 0 && users.length > 0 && !opts.force)
      throw conflict(
        `conflict: unable to remove repository reference "${nameOrId}" (must force) - container ${users[0]?.slice(0, 12)} is using its referenced image ${short}`,
      );
    if (ref.digest) engine.images.removeRepoDigest(`${ref.domain}/${ref.path}`, ref.digest);
    else engine.images.untag(nameOrId);
    report.untagged.push(ref.digest ? familiarDigestRef(full) : familiarString(withDefaultTag(ref)));
    // As docker: the last tag of a repository takes that repository's digest references (repo@sha256:...) with it.
    const repo = `${ref.domain}/${ref.path}`;
    const digestRefs = ref.digest || others.some((n) => n.startsWith(`${repo}:`)) ? [] : others.filter((n) => n.startsWith(`${repo}@`));
    for (const d of digestRefs) {
      engine.images.removeRepoDigest(repo, d.slice(repo.length + 1));
      report.untagged.push(familiarDigestRef(d));
    }
    if (others.length > digestRefs.length || users.length > 0) return report;
  } else {
    if (img.tags.length > 1 && !opts.force)
      throw conflict(`conflict: unable to delete ${short} (must be forced) - image is referenced in multiple repositories`);
    if (users.length > 0) {
      if (!opts.force)
        throw conflict(`conflict: unable to delete ${short} (must be forced) - image is being used by container ${users[0]?.slice(0, 12)}`);
      for (const t of img.tags) {
        engine.images.untag(t);
        report.untagged.push(familiarString(parseReference(t)));
      }
      return report;
    }
    for (const n of names) report.untagged.push(n.includes('@') ? familiarDigestRef(n) : familiarString(parseReference(n)));
  }
  engine.images.delete(img.id);
  report.deleted.push(img.id);
  gcLayersAndBlobs(engine);
  return report;
}

function formatReferenceSafe(s: string): string {
  try {
    return formatReference(withDefaultTag(parseReference(s)));
  } catch {
    return '';
  }
}

function familiarDigestRef(full: string): string {
  return full.replace(/^docker\.io\/library\//, '').replace(/^docker\.io\//, '');
}

/**
 * What garbage collection must keep when only `images` and the images of `containerImageIds`
 * remain: their config, manifest and layer blobs, every layer of their chains, whatever a live
 * lease holds (with the parents of leased layers), and the gzip encodings push cached for layers
 * that stay (so the next push skips compression). Shared by GC and by prune's estimates.
 */
export function liveResources(
  engine: Engine,
  images: ImageRecord[],
  containerImageIds: Iterable<string>,
): { blobs: Set<string>; layers: Set<string> } {
  const blobs = new Set<string>();
  const layers = new Set<string>();
  const markChain = (top: string | null) => {
    let cur: string | null = top;
    while (cur && !layers.has(cur)) {
      layers.add(cur);
      cur = engine.layers.get(cur as Digest)?.parent ?? null;
    }
  };
  for (const r of leasedResources(engine.db)) {
    if (r.kind === 'layer') markChain(r.ref);
    else blobs.add(r.ref);
  }
  for (const img of images) {
    blobs.add(img.id);
    if (img.manifestDigest) {
      blobs.add(img.manifestDigest);
      try {
        for (const l of readManifest(engine, img).layers) blobs.add(l.digest);
      } catch {
        /* a missing manifest is system check's business */
      }
    }
    markChain(img.topLayer);
  }
  for (const id of containerImageIds) markChain(engine.images.get(id as Digest)?.topLayer ?? null);
  const keptDiffs = new Set(engine.layers.list().filter((l) => layers.has(l.chainId)).map((l) => l.diffId as string));
  for (const r of engine.db.prepare("SELECT diff_id, digest FROM layer_blobs WHERE media_type LIKE '%gzip'").all() as { diff_id: string; digest: string }[])
    if (keptDiffs.has(r.diff_id)) blobs.add(r.digest);
  return { blobs, layers };
}

/**
 * Garbage collection: deletes layers no image or container needs and blobs nothing references
 * (see liveResources). Runs in the caller's process, after its own changes are committed.
 */
export function gcLayersAndBlobs(engine: Engine): { layers: number; blobs: number; bytes: number } {
  const containerImages = (engine.db.prepare('SELECT image_id FROM containers').all() as { image_id: string }[]).map((r) => r.image_id);
  const keep = liveResources(engine, engine.images.list(), containerImages);
  let layers = 0;
  let blobs = 0;
  let bytes = 0;
  for (const l of engine.layers.list()) {
    if (keep.layers.has(l.chainId)) continue;
    engine.layers.remove(l.chainId);
    bytes += l.size;
    layers++;
  }
  for (const b of engine.blobs.list()) {
    if (keep.blobs.has(b.digest)) continue;
    engine.blobs.delete(b.digest);
    bytes += b.size;
    blobs++;
  }
  const liveDiffs = new Set(engine.layers.list().map((l) => l.diffId as string));
  writeTx(engine.db, () => {
    for (const r of engine.db.prepare('SELECT diff_id, digest FROM layer_blobs').all() as { diff_id: string; digest: string }[]) {
      if (!liveDiffs.has(r.diff_id) || !engine.blobs.has(r.digest as Digest))
        engine.db.prepare('DELETE FROM layer_blobs WHERE diff_id = ? AND digest = ?').run(r.diff_id, r.digest);
    }
  });
  return { layers, blobs, bytes };
}

export interface HistoryRow {
  id: string;
  created: number | undefined;
  createdBy: string;
  size: number;
  comment: string;
  tags: string[];
}

/** `history`: newest first, as docker prints it; the top row carries the image ID. */
export function imageHistory(engine: Engine, nameOrId: string): HistoryRow[] {
  const img = engine.images.resolve(nameOrId);
  const cfg = readConfig(engine, img);
  const chain = engine.layers.lowerChain(img.topLayer).reverse();
  const history = cfg.history ?? cfg.rootfs.diff_ids.map(() => ({}) as HistoryEntry);
  const rows: HistoryRow[] = [];
  let li = 0;
  for (const h of history) {
    let size = 0;
    if (!h.empty_layer) {
      size = chain[li]?.size ?? 0;
      li++;
    }
    rows.push({
      id: '<missing>',
      created: h.created ? Date.parse(h.created) : undefined,
      createdBy: h.created_by ?? '',
      size,
      comment: h.comment ?? '',
      tags: [],
    });
  }
  rows.reverse();
  if (rows[0]) {
    rows[0].id = img.id;
    rows[0].tags = img.tags.map((t) => familiarString(parseReference(t)));
  }
  return rows;
}

export function requireImage(engine: Engine, nameOrId: string): ImageRecord {
  const img = engine.images.tryResolve(nameOrId);
  if (!img) throw notFound(`No such image: ${nameOrId}`);
  return img;
}

export { BerthError };
