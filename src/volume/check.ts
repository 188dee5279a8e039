/**
 * Volume part of `system check`: mounts of local-driver volumes with options (-o type=...) held for
 * containers that are gone or no longer running (a berth killed between start and exit), and mounts
 * on a volume's _data that no container holds.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ContainerStore } from '../container/store.js';
import { registerCheck } from '../engine/check.js';
import { isMountPoint, readVolumeUsers, releaseVolumeMounts, unmountForRemoval } from './mounts.js';

registerCheck((engine, repair, add) => {
  const report = (detail: string, fix: () => void) => {
    if (repair) {
      try {
        fix();
      } catch (e) {
        add('volume', `${detail} (repair failed: ${(e as Error).message})`, false);
        return;
      }
    }
    add('volume', detail, repair);
  };
  const live = new Set(
    new ContainerStore(engine.db)
      .list()
      .filter((c) => c.state.status === 'running' || c.state.status === 'paused' || c.state.status === 'restarting')
      .map((c) => c.config.id),
  );
  // Volumes with a live user, and those reported (and, with repair, released) for stale users.
  const seen = new Set<string>();
  for (const { name, users } of readVolumeUsers(engine)) {
    seen.add(name);
    const stale = users.filter((id) => !live.has(id));
    for (const id of stale) report(`volume ${name} is mounted for container ${id.slice(0, 12)}, which is not running`, () => releaseVolumeMounts(engine, id));
  }
  const root = engine.paths.volumes;
  for (const name of fs.existsSync(root) ? fs.readdirSync(root) : []) {
    if (seen.has(name) || name.startsWith('.')) continue;
    if (isMountPoint(path.join(root, name, '_data'))) report(`volume ${name} is mounted but no container uses it`, () => unmountForRemoval(engine, name));
  }
});
