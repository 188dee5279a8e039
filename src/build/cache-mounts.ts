/**
 * The directories of `RUN --mount=type=cache` (<cache>/build-mounts/<base64url of the id>): kept
 * across builds, counted in `system df`'s Build Cache row and removed by `builder prune` and
 * `system prune`. A step holds its cache directory open with a shared flock(2) (exclusive for
 * `sharing=locked`, so such steps take turns); prune takes the exclusive lock without waiting and
 * leaves a directory a running build holds. The directory's mtime is set at each use: prune's
 * `until` filter keeps the recently used ones.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Engine } from '../engine/engine.js';
import { dirSize, registerUsage } from '../engine/system.js';
import { LOCK_EX, LOCK_SH, flock, tryFlock } from '../sys/libc.js';
import { removeTree } from '../util/remove-tree.js';

export interface CacheMountInfo {
  /** The mount's id (its target when the Dockerfile gave none). */
  id: string;
  dir: string;
  size: number;
  /** Last use, ms since the epoch. */
  lastUsed: number;
  /** A running build holds it. */
  inUse: boolean;
}

function root(engine: Engine): string {
  return path.join(engine.paths.cache, 'build-mounts');
}

/**
 * Opens (creating with `mode`, `uid`, `gid` when new) the cache directory of `id` for one step and
 * locks it; `release` ends the step's hold. A directory pruned while this waited for the lock is
 * created anew.
 */
export function acquireCacheMount(engine: Engine, id: string, o: { mode?: number; uid?: number; gid?: number; exclusive?: boolean }): { dir: string; release(): void } {
  const dir = path.join(root(engine), Buffer.from(id).toString('base64url'));
  for (;;) {
    if (!fs.existsSync(dir)) {
      fs.mkdirSync(root(engine), { recursive: true });
      const tmp = `${dir}.new-${process.pid}`;
      fs.mkdirSync(tmp, { mode: o.mode ?? 0o755 });
      fs.chmodSync(tmp, o.mode ?? 0o755);
      fs.chownSync(tmp, o.uid ?? 0, o.gid ?? 0);
      try {
        fs.renameSync(tmp, dir);
      } catch {
        fs.rmdirSync(tmp); // another build made it first
      }
    }
    let fd: number;
    try {
      fd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    } catch {
      continue; // pruned between the check and the open
    }
    flock(fd, o.exclusive ? LOCK_EX : LOCK_SH, dir);
    let same = false;
    try {
      same = fs.statSync(dir).ino === fs.fstatSync(fd).ino;
    } catch {
      /* pruned while we waited */
    }
    if (!same) {
      fs.closeSync(fd);
      continue;
    }
    const now = new Date();
    fs.utimesSync(dir, now, now);
    return { dir, release: () => fs.closeSync(fd) };
  }
}

/** Every cache directory with its size and whether a build holds it. */
export function listCacheMounts(engine: Engine): CacheMountInfo[] {
  let names: string[];
  try {
    names = fs.readdirSync(root(engine));
  } catch {
    return [];
  }
  const out: CacheMountInfo[] = [];
  for (const name of names) {
    if (name.includes('.')) continue; // .new-PID being made, .trash-PID being deleted
    const dir = path.join(root(engine), name);
    let fd: number;
    try {
      fd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    } catch {
      continue;
    }
    try {
      const inUse = !tryFlock(fd, LOCK_EX, dir);
      out.push({ id: Buffer.from(name, 'base64url').toString(), dir, size: dirSize(dir), lastUsed: fs.fstatSync(fd).mtimeMs, inUse });
    } finally {
      fs.closeSync(fd);
    }
  }
  return out.sort((a, b) => a.id.localeCompare(b.id));
}

/**
 * Deletes the cache directories no build holds (and, with `until`, last used before it). Each is
 * renamed away under its exclusive lock first, so a build never mounts a half-deleted cache. `only`:
 * just these ids (a plan made earlier).
 * @returns what was (or, with `dryRun`, would be) deleted.
 */
export function pruneCacheMounts(engine: Engine, opts: { until?: number; dryRun?: boolean; only?: ReadonlySet<string> } = {}): CacheMountInfo[] {
  const gone: CacheMountInfo[] = [];
  for (const m of listCacheMounts(engine)) {
    if (m.inUse || (opts.until !== undefined && m.lastUsed >= opts.until) || (opts.only && !opts.only.has(m.id))) continue;
    if (opts.dryRun) {
      gone.push(m);
      continue;
    }
    let fd: number;
    try {
      fd = fs.openSync(m.dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    } catch {
      continue;
    }
    const trash = `${m.dir}.trash-${process.pid}`;
    try {
      if (!tryFlock(fd, LOCK_EX, m.dir)) continue; // a build took it since the listing
      fs.renameSync(m.dir, trash);
    } catch {
      continue;
    } finally {
      fs.closeSync(fd);
    }
    removeTree(trash);
    gone.push(m);
  }
  return gone;
}

registerUsage((engine: Engine) => {
  const mounts = listCacheMounts(engine);
  const active = mounts.filter((m) => m.inUse);
  const size = mounts.reduce((a, m) => a + m.size, 0);
  return {
    type: 'Build Cache',
    total: mounts.length,
    active: active.length,
    size,
    reclaimable: size - active.reduce((a, m) => a + m.size, 0),
    items: mounts.map((m) => ({ name: m.id, size: m.size, note: `RUN --mount=type=cache${m.inUse ? ', in use' : ''}` })),
  };
});
