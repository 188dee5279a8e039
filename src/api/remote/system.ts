/** version, info, system df, system prune and events over the Engine API. */
import { type ParsedArgs, bool, list, str } from '../../cli/args.js';
import type { CliContext } from '../../cli/context.js';
import type { SystemPruneReport } from '../../engine/prune.js';
import { EVENT_FILTERS, eventTime, printEvent } from '../../cli/commands/events.js';
import { parseFilterFlags } from '../../cli/commands/common.js';
import { printDiskUsage, printInfo } from '../../cli/commands/system.js';
import type { EngineEvent } from '../../engine/events.js';
import { BerthError } from '../../errors.js';
import type { ApiClient } from '../client.js';
import { type RemoteTable, qs } from './common.js';

/**
 * `system prune` as the docker CLI does it: the prune endpoints one kind at a time, in the local
 * command's order (containers first, so images they held go too; the build cache before the
 * images), with one `until` time for all.
 * Each endpoint is the engine's system prune of its kind, so the sum is what a local run removes.
 */
async function systemPruneRemote(c: ApiClient, ctx: CliContext, p: ParsedArgs): Promise<number> {
  const { confirmSystemPrune, printSystemPrune, pruneOptions } = await import('../../cli/commands/system.js');
  const { opts } = await pruneOptions(p);
  Object.assign(opts, { all: bool(p, 'all'), volumes: bool(p, 'volumes') });
  if (!(await confirmSystemPrune(ctx, p, opts))) return 1;
  const base: Record<string, string[]> = {};
  if (opts.until !== undefined) base.until = [(opts.until / 1000).toFixed(3)];
  if (opts.labels) base.label = opts.labels;
  const post = <T>(path: string, extra: Record<string, string[]> = {}, q: Record<string, string | boolean> = {}) =>
    c.json<T & { SpaceReclaimed?: number }>('POST', `${path}${qs({ ...q, filters: JSON.stringify({ ...base, ...extra }) })}`);
  const r: SystemPruneReport = { dryRun: false, containers: [], networks: [], volumes: [], images: [], untagged: [], imageBytes: 0, buildCache: [], spaceReclaimed: 0, failed: [] };
  const items = (ids: string[] | null) => (ids ?? []).map((id) => ({ id, size: 0 }));
  const ctr = await post<{ ContainersDeleted: string[] | null }>('/containers/prune');
  r.containers = items(ctr.ContainersDeleted);
  r.networks = items((await post<{ NetworksDeleted: string[] | null }>('/networks/prune')).NetworksDeleted);
  const vol = opts.volumes ? await post<{ VolumesDeleted: string[] | null }>('/volumes/prune') : undefined;
  r.volumes = items(vol?.VolumesDeleted ?? null);
  // The build cache before the images, as the local prune does (an image's removal drops its entries).
  const cache = await post<{ CachesDeleted: string[] | null }>('/build/prune', {}, { all: opts.all === true });
  r.buildCache = items(cache.CachesDeleted);
  const img = await post<{ ImagesDeleted: { Untagged?: string; Deleted?: string }[] | null }>('/images/prune', opts.all ? { dangling: ['false'] } : {});
  for (const x of img.ImagesDeleted ?? []) {
    if (x.Untagged) r.untagged.push(x.Untagged);
    if (x.Deleted) r.images.push({ id: x.Deleted, size: 0 });
  }
  r.spaceReclaimed = [ctr, vol, img, cache].reduce((a, x) => a + (x?.SpaceReclaimed ?? 0), 0);
  return printSystemPrune(ctx, r);
}

export const SYSTEM_COMMANDS: RemoteTable = {
  version: {
    run: async (c, ctx) => {
      const v = await c.json<{ Version: string; ApiVersion: string }>('GET', '/version');
      const { VERSION } = await import('../../version.js');
      ctx.out(`Client: Berth ${VERSION}\nServer: Berth ${v.Version} (API ${v.ApiVersion}) at unix://${c.socketPath}`);
      return 0;
    },
  },
  'system info': {
    run: async (c, ctx, p) => {
      const r = await c.json<{ BerthInfo?: Record<string, unknown> }>('GET', '/info');
      if (!r.BerthInfo) throw new BerthError('not_implemented', 'the service did not send its system summary (an older Berth?)');
      await printInfo(ctx, p, r.BerthInfo);
      return 0;
    },
  },
  'builder prune': {
    run: async (c, ctx, p) => {
      const { pruneOptions } = await import('../../cli/commands/system.js');
      const { opts } = await pruneOptions(p);
      const filters = opts.until !== undefined ? { until: [(opts.until / 1000).toFixed(3)] } : {};
      const r = await c.json<{ CachesDeleted: string[] | null; SpaceReclaimed?: number }>('POST', `/build/prune${qs({ all: bool(p, 'all'), filters: JSON.stringify(filters) })}`);
      if (r.CachesDeleted?.length) ctx.out(`Deleted build cache objects:\n${r.CachesDeleted.join('\n')}\n`);
      const { humanSize } = await import('../../util/human.js');
      ctx.out(`Total reclaimed space: ${humanSize(r.SpaceReclaimed ?? 0)}`);
      return 0;
    },
  },
  'system prune': {
    run: systemPruneRemote,
    localOnly: { 'dry-run': 'the API’s prune endpoints have no dry run' },
  },
  'system df': {
    run: async (c, ctx, p) => {
      const r = await c.json<{ BerthUsage?: import('../../engine/system.js').UsageRow[] }>('GET', '/system/df');
      if (!r.BerthUsage) throw new BerthError('not_implemented', 'the service did not send its disk usage summary (an older Berth?)');
      printDiskUsage(ctx, p, r.BerthUsage);
      return 0;
    },
  },
  'system events': {
    run: async (c, ctx, p) => {
      const f = parseFilterFlags(list(p, 'filter'), EVENT_FILTERS);
      const since = eventTime(str(p, 'since'), 'since');
      const until = eventTime(str(p, 'until'), 'until');
      const filters = f.size ? JSON.stringify(Object.fromEntries(f)) : undefined;
      const res = await c.stream('GET', `/events${qs({ since: since !== undefined ? (since / 1000).toFixed(3) : undefined, until: until !== undefined ? (until / 1000).toFixed(3) : undefined, filters })}`);
      const stop = () => res.destroy();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      const fmt = str(p, 'format');
      let rest = '';
      try {
        for await (const chunk of res) {
          rest += (chunk as Buffer).toString();
          const lines = rest.split('\n');
          rest = lines.pop() ?? '';
          for (const l of lines) if (l.trim()) printEvent(ctx, fmt, JSON.parse(l) as EngineEvent);
        }
      } catch (e) {
        if (!res.destroyed) throw e;
      } finally {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
      }
      return 0;
    },
  },
};
