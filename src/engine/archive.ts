/**
 * save / load: docker-archive (manifest.json) and OCI image layout (index.json), in one tar.
 * `save` writes both views at once (as docker 25+ does), so `docker load`, `skopeo` (docker-archive:
 * and oci-archive:) and Berth all read it. `load` takes either, also an OCI layout directory.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { type Digest, digestHex, isDigest, sha256 } from '../content/digest.js';
import { BerthError, corrupt, invalidArgument } from '../errors.js';
import type { ImageRecord } from '../image/image-store.js';
import { type Descriptor, type ImageConfig, type ImageIndex, type ImageManifest, MediaTypes, hostPlatform } from '../image/oci.js';
import { familiarString, formatReference, parseReference, withDefaultTag } from '../image/reference.js';
import { detectCompression } from '../layer/compression.js';
import { chainIdOf } from '../snapshot/layer-store.js';
import type { Engine } from './engine.js';
import { gcLayersAndBlobs, readConfig, writeImage } from './images.js';
import { emitEvent } from './events.js';
import { type Lease, withLease } from './leases.js';

export type ArchiveFormat = 'docker-archive' | 'oci-archive' | 'oci-dir';

interface SaveItem {
  img: ImageRecord;
  names: string[];
}

/** Writes the images named by `refs` to `out` as one archive. */
export async function saveImages(engine: Engine, refs: string[], out: Writable, format: ArchiveFormat = 'docker-archive'): Promise<void> {
  if (format === 'oci-dir') throw invalidArgument('oci-dir needs a directory: use saveImagesToDir');
  const items = resolveSaveItems(engine, refs);
  const pack = tar.pack();
  const done = pipeline(pack, out);
  const written = new Set<string>();
  const addBuf = (name: string, buf: Buffer) =>
    new Promise<void>((res, rej) => pack.entry({ name, size: buf.length, mode: 0o644, mtime: new Date(0) }, buf, (e) => (e ? rej(e) : res())));
  const addBlob = async (d: Digest) => {
    const name = `blobs/sha256/${digestHex(d)}`;
    if (written.has(name)) return;
    written.add(name);
    const size = engine.blobs.info(d).size;
    await new Promise<void>((res, rej) => {
      const entry = pack.entry({ name, size, mode: 0o644, mtime: new Date(0) }, (e) => (e ? rej(e) : res()));
      pipeline(engine.blobs.reader(d), entry).catch(rej);
    });
  };
  for (const dir of ['blobs', 'blobs/sha256'])
    await new Promise<void>((res, rej) => pack.entry({ name: dir, type: 'directory', mode: 0o755, mtime: new Date(0) }, (e) => (e ? rej(e) : res())));
  const { index, dockerManifest } = await writeBlobsForSave(engine, items, addBlob);
  await addBuf('oci-layout', Buffer.from('{"imageLayoutVersion":"1.0.0"}'));
  await addBuf('index.json', Buffer.from(JSON.stringify(index)));
  if (format === 'docker-archive') await addBuf('manifest.json', Buffer.from(JSON.stringify(dockerManifest)));
  pack.finalize();
  await done;
}

