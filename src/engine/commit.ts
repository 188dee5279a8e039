/**
 * commit: a container's writable layer becomes a new layer on top of its image; the container's
 * configuration (plus `--change`s) becomes the new image's config. The original image is untouched.
 */
import { PassThrough } from 'node:stream';
import type { ContainerService } from '../container/service.js';
import { BerthError } from '../errors.js';
import { applyChanges } from '../image/changes.js';
import type { ImageRecord } from '../image/image-store.js';
import type { ContainerDefaults, HistoryEntry } from '../image/oci.js';
import { parseReference } from '../image/reference.js';
import { writeLayerTar } from '../layer/diff.js';
import { imageLayers, ingestLayer, readConfig, writeImage } from './images.js';
import { withLease } from './leases.js';

export interface CommitOptions {
  tag?: string;
  message?: string;
  author?: string;
  changes?: string[];
  pause?: boolean;
}

export async function commitContainer(svc: ContainerService, idOrName: string, o: CommitOptions = {}): Promise<ImageRecord> {
  const engine = svc.engine;
  if (o.tag) parseReference(o.tag);
  const rec = svc.get(idOrName);
  const c = rec.config;
  const base = engine.images.get(c.imageId);
  if (!base) throw new BerthError('failed_precondition', `the image of container ${c.name} is gone`);
  const baseCfg = readConfig(engine, base);
  const defaults: ContainerDefaults = applyChanges(
    {
      ...(baseCfg.config ?? {}),
      Env: c.env,
      Cmd: c.cmd.length ? c.cmd : null,
      Entrypoint: c.entrypoint.length ? c.entrypoint : null,
      WorkingDir: c.workingDir === '/' && !baseCfg.config?.WorkingDir ? '' : c.workingDir,
      User: c.user,
      Labels: c.labels,
      ExposedPorts: c.exposedPorts.length ? Object.fromEntries(c.exposedPorts.map((p) => [p, {}])) : undefined,
      StopSignal: c.stopSignal === 'SIGTERM' && !baseCfg.config?.StopSignal ? undefined : c.stopSignal,
    },
    o.changes ?? [],
  );
  for (const k of Object.keys(defaults) as (keyof ContainerDefaults)[]) if (defaults[k] === undefined) delete defaults[k];
  const shouldPause = o.pause !== false && rec.state.status === 'running';
  if (shouldPause) await svc.pause(c.id);
  try {
    return await withLease(engine.db, async (lease) => {
      const pipe = new PassThrough({ highWaterMark: 1 << 20 });
      const writing = writeLayerTar(svc.dirs(c.id).upper, pipe).catch((e: unknown) => {
        pipe.destroy(e as Error);
        throw e;
      });
      const [{ ref }] = await Promise.all([ingestLayer(engine, base.topLayer, pipe, { lease }), writing]);
      const now = new Date().toISOString();
      const h: HistoryEntry = { created: now, created_by: [...c.entrypoint, ...c.cmd].join(' ') };
      if (o.message) h.comment = o.message;
      if (o.author) h.author = o.author;
      const cfg = { ...baseCfg, created: now, config: defaults, history: [...(baseCfg.history ?? []), h] } as Omit<typeof baseCfg, 'rootfs'> & { rootfs?: unknown };
      delete cfg.rootfs;
      if (o.author) cfg.author = o.author;
      return writeImage(engine, {
        config: cfg,
        layers: [...imageLayers(engine, base), ref],
        parent: base.id,
        tags: o.tag ? [o.tag] : [],
        lease,
      });
    });
  } finally {
    if (shouldPause) await svc.unpause(c.id).catch(() => undefined);
  }
}
