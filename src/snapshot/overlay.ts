/**
 * A container's root file system: the image's layers as overlay lower directories under the
 * container's own upper directory. `prepareMounts` returns the mount as data (containerd's
 * snapshotter pattern); `mountRootfs` performs it through FFI, with lowerdir paths made relative
 * to the store root (short links) so long layer chains fit in one page of mount options.
 * Where overlay is unavailable the copy fallback materialises the layers into the upper dir.
 */
import fs from 'node:fs';
import path from 'node:path';
import { BerthError } from '../errors.js';
import { LOCK_EX, MNT_DETACH, flock, mount, spawnDetached, umount } from '../sys/libc.js';
import type { LayerStore } from './layer-store.js';
import type { Digest } from '../content/digest.js';

export interface MountSpec {
  type: 'overlay' | 'bind';
  source: string;
  /** Options; lowerdir entries are relative to `cwd` when set. */
  options: string[];
  cwd?: string;
}

export interface RootfsDirs {
  upper: string;
  work: string;
  merged: string;
  /**
   * The container's init layer (docker's "-init"): mount points the runtime needs (/etc/hosts,
   * /proc, /dev/shm, ...) as the top-most lower dir, so they never show up in diff or commit.
   */
  init: string;
  /**
   * Mount with overlay's `volatile` option: no sync of the upper directory, ever, so unmounting
   * does not flush the whole file system the store lives on (1-13 ms here, more while other
   * processes write). For what is thrown away anyway: `run --rm` containers (as podman does) and
   * build steps (as buildah does). After a host crash such an upper directory may be incomplete.
   */
  volatile?: boolean;
}

const PAGE = 4096;

export function prepareMounts(layers: LayerStore, top: Digest | null, dirs: RootfsDirs): MountSpec {
  const chain = layers.lowerChain(top);
  const lowers = [path.relative(layers.root, dirs.init), ...chain.map((l) => layers.shortPath(l.chainId))];
  const options = [`lowerdir=${lowers.join(':')}`, `upperdir=${dirs.upper}`, `workdir=${dirs.work}`];
  const data = options.join(',');
  if (data.length >= PAGE)
    throw new BerthError('failed_precondition', `image has too many layers (${chain.length}) for one overlay mount`, {
      hint: 'squash the image (berth export | berth import) to reduce its layers',
    });
  return { type: 'overlay', source: 'overlay', options, cwd: layers.root };
}

let overlayOk: boolean | undefined;

/** Mounts the root file system at dirs.merged. Overlay where the kernel has it, else a copy. */
export function mountRootfs(layers: LayerStore, top: Digest | null, dirs: RootfsDirs): void {
  for (const d of [dirs.upper, dirs.work, dirs.merged]) fs.mkdirSync(d, { recursive: true });
  makeInitLayer(dirs.init);
  if (isMounted(dirs.merged)) return;
  overlayOk ??= fs.readFileSync('/proc/filesystems', 'utf8').includes('\toverlay\n') && process.env.BERTH_SNAPSHOTTER !== 'copy';
  if (!overlayOk) {
    copyFallback(layers, top, dirs);
    return;
  }
  const spec = prepareMounts(layers, top, dirs);
  // A volatile mount leaves work/work/incompat/volatile behind, and overlay refuses to mount the
  // directories again while it exists: remounting is a decision made here, not by the kernel.
  fs.rmSync(path.join(dirs.work, 'work', 'incompat'), { recursive: true, force: true });
  const prev = process.cwd();
  process.chdir(spec.cwd ?? '/');
  try {
    const volatile = dirs.volatile === true && volatileOk !== false;
    try {
      mount('overlay', dirs.merged, 'overlay', 0, [...spec.options, ...(volatile ? ['volatile'] : [])].join(','));
      if (volatile) volatileOk = true;
    } catch (e) {
      // Kernels before 5.10 do not know the option (EINVAL): mount as usual from then on.
      if (!volatile || volatileOk === true || (e as { code?: string }).code !== 'EINVAL') throw e;
      volatileOk = false;
      mount('overlay', dirs.merged, 'overlay', 0, spec.options.join(','));
    }
  } catch (e) {
    throw new BerthError('internal', `mounting the container's root file system: ${(e as Error).message}`, { cause: e });
  } finally {
    process.chdir(prev);
  }
}

/** Whether this kernel's overlay takes `volatile` (undefined: not tried yet). */
let volatileOk: boolean | undefined;

const INIT_DIRS = ['dev/pts', 'dev/shm', 'dev/mqueue', 'proc', 'sys', 'etc'];
const INIT_FILES = ['etc/hosts', 'etc/hostname', 'etc/resolv.conf', 'dev/console', '.dockerenv'];

/**
 * Creates the init layer once (idempotent). Containers share one (`<root>/init-layer`): it only
 * holds empty mount points and is a read-only lower directory, so one copy serves all and a
 * container's create and removal skip a dozen file system operations each. It is built under a
 * temporary name and renamed into place, so a concurrent mount never sees it half made.
 */