/** OCI layout directory (skopeo's oci: transport). */
export async function saveImagesToDir(engine: Engine, refs: string[], dir: string): Promise<void> {
  const items = resolveSaveItems(engine, refs);
  fs.mkdirSync(path.join(dir, 'blobs', 'sha256'), { recursive: true });
  const addBlob = async (d: Digest) => {
    const p = path.join(dir, 'blobs', 'sha256', digestHex(d));
    if (!fs.existsSync(p)) fs.copyFileSync(engine.blobs.blobPath(d), p);
  };
  const { index } = await writeBlobsForSave(engine, items, addBlob);
  fs.writeFileSync(path.join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  fs.writeFileSync(path.join(dir, 'index.json'), JSON.stringify(index));
}

function resolveSaveItems(engine: Engine, refs: string[]): SaveItem[] {
  const byId = new Map<string, SaveItem>();
  for (const r of refs) {
    const img = engine.images.resolve(r);
    const item = byId.get(img.id) ?? { img, names: [] };
    byId.set(img.id, item);
    // A name given by the user is kept; an ID saves all the image's tags, as docker does.
    const isId = /^(sha256:)?[0-9a-f]{1,64}$/.test(r) && img.id.slice(7).startsWith(r.replace('sha256:', ''));
    if (isId) item.names.push(...img.tags);
    else {
      const ref = parseReference(r);
      if (!ref.digest) item.names.push(formatReference(withDefaultTag(ref)));
    }
  }
  return [...byId.values()];
}

async function writeBlobsForSave(
  engine: Engine,
  items: SaveItem[],
  addBlob: (d: Digest) => Promise<void>,
): Promise<{ index: ImageIndex; dockerManifest: unknown[] }> {
  const index: ImageIndex = { schemaVersion: 2, mediaType: MediaTypes.OciIndex, manifests: [] };
  const dockerManifest: unknown[] = [];
  for (const { img, names } of items) {
    if (!img.manifestDigest) throw corrupt(`image ${img.id} has no manifest`);
    const manBuf = engine.blobs.readBuffer(img.manifestDigest);
    const man = JSON.parse(manBuf.toString('utf8')) as ImageManifest;
    await addBlob(img.id);
    for (const l of man.layers) await addBlob(l.digest);
    await addBlob(img.manifestDigest);
    const mediaType = man.mediaType ?? MediaTypes.OciManifest;
    const uniq = [...new Set(names)];
    const desc = (name?: string): Descriptor => {
      const d: Descriptor = { mediaType, digest: img.manifestDigest as Digest, size: manBuf.length };
      if (name) {
        const ref = parseReference(name);
        d.annotations = { 'io.containerd.image.name': name, 'org.opencontainers.image.ref.name': ref.tag ?? 'latest' };
      }
      return d;
    };
    if (uniq.length === 0) index.manifests.push(desc());
    for (const n of uniq) index.manifests.push(desc(n));
    dockerManifest.push({
      Config: `blobs/sha256/${digestHex(img.id)}`,
      RepoTags: uniq.length ? uniq.map((n) => familiarString(parseReference(n))) : null,
      Layers: man.layers.map((l) => `blobs/sha256/${digestHex(l.digest)}`),
    });
  }
  return { index, dockerManifest };
}

export interface LoadReport {
  /** Familiar names loaded, or the image ID when the archive names none. */
  loaded: { id: Digest; names: string[] }[];
}

const SMALL = 4 << 20;

/** Reads an archive (docker-archive or oci-archive; any compression of the outer tar) and records its images. */
export async function loadImages(engine: Engine, src: Readable | string): Promise<LoadReport> {
  return withLease(engine.db, async (lease) => {
    try {
      const files = typeof src === 'string' && fs.statSync(src).isDirectory() ? readLayoutDir(engine, src, lease) : await readArchive(engine, typeof src === 'string' ? fs.createReadStream(src) : src, lease);
      return await recordLoaded(engine, files, lease);
    } catch (e) {
      lease.release();
      gcLayersAndBlobs(engine);
      if (e instanceof BerthError) throw e;
      throw corrupt(`invalid archive: ${(e as Error).message}`, { cause: e });
    }
  });
}

/** name -> small content or blob digest */
interface ArchiveFiles {
  small: Map<string, Buffer>;
  blobs: Map<string, Digest>;
}

async function readArchive(engine: Engine, src: Readable, lease: Lease): Promise<ArchiveFiles> {
  const files: ArchiveFiles = { small: new Map(), blobs: new Map() };
  const { decompress } = await import('../layer/compression.js');
  const { stream } = await decompress(src);
  const extract = tar.extract();
  stream.on('error', (e) => extract.destroy(e));
  stream.pipe(extract);
  let count = 0;
  for await (const entry of extract) {
    const h = entry.header;
    const name = path.posix.normalize(h.name).replace(/^(\.\/)+/, '').replace(/^\/+/, '');
    if (++count > 100_000) throw corrupt('archive has too many entries');
    if (h.type !== 'file' && h.type !== 'contiguous-file') {
      entry.resume();
      continue;
    }
    const m = /^blobs\/sha256\/([0-9a-f]{64})$/.exec(name);
    if ((h.size ?? 0) <= SMALL && !m?.[1]) {
      const chunks: Buffer[] = [];
      for await (const c of entry) chunks.push(c as Buffer);
      files.small.set(name, Buffer.concat(chunks));
      continue;
    }
    const opts: { expected?: Digest; expectedSize?: number } = { expectedSize: h.size ?? 0 };
    if (m?.[1]) opts.expected = `sha256:${m[1]}`;
    const info = await engine.blobs.ingest(entry as unknown as AsyncIterable<Buffer>, opts);
    lease.add('blob', info.digest);
    files.blobs.set(name, info.digest);
  }
  return files;
}

function readLayoutDir(engine: Engine, dir: string, lease: Lease): ArchiveFiles {
  const files: ArchiveFiles = { small: new Map(), blobs: new Map() };
  for (const f of ['index.json', 'oci-layout', 'manifest.json']) {
    const p = path.join(dir, f);
    if (fs.existsSync(p)) files.small.set(f, fs.readFileSync(p));
  }
  const bdir = path.join(dir, 'blobs', 'sha256');
  for (const n of fs.existsSync(bdir) ? fs.readdirSync(bdir) : []) {
    if (!/^[0-9a-f]{64}$/.test(n)) continue;
    const p = path.join(bdir, n);
    const w = engine.blobs.writer({ expected: `sha256:${n}` });
    const fd = fs.openSync(p, 'r');
    try {
      const buf = Buffer.allocUnsafe(1 << 20);
      for (;;) {
        const k = fs.readSync(fd, buf, 0, buf.length, null);
        if (k === 0) break;
        w.write(buf.subarray(0, k));
      }
    } finally {
      fs.closeSync(fd);
    }
    const info = w.commitSync();
    lease.add('blob', info.digest);
    files.blobs.set(`blobs/sha256/${n}`, info.digest);
  }
  return files;
}

function fileBuffer(engine: Engine, files: ArchiveFiles, name: string): Buffer {
  const n = path.posix.normalize(name).replace(/^(\.\/)+/, '');
  const s = files.small.get(n);
  if (s) return s;
  const d = files.blobs.get(n);
  if (d) return engine.blobs.readBuffer(d);
  throw corrupt(`archive is missing ${name}`);
}

function fileDigest(engine: Engine, files: ArchiveFiles, name: string, lease: Lease): Digest {
  const n = path.posix.normalize(name).replace(/^(\.\/)+/, '');
  const d = files.blobs.get(n);
  if (d) return d;
  const s = files.small.get(n);
  if (!s) throw corrupt(`archive is missing ${name}`);
  const info = engine.blobs.putBuffer(s);
  lease.add('blob', info.digest);
  files.blobs.set(n, info.digest);
  return info.digest;
}

function parseJson<T>(buf: Buffer, what: string): T {
  try {
    return JSON.parse(buf.toString('utf8')) as T;
  } catch {
    throw corrupt(`invalid JSON in ${what}`);
  }
}

interface LoadItem {
  configDigest: Digest;
  config: ImageConfig;
  layerBlobs: Digest[];
  manifestDigest?: Digest;
  names: string[];
}

async function recordLoaded(engine: Engine, files: ArchiveFiles, lease: Lease): Promise<LoadReport> {
  const items: LoadItem[] = [];
  if (files.small.has('manifest.json')) {
    const entries = parseJson<{ Config: string; RepoTags?: string[] | null; Layers: string[] }[]>(fileBuffer(engine, files, 'manifest.json'), 'manifest.json');
    if (!Array.isArray(entries)) throw corrupt('manifest.json is not a list');
    for (const e of entries) {
      if (typeof e?.Config !== 'string' || !Array.isArray(e.Layers)) throw corrupt('manifest.json entry lacks Config or Layers');
      const cfgBuf = fileBuffer(engine, files, e.Config);
      const configDigest = sha256(cfgBuf);
      if (!engine.blobs.has(configDigest)) lease.add('blob', engine.blobs.putBuffer(cfgBuf).digest);
      items.push({
        configDigest,
        config: parseJson<ImageConfig>(cfgBuf, e.Config),
        layerBlobs: e.Layers.map((l) => fileDigest(engine, files, l, lease)),
        names: (e.RepoTags ?? []).map((t) => formatReference(withDefaultTag(parseReference(t)))),
      });
    }
    // Reuse the archive's own manifest when the OCI view is there too (keeps the manifest digest).
    if (files.small.has('index.json')) {
      const idx = parseJson<ImageIndex>(fileBuffer(engine, files, 'index.json'), 'index.json');
      for (const d of idx.manifests ?? []) {
        const man = tryManifest(engine, files, d.digest);
        const it = man && items.find((i) => i.configDigest === man.config.digest);
        if (it) it.manifestDigest = d.digest;
      }
    }
  } else if (files.small.has('index.json')) {
    const idx = parseJson<ImageIndex>(fileBuffer(engine, files, 'index.json'), 'index.json');
    if (!Array.isArray(idx.manifests)) throw corrupt('index.json has no manifests');
    for (const top of idx.manifests) {
      let d = top;
      if (d.mediaType === MediaTypes.OciIndex || d.mediaType === MediaTypes.DockerManifestList) {
        const inner = parseJson<ImageIndex>(fileBuffer(engine, files, `blobs/sha256/${digestHex(d.digest)}`), d.digest);
        const plat = hostPlatform();
        const pick = inner.manifests.find((m) => m.platform?.architecture === plat.architecture && m.platform.os === plat.os) ?? inner.manifests[0];
        if (!pick) throw corrupt(`index ${d.digest} lists no manifests`);
        d = pick;
      }
      const man = tryManifest(engine, files, d.digest);
      if (!man) throw corrupt(`manifest ${d.digest} is missing from the archive`);
      const cfgBuf = fileBuffer(engine, files, `blobs/sha256/${digestHex(man.config.digest)}`);
      const name = top.annotations?.['io.containerd.image.name'] ?? top.annotations?.['org.opencontainers.image.ref.name'];
      const names: string[] = [];
      if (name) {
        try {
          names.push(formatReference(withDefaultTag(parseReference(name))));
        } catch {
          /* a bare tag like "latest" names no repository */
        }
      }
      const existing = items.find((i) => i.configDigest === man.config.digest);
      if (existing) {
        existing.names.push(...names);
        continue;
      }
      items.push({
        configDigest: man.config.digest,
        config: parseJson<ImageConfig>(cfgBuf, man.config.digest),
        layerBlobs: man.layers.map((l) => l.digest),
        manifestDigest: d.digest,
        names,
      });
    }
  } else {
    throw corrupt('not an image archive: neither manifest.json nor index.json found', {
      hint: 'berth load reads archives made by docker save, berth save, skopeo or podman save',
    });
  }
  const report: LoadReport = { loaded: [] };
  for (const it of items) {
    const diffIds = it.config.rootfs?.diff_ids;
    if (!Array.isArray(diffIds) || diffIds.length !== it.layerBlobs.length)
      throw corrupt(`image config ${it.configDigest} lists ${diffIds?.length ?? 0} layers, the archive has ${it.layerBlobs.length}`);
    let parent: Digest | null = null;
    const layers = [];
    for (let i = 0; i < diffIds.length; i++) {
      const diffId = diffIds[i] as Digest;
      if (!isDigest(diffId)) throw corrupt(`invalid diff id ${String(diffId)}`);
      const blob = it.layerBlobs[i] as Digest;
      const rec = await engine.layers.unpack(parent, engine.blobs.reader(blob), { expectedDiffId: diffId });
      lease.add('layer', rec.chainId);
      parent = chainIdOf(parent, diffId);
      const head = readHead(engine, blob);
      const comp = detectCompression(head);
      const mediaType = comp === 'gzip' ? MediaTypes.OciLayerGzip : comp === 'zstd' ? MediaTypes.OciLayerZstd : MediaTypes.OciLayer;
      layers.push({ diffId, blob: { mediaType, digest: blob, size: engine.blobs.info(blob).size } });
    }
    let rec: ImageRecord;
    if (it.manifestDigest) {
      // Keep the archive's manifest and config bytes: same digests as the source.
      const size = layers.reduce((a, l) => a + (engine.layers.get(chainIdOf(null, l.diffId))?.size ?? 0), 0);
      void size;
      rec = recordExisting(engine, it, parent);
    } else {
      rec = writeImageKeepingConfig(engine, it, layers, lease);
    }
    for (const n of it.names) engine.images.tag(rec.id, n);
    report.loaded.push({ id: rec.id, names: it.names.map((n) => familiarString(parseReference(n))) });
    emitEvent(engine.paths.runroot, 'image', 'load', rec.id, it.names[0] ? { name: it.names[0] } : {});
  }
  return report;
}

function readHead(engine: Engine, d: Digest): Buffer {
  const fd = fs.openSync(engine.blobs.blobPath(d), 'r');
  try {
    const b = Buffer.alloc(8);
    fs.readSync(fd, b, 0, 8, 0);
    return b;
  } finally {
    fs.closeSync(fd);
  }
}

function tryManifest(engine: Engine, files: ArchiveFiles, d: Digest): ImageManifest | undefined {
  try {
    const m = parseJson<ImageManifest>(fileBuffer(engine, files, `blobs/sha256/${digestHex(d)}`), d);
    return m?.config?.digest ? m : undefined;
  } catch {
    return undefined;
  }
}

function imageSize(engine: Engine, top: Digest | null): number {
  return engine.layers.lowerChain(top).reduce((a, l) => a + l.size, 0);
}

function recordExisting(engine: Engine, it: LoadItem, top: Digest | null): ImageRecord {
  const created = it.config.created ? Date.parse(it.config.created) : Date.now();
  return engine.images.create({
    id: it.configDigest,
    manifestDigest: it.manifestDigest as Digest,
    created: Number.isNaN(created) ? Date.now() : created,
    size: imageSize(engine, top),
    topLayer: top,
    labels: it.config.config?.Labels ?? {},
  });
}

/** A docker-archive carries no manifest: write an OCI one, keeping the config bytes (so the image ID is unchanged). */
function writeImageKeepingConfig(
  engine: Engine,
  it: LoadItem,
  layers: { diffId: Digest; blob: Descriptor }[],
  lease: Lease,
): ImageRecord {
  const cfgSize = engine.blobs.info(it.configDigest).size;
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MediaTypes.OciManifest,
    config: { mediaType: MediaTypes.OciConfig, digest: it.configDigest, size: cfgSize },
    layers: layers.map((l) => l.blob),
  };
  const man = engine.blobs.putBuffer(Buffer.from(JSON.stringify(manifest)));
  lease.add('blob', man.digest);
  const top = layers.reduce<Digest | null>((p, l) => chainIdOf(p, l.diffId), null);
  engine.db.transaction(() => {
    for (const l of layers)
      engine.db.prepare('INSERT OR IGNORE INTO layer_blobs (diff_id, digest, media_type, size) VALUES (?, ?, ?, ?)').run(l.diffId, l.blob.digest, l.blob.mediaType, l.blob.size);
  }).immediate();
  return recordExisting(engine, { ...it, manifestDigest: man.digest }, top);
}

export { Readable, readConfig, writeImage };
