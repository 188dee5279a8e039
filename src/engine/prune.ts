/**
 * `system prune`: stopped containers, unused networks (when the network module exists), unused
 * anonymous volumes (with `volumes`), dangling images (every unused image with `all`) and the build
 * cache. One plan is computed first, from the store as it is, and then either reported (`dryRun`)
 * or carried out; the space figure is the plan's, so a dry run and the real run report the same.
 * `only` runs some of those kinds alone: the per-kind prune commands and the API's per-kind prune
 * endpoints are this same function, so the CLI, the API and `berth --host system prune` (which
 * calls those endpoints in this order) remove the same things and report the same figures.
 */
import path from 'node:path';
import type { Digest } from '../content/digest.js';
import type { ContainerRecord } from '../container/types.js';
import { writeTx } from '../metadata/db.js';
import { familiarString, parseReference } from '../image/reference.js';
import type { Engine } from './engine.js';
import { gcLayersAndBlobs, liveResources } from './images.js';
import { dirSize } from './system.js';

export interface SystemPruneOptions {
  /** Remove every image no remaining container uses, not only dangling ones. */
  all?: boolean;
  /** Also remove anonymous volumes no remaining container mounts (docker 23+ semantics). */
  volumes?: boolean;
  /** Only what was created before this time (ms since the epoch). */
  until?: number;
  /** Label filters (`k` or `k=v`), applied to containers, images, volumes and networks. */
  labels?: string[];
  /** Report the plan without changing anything. */
  dryRun?: boolean;
  /** Only these kinds (volumes then regardless of `volumes`); default: every kind. */
  only?: readonly PruneKind[];
  /** Named volumes too, not only anonymous ones (`volume prune --all`). */
  allVolumes?: boolean;
}

export type PruneKind = 'containers' | 'networks' | 'volumes' | 'images' | 'buildCache';

export interface PrunedItem {
  /** Container ID, image ID, volume or network name, build cache key. */
  id: string;
  /** Bytes this item alone frees (images: see `SystemPruneReport.imageBytes`). */
  size: number;
}

export interface SystemPruneReport {
  dryRun: boolean;
  containers: PrunedItem[];
  networks: PrunedItem[];
  volumes: PrunedItem[];
  /** Image IDs deleted, with the names they lose (docker's "untagged:" lines). */
  images: PrunedItem[];
  untagged: string[];
  /** Bytes of unpacked layers and blobs freed once the images go (shared layers counted once). */
  imageBytes: number;
  buildCache: PrunedItem[];
  /** Everything together. */
  spaceReclaimed: number;
  /** Items the plan chose but could not remove (a container started meanwhile, ...), with why. */
  failed: { kind: string; id: string; reason: string }[];
}

/** The network part, when src/network/ provides one: `list()` of unused networks and `remove`. */
interface NetworkPruner {
  plan(opts: { until?: number; labels?: string[] }): Promise<PrunedItem[]>;
  remove(id: string): Promise<void>;
}

async function networkPruner(engine: Engine): Promise<NetworkPruner | undefined> {
  const { NetworkService } = await import('../network/service.js');
  const svc = new NetworkService(engine);
  return {
    async plan(opts) {
      const out: PrunedItem[] = [];
      for (const n of svc.list()) {
        if (n.predefined) continue;
        if (opts.until !== undefined && n.created >= opts.until) continue;
        if (!labelsMatch(opts.labels, n.labels)) continue;
        const { configured, attached } = svc.users(n);
        if (configured.length > 0 || attached.length > 0) continue;
        out.push({ id: n.name, size: 0 });
      }
      return out;
    },
    async remove(id) {
      svc.remove(id);
    },
  };
}

function labelsMatch(filters: string[] | undefined, labels: Record<string, string> | undefined): boolean {
  if (!filters?.length) return true;
  return filters.every((f) => {
    const neg = f.startsWith('!');
    const body = neg ? f.slice(1) : f;
    const eq = body.indexOf('=');
    const hit = eq < 0 ? body in (labels ?? {}) : labels?.[body.slice(0, eq)] === body.slice(eq + 1);
    return neg ? !hit : hit;
  });
}

const STOPPED = new Set(['created', 'exited', 'dead']);

/**
 * Plans and (unless `dryRun`) performs a system prune. Removal of one item failing (a container
 * started after planning) is recorded in `failed` and does not stop the others. Garbage collection
 * of layers and blobs runs once at the end. Fails only when the store cannot be read.
 */
