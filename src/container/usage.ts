/**
 * The Containers row of `system df`: the disk that containers' writable layers hold; what stopped
 * containers hold is reclaimable (it is what `rm` and `container prune` would free).
 */
import type { Engine } from '../engine/engine.js';
import { registerUsage } from '../engine/system.js';
import { ContainerService } from './service.js';

registerUsage((engine: Engine) => {
  const svc = new ContainerService(engine);
  const recs = svc.list();
  let size = 0;
  let reclaimable = 0;
  let active = 0;
  const items: { name: string; size: number; note?: string }[] = [];
  for (const r of recs) {
    const u = svc.writableLayerUsage(r.config.id);
    const live = r.state.status === 'running' || r.state.status === 'paused' || r.state.status === 'restarting';
    size += u.bytes;
    if (live) active++;
    else reclaimable += u.bytes;
    items.push({ name: r.config.name, size: u.bytes, note: `${r.state.status}, ${u.files} changed file${u.files === 1 ? '' : 's'}` });
  }
  return { type: 'Containers', total: recs.length, active, size, reclaimable, items };
});
