/**
 * The stale-image check `run` does for built images: the context digest recorded at build time
 * (ImageMeta.buildContext) against the directory as it is now. Uses the build's stat cache, so an
 * unchanged context costs a directory walk and no file reads.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Engine } from '../engine/engine.js';
import type { ImageRecord } from '../image/image-store.js';
import { BuildContext, StatCache } from './context.js';

/**
 * A warning when the image was built from a directory whose content has changed since, else
 * undefined. Never throws: a context that is gone or unreadable gives no warning.
 */
export function staleContextWarning(engine: Engine, img: ImageRecord, shownName: string): string | undefined {
  const bc = img.meta.buildContext;
  if (!bc || !bc.dir || !fs.existsSync(bc.dir)) return undefined;
  try {
    const statCache = new StatCache(path.join(engine.paths.cache, 'build-stat-cache.json'));
    const opts = bc.dockerfile && bc.dockerfile !== '-' && fs.existsSync(bc.dockerfile) ? { dockerfilePath: bc.dockerfile, statCache } : { dockerfileText: '', statCache };
    const ctx = BuildContext.fromDir(bc.dir, opts);
    const now = ctx.digest();
    ctx.dispose();
    if (now === bc.digest) return undefined;
    const dockerfile = bc.dockerfile && bc.dockerfile !== '-' && path.dirname(bc.dockerfile) !== bc.dir ? ` -f ${bc.dockerfile}` : '';
    return `warning: image ${shownName} was built from ${bc.dir}, which has changed since; rebuild with: berth build -t ${shownName}${dockerfile} ${bc.dir}`;
  } catch {
    return undefined;
  }
}
