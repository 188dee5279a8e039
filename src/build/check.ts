/**
 * Build part of `system check`: what a build process leaves when it is killed (SIGKILL, OOM, power
 * loss) in the middle of a step. Every such thing carries its builder's pid in its name (step and
 * context directories under <root>/cache/build-tmp, RUN runtime containers and their cgroups named
 * berth-build-<pid>-<random>, the stat cache's temporary file), so leftovers of dead builders are
 * told apart from those of builds still running, which are never touched:
 * - a RUN runtime container (its process may still run: the runtime outlives the builder),
 * - its cgroup,
 * - the step's overlay mount and directory (the mount is detached before anything is removed, so
 *   removal never reaches through it into the layers below).
 */
import fs from 'node:fs';
import path from 'node:path';
import { registerCheck } from '../engine/check.js';
import type { Engine } from '../engine/engine.js';
import { cgroupPaths, removeCgroup } from '../runtime/cgroups.js';
import { OciRuntime } from '../runtime/oci-runtime.js';
import { unmountRootfs } from '../snapshot/overlay.js';
import { pidAlive } from '../util/process.js';
import { removeTree } from '../util/remove-tree.js';
import { BUILD_CONTAINER_PREFIX, ownerPid } from '../util/owner-pid.js';

/** Leftovers without an owner pid in their name (older Berth) count as dead after this. */
const LEGACY_AGE_MS = 60_000;


/** True when the thing named `name` belongs to a builder that is gone. */
function orphaned(name: string, prefix: string, file: string): boolean {
  const pid = ownerPid(name, prefix);
  if (pid !== undefined) return !pidAlive(pid);
  try {
    return Date.now() - fs.lstatSync(file).mtimeMs > LEGACY_AGE_MS;
  } catch {
    return false;
  }
}

/** Mount points at or below `dir`, deepest first. */
function mountsBelow(dir: string): string[] {
  const d = path.resolve(dir);
  let info = '';
  try {
    info = fs.readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return [];
  }
  return info
    .split('\n')
    .map((l) => (l.split(' ')[4] ?? '').replace(/\\040/g, ' '))
    .filter((m) => m === d || m.startsWith(`${d}/`))
    .sort((a, b) => b.length - a.length);
}

export async function checkBuildLeftovers(engine: Engine, repair: boolean, add: (kind: string, detail: string, repaired: boolean) => void): Promise<void> {
  const report = (detail: string, fix: () => void) => {
    if (repair) {
      try {
        fix();
      } catch (e) {
        add('build', `${detail} (repair failed: ${(e as Error).message})`, false);
        return;
      }
    }
    add('build', detail, repair);
  };

  // 1. RUN containers of dead builders: stopping them first releases their root file systems.
  const stateDir = path.join(engine.paths.runtimeState, 'build');
  const runtime = new OciRuntime({ binary: engine.options.runtime ?? 'runc', root: stateDir });
  for (const n of fs.existsSync(stateDir) ? fs.readdirSync(stateDir) : []) {
    if (!orphaned(n, BUILD_CONTAINER_PREFIX, path.join(stateDir, n))) continue;
    report(`RUN container ${n} of a build that died`, () => runtime.deleteSync(n, { force: true }));
  }

  // 2. Their cgroups (the runtime removes a cgroup when it deletes its container; this catches the
  //    ones whose runtime state was already gone).
  const seen = new Set<string>();
  for (const p of cgroupPaths(engine.paths.cgroupParent)) {
    let names: string[] = [];
    try {
      names = fs.readdirSync(p, { withFileTypes: true }).filter((e) => e.isDirectory() && e.name.startsWith(BUILD_CONTAINER_PREFIX)).map((e) => e.name);
    } catch {
      continue;
    }
    for (const n of names) {
      if (seen.has(n) || !orphaned(n, BUILD_CONTAINER_PREFIX, path.join(p, n))) continue;
      seen.add(n);
      report(`cgroup ${n} of a build that died`, () => void removeCgroup(`${engine.paths.cgroupParent}/${n}`));
    }
  }

  // 3. Step and context directories, with the overlay a RUN step had mounted in them.
  const tmpDir = path.join(engine.paths.cache, 'build-tmp');
  for (const n of fs.existsSync(tmpDir) ? fs.readdirSync(tmpDir) : []) {
    const dir = path.join(tmpDir, n);
    if (!orphaned(n, '', dir)) continue;
    const mounts = mountsBelow(dir);
    report(`build step directory ${n} of a build that died${mounts.length ? ` (${mounts.length} mount(s))` : ''}`, () => {
      for (const m of mountsBelow(dir)) unmountRootfs(m);
      const still = mountsBelow(dir);
      // Never remove through a mount: that would delete files of the layers below it.
      if (still.length) throw new Error(`still mounted: ${still.join(', ')}`);
      fs.rmSync(dir, { recursive: true, force: true });
    });
  }

  // 4. Cache mount directories a build was making (.new-<pid>) or prune was deleting (.trash-<pid>).
  const mountsDir = path.join(engine.paths.cache, 'build-mounts');
  for (const n of fs.existsSync(mountsDir) ? fs.readdirSync(mountsDir) : []) {
    const m = /\.(new|trash)-(\d+)$/.exec(n);
    if (!m || pidAlive(Number(m[2]))) continue;
    report(`${m[1] === 'new' ? 'unfinished' : 'half-deleted'} RUN cache mount directory ${n}`, () => removeTree(path.join(mountsDir, n)));
  }

  // 5. The stat cache's temporary file (written, then renamed over the cache).
  for (const n of fs.existsSync(engine.paths.cache) ? fs.readdirSync(engine.paths.cache) : []) {
    const m = /^build-stat-cache\.json\.(\d+)\.tmp$/.exec(n);
    if (!m || pidAlive(Number(m[1]))) continue;
    report(`unfinished build stat cache write ${n}`, () => fs.rmSync(path.join(engine.paths.cache, n), { force: true }));
  }
}

registerCheck(checkBuildLeftovers);
