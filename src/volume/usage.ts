/**
 * The Local Volumes row of `system df`: every volume's data; what no container mounts is
 * reclaimable (what `volume prune --all` would free), as docker counts it.
 */
import type { Engine } from '../engine/engine.js';
import { dirSize, registerUsage } from '../engine/system.js';
import { VolumeService } from './service.js';

registerUsage((engine: Engine) => {
  const svc = new VolumeService(engine);
  let size = 0;
  let reclaimable = 0;
  let active = 0;
  const items: { name: string; size: number; note?: string }[] = [];
  const vols = svc.list();
  for (const v of vols) {
    const bytes = dirSize(v.mountpoint);
    const users = svc.users(v.name).length;
    size += bytes;
    if (users > 0) active++;
    else reclaimable += bytes;
    items.push({ name: v.name, size: bytes, note: `${users} container${users === 1 ? '' : 's'}` });
  }
  return { type: 'Local Volumes', total: vols.length, active, size, reclaimable, items };
});