export function makeInitLayer(dir: string): void {
  if (fs.existsSync(path.join(dir, '.dockerenv'))) return;
  const tmp = `${dir}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  for (const d of INIT_DIRS) fs.mkdirSync(path.join(tmp, d), { recursive: true, mode: 0o755 });
  for (const f of INIT_FILES) fs.writeFileSync(path.join(tmp, f), '', { mode: 0o644 });
  try {
    fs.renameSync(tmp, dir);
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    // Another process put it in place first (or an older, per-container layout left a directory).
    if (!fs.existsSync(path.join(dir, '.dockerenv'))) throw e;
  }
}

/** The copy snapshotter: layers are applied into the upper dir once, then bind-mounted. */
function copyFallback(layers: LayerStore, top: Digest | null, dirs: RootfsDirs): void {
  const marker = path.join(path.dirname(dirs.upper), '.copied');
  if (!fs.existsSync(marker)) {
    for (const l of layers.lowerChain(top).reverse()) {
      copyTreeApplyingWhiteouts(layers.layerDir(l.chainId), dirs.upper);
    }
    copyTreeApplyingWhiteouts(dirs.init, dirs.upper);
    fs.writeFileSync(marker, '');
  }
  mount(dirs.upper, dirs.merged, null, 0x1000 /* MS_BIND */, null);
}

function copyTreeApplyingWhiteouts(src: string, dst: string): void {
  for (const e of fs.readdirSync(src, { withFileTypes: true })) {
    const s = path.join(src, e.name);
    const d = path.join(dst, e.name);
    const st = fs.lstatSync(s);
    if (e.isCharacterDevice() && st.rdev === 0) {
      fs.rmSync(d, { recursive: true, force: true });
      continue;
    }
    if (e.isDirectory()) {
      if (!(fs.existsSync(d) && fs.lstatSync(d).isDirectory())) {
        fs.rmSync(d, { force: true, recursive: true });
        fs.mkdirSync(d);
      }
      fs.chmodSync(d, st.mode & 0o7777);
      fs.lchownSync(d, st.uid, st.gid);
      copyTreeApplyingWhiteouts(s, d);
      continue;
    }
    fs.rmSync(d, { recursive: true, force: true });
    if (e.isSymbolicLink()) fs.symlinkSync(fs.readlinkSync(s), d);
    else if (e.isFile()) fs.copyFileSync(s, d);
    else continue;
    fs.lchownSync(d, st.uid, st.gid);
    if (!e.isSymbolicLink()) fs.chmodSync(d, st.mode & 0o7777);
  }
}

/** Whether `target` is a mount point now; waits first for a deferred unmount of it (unmountRootfsLater). */
export function isMounted(target: string): boolean {
  const t = path.resolve(target);
  settleUnmount(t);
  try {
    return fs
      .readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .some((l) => l.split(' ')[4] === t);
  } catch {
    return false;
  }
}

/** The lock a deferred unmount of `merged` holds until the kernel has let the mount go. */
function unmountLock(merged: string): string {
  return `${merged}.unmount-lock`;
}

/**
 * Unmounts `merged` in a detached `umount` process (spawnDetached) and returns at once. Unmounting an overlay
 * that was not mounted `volatile` syncs the whole file system its upper directory lives on (14-22
 * ms here, more while anything else writes): `stop` of a kept container, or a foreground `run`
 * of one, need not make its caller wait for that. The child inherits an flock(2) taken here, so the lock
 * is held from before this returns until the unmount (sync included) has finished; everything
 * that next mounts, inspects or deletes the root file system goes through isMounted or
 * mountRootfs, which wait for it (settleUnmount). If the child cannot be started, the unmount
 * happens here, synchronously.
 */
export function unmountRootfsLater(merged: string): void {
  const t = path.resolve(merged);
  if (!isMounted(t)) return;
  let fd: number | undefined;
  try {
    fd = fs.openSync(unmountLock(t), fs.constants.O_RDONLY | fs.constants.O_CREAT, 0o600);
    flock(fd, LOCK_EX, unmountLock(t));
    // --lazy as unmountRootfs; -i: no /sbin/umount.<type> helpers; -c: the path is already canonical.
    // The lock file goes once the unmount is done, so later commands see at a glance (without
    // loading the FFI library for flock) that nothing is pending.
    spawnDetached(['sh', '-c', 'umount --lazy -i -c "$1"; rm -f "$2"', 'berth-unmount', t, unmountLock(t)], { passFd: fd });
  } catch {
    unmountRootfs(t);
  } finally {
    if (fd !== undefined) fs.closeSync(fd); // the child's copy keeps the lock
  }
}

/**
 * Waits until no deferred unmount of `target` is in progress: free when its lock file is gone (no
 * unmount pending, or it has finished), else flock until the unmounting process lets go.
 */
function settleUnmount(target: string): void {
  const lock = unmountLock(target);
  if (!fs.existsSync(lock)) return;
  let fd: number;
  try {
    fd = fs.openSync(lock, fs.constants.O_RDONLY);
  } catch {
    return; // removed with the container's run directory
  }
  try {
    flock(fd, LOCK_EX, lock);
  } finally {
    fs.closeSync(fd);
  }
}

/** Unmounts if mounted; a missing or already unmounted target is fine. */
export function unmountRootfs(merged: string): void {
  try {
    umount(merged, MNT_DETACH);
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code !== 'EINVAL' && code !== 'ENOENT') throw e;
  }
}