export async function systemPrune(engine: Engine, opts: SystemPruneOptions = {}): Promise<SystemPruneReport> {
  const { ContainerService } = await import('../container/service.js');
  const svc = new ContainerService(engine);
  const report: SystemPruneReport = {
    dryRun: opts.dryRun === true,
    containers: [],
    networks: [],
    volumes: [],
    images: [],
    untagged: [],
    imageBytes: 0,
    buildCache: [],
    spaceReclaimed: 0,
    failed: [],
  };

  const want = (k: PruneKind) => (opts.only ? opts.only.includes(k) : k !== 'volumes' || opts.volumes === true);

  // 1. Containers.
  const all = svc.list();
  const going = new Set<string>();
  for (const r of want('containers') ? all : []) {
    if (!STOPPED.has(r.state.status)) continue;
    if (opts.until !== undefined && r.config.created >= opts.until) continue;
    if (!labelsMatch(opts.labels, r.config.labels)) continue;
    going.add(r.config.id);
    report.containers.push({ id: r.config.id, size: dirSize(path.join(engine.paths.containers, r.config.id)) });
  }
  const staying = all.filter((r) => !going.has(r.config.id));

  // 2. Networks.
  const nets = want('networks') ? await networkPruner(engine) : undefined;
  if (nets) report.networks = await nets.plan({ ...(opts.until !== undefined ? { until: opts.until } : {}), ...(opts.labels ? { labels: opts.labels } : {}) });

  // 3. Volumes: anonymous ones that no remaining container mounts.
  let volumeSvc: import('../volume/service.js').VolumeService | undefined;
  if (want('volumes')) {
    const { VolumeService } = await import('../volume/service.js');
    volumeSvc = new VolumeService(engine);
    const mounted = new Set<string>();
    for (const r of staying) for (const m of r.config.mounts) if (m.type === 'volume' && m.name) mounted.add(m.name);
    for (const v of volumeSvc.list()) {
      if ((!v.anonymous && !opts.allVolumes) || mounted.has(v.name)) continue;
      if (opts.until !== undefined && v.created >= opts.until) continue;
      if (!labelsMatch(opts.labels, v.labels)) continue;
      report.volumes.push({ id: v.name, size: dirSize(v.mountpoint) });
    }
  }

  // 4. Images, as if the containers above were already gone.
  const usedImages = new Set(staying.map((r) => r.config.imageId as string));
  const images = engine.images.list();
  const parents = new Set(images.map((i) => i.parent).filter(Boolean));
  const goingImages = new Set<string>();
  for (const img of want('images') ? images : []) {
    if (usedImages.has(img.id)) continue;
    if (!opts.all && (img.tags.length > 0 || img.repoDigests.length > 0)) continue;
    if (!opts.all && parents.has(img.id)) continue; // intermediate images of a build
    if (opts.until !== undefined && img.created >= opts.until) continue;
    if (!labelsMatch(opts.labels, img.labels)) continue;
    goingImages.add(img.id);
    report.images.push({ id: img.id, size: img.size });
    for (const t of img.tags) report.untagged.push(familiarString(parseReference(t)));
    for (const d of img.repoDigests) report.untagged.push(d.replace(/^docker\.io\/(library\/)?/, ''));
  }
  // What garbage collection frees once these images go (and whatever nothing held already).
  if (want('images')) report.imageBytes = freedBytes(engine, images.filter((i) => !goingImages.has(i.id)), staying);

  // 5. Build cache: every entry (docker's system prune drops the unused cache; nothing here is in use
  // once the command runs, as builds hold no cache entry open).
  const cacheRows = want('buildCache') ? (engine.db.prepare('SELECT key, created FROM build_cache').all() as { key: string; created: number }[]) : [];
  for (const r of cacheRows) {
    if (opts.until !== undefined && r.created >= opts.until) continue;
    report.buildCache.push({ id: r.key, size: 0 });
  }
  // RUN --mount=type=cache directories no build holds (by last use for `until`).
  const { pruneCacheMounts } = await import('../build/cache-mounts.js');
  const mounts = want('buildCache') ? pruneCacheMounts(engine, { ...(opts.until !== undefined ? { until: opts.until } : {}), dryRun: true }) : [];
  for (const m of mounts) report.buildCache.push({ id: `cache mount ${m.id}`, size: m.size });

  const sum = (xs: PrunedItem[]) => xs.reduce((a, x) => a + x.size, 0);
  report.spaceReclaimed = sum(report.containers) + sum(report.volumes) + report.imageBytes + sum(report.buildCache);
  if (report.dryRun) return report;

  const fail = (kind: string, id: string, e: unknown) => report.failed.push({ kind, id, reason: (e as Error)?.message ?? String(e) });
  for (const c of report.containers) {
    try {
      await svc.remove(c.id, {});
    } catch (e) {
      fail('container', c.id, e);
    }
  }
  for (const n of report.networks) {
    try {
      await nets?.remove(n.id);
    } catch (e) {
      fail('network', n.id, e);
    }
  }
  for (const v of report.volumes) {
    try {
      volumeSvc?.remove(v.id);
    } catch (e) {
      fail('volume', v.id, e);
    }
  }
  if (cacheRows.length) {
    writeTx(engine.db, () => {
      const del = engine.db.prepare('DELETE FROM build_cache WHERE key = ?');
      for (const b of report.buildCache) if (!b.id.startsWith('cache mount ')) del.run(b.id);
    });
  }
  if (mounts.length) {
    // Planned from a listing: delete those the plan chose that no build took meanwhile.
    const deleted = new Set(pruneCacheMounts(engine, { only: new Set(mounts.map((m) => m.id)) }).map((m) => m.id));
    for (const m of mounts) if (!deleted.has(m.id)) fail('build cache', `cache mount ${m.id}`, new Error('a build uses it (started after the plan)'));
  }
  const stillUsed = new Set((engine.db.prepare('SELECT image_id FROM containers').all() as { image_id: string }[]).map((r) => r.image_id));
  for (const i of report.images) {
    if (stillUsed.has(i.id)) {
      fail('image', i.id, new Error('a container uses it (created after the plan)'));
      continue;
    }
    try {
      engine.images.delete(i.id as Digest);
    } catch (e) {
      fail('image', i.id, e);
    }
  }
  if (want('images') || report.containers.length) gcLayersAndBlobs(engine);
  return report;
}

/**
 * Bytes the garbage collector frees once only `keptImages` and `keptContainers` remain: layers no
 * remaining chain needs plus blobs no remaining image references (leases count as references).
 */
function freedBytes(engine: Engine, keptImages: ReturnType<Engine['images']['list']>, keptContainers: ContainerRecord[]): number {
  const keep = liveResources(engine, keptImages, keptContainers.map((c) => c.config.imageId));
  let bytes = 0;
  for (const l of engine.layers.list()) if (!keep.layers.has(l.chainId)) bytes += l.size;
  for (const b of engine.blobs.list()) if (!keep.blobs.has(b.digest)) bytes += b.size;
  return bytes;
}
