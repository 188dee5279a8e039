/**
 * The prune endpoints (/containers, /networks, /volumes, /images and /build prune): each is
 * engine/prune.ts's systemPrune limited to its kind, the function the CLI's prune commands run, in
 * Docker's response shapes. Docker's filters: until and label; dangling=false (images: every
 * unused image, not only dangling ones); all=true (volumes: named ones too).
 */
import type { Engine } from '../engine/engine.js';
import type { PruneKind, SystemPruneOptions, SystemPruneReport } from '../engine/prune.js';
import { parseTimeArg } from './containers.js';
import { type ApiContext, type Router, qBool, qFilters, sendJson } from './http.js';

export function registerPrune(router: Router, engine: Engine): void {
  const prune = async (ctx: ApiContext, kind: PruneKind, allowed: string[], more: (f: Map<string, string[]>) => Partial<SystemPruneOptions> = () => ({})): Promise<SystemPruneReport> => {
    const f = qFilters(ctx.query, ['until', 'label', ...allowed]);
    const o: SystemPruneOptions = { only: [kind], ...more(f) };
    const until = f.get('until')?.[0];
    if (until) o.until = parseTimeArg(until, 'until');
    const labels = f.get('label');
    if (labels?.length) o.labels = labels;
    const { systemPrune } = await import('../engine/prune.js');
    return systemPrune(engine, o);
  };
  const orNull = <T>(xs: T[]) => (xs.length ? xs : null);
  const truthy = (v: string | undefined) => v === 'true' || v === '1';

  router.add('POST', '/containers/prune', async (ctx) => {
    const r = await prune(ctx, 'containers', []);
    sendJson(ctx, 200, { ContainersDeleted: orNull(r.containers.map((c) => c.id)), SpaceReclaimed: r.spaceReclaimed });
  });
  router.add('POST', '/networks/prune', async (ctx) => {
    const r = await prune(ctx, 'networks', []);
    sendJson(ctx, 200, { NetworksDeleted: orNull(r.networks.map((n) => n.id)) });
  });
  router.add('POST', '/volumes/prune', async (ctx) => {
    const r = await prune(ctx, 'volumes', ['all'], (f) => ({ allVolumes: truthy(f.get('all')?.[0]) }));
    sendJson(ctx, 200, { VolumesDeleted: orNull(r.volumes.map((v) => v.id)), SpaceReclaimed: r.spaceReclaimed });
  });
  router.add('POST', '/images/prune', async (ctx) => {
    const r = await prune(ctx, 'images', ['dangling'], (f) => ({ all: ['false', '0'].includes(f.get('dangling')?.[0] ?? '') }));
    sendJson(ctx, 200, {
      ImagesDeleted: orNull([...r.untagged.map((u) => ({ Untagged: u })), ...r.images.map((i) => ({ Deleted: i.id }))]),
      SpaceReclaimed: r.spaceReclaimed,
    });
  });
  // Berth's build cache (step results, RUN cache mounts) holds nothing once a build ends: `all` changes nothing.
  router.add('POST', '/build/prune', async (ctx) => {
    qBool(ctx.query, 'all');
    const r = await prune(ctx, 'buildCache', []);
    sendJson(ctx, 200, { CachesDeleted: orNull(r.buildCache.map((b) => b.id)), SpaceReclaimed: r.spaceReclaimed });
  });
}
