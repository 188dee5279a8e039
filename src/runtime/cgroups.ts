/**
 * Direct access to a container's cgroups, for cgroup v1 (including "hybrid" hosts such as this one: v1
 * controllers plus an almost empty cgroup2 at /sys/fs/cgroup/unified) and pure cgroup v2.
 *
 * Paths are what runc's cgroupfs manager uses for an absolute `linux.cgroupsPath` P: v1 <mountpoint>/P for
 * every v1 hierarchy (named ones such as name=systemd included) and, on hybrid hosts, <unified>/P;
 * v2 /sys/fs/cgroup/P. Reading files here is much cheaper than `runc events --stats` (one process per call).
 */
import { existsSync, readFileSync, readdirSync, rmdirSync } from 'node:fs';
import { posix as path } from 'node:path';
import { BerthError, invalidArgument } from '../errors.js';

export interface CgroupStats {
  /** Total CPU time consumed, nanoseconds. */
  cpuTotalNs: number;
  /** Memory in use, bytes (page cache included, as the kernel reports it). */
  memoryUsage: number;
  /** Memory limit, bytes; undefined when unlimited. */
  memoryLimit: number | undefined;
  /** Inactive file cache, bytes (Docker's CLI shows usage minus this); undefined when not reported. */
  memoryInactiveFile?: number;
  pidsCurrent: number;
  /** undefined when unlimited. */
  pidsLimit: number | undefined;
}

interface CgroupMount {
  mountpoint: string;
  /** v1 controllers ("cpu", "memory", "name=systemd"); empty for cgroup2. */
  controllers: string[];
  version: 1 | 2;
}

export interface CgroupLayout {
  /** 'v1' covers hybrid hosts (v1 controllers, cgroup2 without controllers). */
  mode: 'v1' | 'v2';
  mounts: CgroupMount[];
}

/** Super options of a v1 cgroup mount that are not controller names. */
const GENERIC_OPTIONS = new Set(['rw', 'ro', 'relatime', 'noatime', 'nosuid', 'nodev', 'noexec', 'clone_children', 'xattr', 'noprefix', 'cpuset_v2_mode', 'favordynmods']);

/** Parses /proc/self/mountinfo text into the cgroup hierarchies mounted in this mount namespace. */
export function parseCgroupMounts(mountinfo: string): CgroupMount[] {
  const out: CgroupMount[] = [];
  for (const line of mountinfo.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const left = line.slice(0, sep).split(' ');
    const right = line.slice(sep + 3).split(' ');
    const fstype = right[0];
    const mountpoint = (left[4] ?? '').replace(/\\(\d{3})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8)));
    if (fstype === 'cgroup2') {
      out.push({ mountpoint, controllers: [], version: 2 });
    } else if (fstype === 'cgroup') {
      const superOpts = (right[2] ?? '').split(',');
      const controllers = superOpts.filter((o) => (o.includes('=') ? o.startsWith('name=') : !GENERIC_OPTIONS.has(o)));
      out.push({ mountpoint, controllers, version: 1 });
    }
  }
  // The same hierarchy can be mounted twice; keep the first mountpoint of each.
  const seen = new Set<string>();
  return out.filter((m) => {
    const key = `${m.version}:${m.controllers.join(',')}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

let cachedLayout: CgroupLayout | undefined;

/** The host's cgroup layout, read once per process. */
export function cgroupLayout(): CgroupLayout {
  if (cachedLayout) return cachedLayout;
  const mounts = parseCgroupMounts(readFileSync('/proc/self/mountinfo', 'utf8'));
  const unifiedRoot = mounts.find((m) => m.version === 2 && m.mountpoint === '/sys/fs/cgroup');
  const mode = unifiedRoot || !mounts.some((m) => m.version === 1) ? 'v2' : 'v1';
  cachedLayout = { mode, mounts: mode === 'v2' ? mounts.filter((m) => m.version === 2).slice(0, 1) : mounts };
  return cachedLayout;
}

function checkPath(cgroupsPath: string): string {
  const clean = path.normalize(cgroupsPath);
  if (!clean.startsWith('/') || clean === '/' || clean.split('/').includes('..')) {
    throw invalidArgument(`invalid cgroups path: "${cgroupsPath}" (must be absolute, below the root)`);
  }
  return clean.replace(/\/+$/, '');
}

/**
 * Directories runc creates for a container with `linux.cgroupsPath` = cgroupsPath (cgroupfs manager).
 * Fails with invalid_argument for a relative path, "/" or a path with "..".
 */
export function cgroupPaths(cgroupsPath: string, layout: CgroupLayout = cgroupLayout()): string[] {
  const p = checkPath(cgroupsPath);
  return layout.mounts.map((m) => path.join(m.mountpoint, p));
}

function controllerDir(p: string, controller: string, layout: CgroupLayout): string | undefined {
  if (layout.mode === 'v2') return layout.mounts[0] ? path.join(layout.mounts[0].mountpoint, p) : undefined;
  const m = layout.mounts.find((x) => x.version === 1 && x.controllers.includes(controller));
  return m ? path.join(m.mountpoint, p) : undefined;
}

// Synchronous on purpose: cgroupfs reads never block on disk, and six async reads through libuv's thread
// pool cost ~4 ms where sync ones cost ~0.1 ms.
function readText(file: string | undefined): string | undefined {
  if (file === undefined) return undefined;
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

function toNumber(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const t = text.trim();
  if (t === '' || t === 'max') return undefined;
  const n = Number(t);
  return Number.isFinite(n) ? n : undefined;
}

function statField(text: string | undefined, field: string): number | undefined {
  if (text === undefined) return undefined;
  const m = new RegExp(`^${field} (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
}

/** v1 reports "no limit" as a huge page-rounded number (9223372036854771712). */
const UNLIMITED_THRESHOLD = 2 ** 62;

/**
 * Current usage of the container's cgroups, read from the cgroup files. Fails with not_found when the
 * container has no cgroup (never started, or already removed).
 */
export function readStats(cgroupsPath: string, layout: CgroupLayout = cgroupLayout()): CgroupStats {
  const p = checkPath(cgroupsPath);
  const join = (controller: string, file: string) => {
    const dir = controllerDir(p, controller, layout);
    return dir === undefined ? undefined : path.join(dir, file);
  };
  if (layout.mode === 'v2') {
    const dir = controllerDir(p, 'memory', layout);
    if (dir === undefined || !existsSync(dir)) throw new BerthError('not_found', `no cgroup ${cgroupsPath}`);
    const [cur, max, cpuStat, memStat, pids, pidsMax] = ['memory.current', 'memory.max', 'cpu.stat', 'memory.stat', 'pids.current', 'pids.max'].map((f) =>
      readText(path.join(dir, f)),
    );
    const inactive = statField(memStat, 'inactive_file');
    return {
      cpuTotalNs: (statField(cpuStat, 'usage_usec') ?? 0) * 1000,
      memoryUsage: toNumber(cur) ?? 0,
      memoryLimit: toNumber(max),
      ...(inactive !== undefined ? { memoryInactiveFile: inactive } : {}),
      pidsCurrent: toNumber(pids) ?? 0,
      pidsLimit: toNumber(pidsMax),
    };
  }
  const memDir = controllerDir(p, 'memory', layout);
  if (memDir === undefined || !existsSync(memDir)) throw new BerthError('not_found', `no cgroup ${cgroupsPath}`);
  const [usage, limit, memStat, cpu, pids, pidsMax] = [
    readText(join('memory', 'memory.usage_in_bytes')),
    readText(join('memory', 'memory.limit_in_bytes')),
    readText(join('memory', 'memory.stat')),
    readText(join('cpuacct', 'cpuacct.usage')),
    readText(join('pids', 'pids.current')),
    readText(join('pids', 'pids.max')),
  ];
  const lim = toNumber(limit);
  const inactive = statField(memStat, 'total_inactive_file');
  return {
    cpuTotalNs: toNumber(cpu) ?? 0,
    memoryUsage: toNumber(usage) ?? 0,
    memoryLimit: lim === undefined || lim >= UNLIMITED_THRESHOLD ? undefined : lim,
    ...(inactive !== undefined ? { memoryInactiveFile: inactive } : {}),
    pidsCurrent: toNumber(pids) ?? 0,
    pidsLimit: toNumber(pidsMax),
  };
}

/**
 * How many times the kernel's OOM killer killed a process of this cgroup (v1 memory.oom_control
 * `oom_kill`, v2 memory.events `oom_kill`). 0 when the cgroup is gone: call before removal.
 */
export function oomKillCount(cgroupsPath: string, layout: CgroupLayout = cgroupLayout()): number {
  const dir = controllerDir(checkPath(cgroupsPath), 'memory', layout);
  if (dir === undefined) return 0;
  const file = path.join(dir, layout.mode === 'v2' ? 'memory.events' : 'memory.oom_control');
  try {
    return statField(readFileSync(file, 'utf8'), 'oom_kill') ?? 0;
  } catch {
    return 0;
  }
}

/** Whether the OOM killer struck the container (Docker's State.OOMKilled). Call before removeCgroup. */
export function oomKilled(cgroupsPath: string, layout: CgroupLayout = cgroupLayout()): boolean {
  return oomKillCount(cgroupsPath, layout) > 0;
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function rmdirTree(dir: string, removed: string[]): void {
  // Usually gone already (runc delete, or the exit was recorded): a failed rmdir's exception costs more.
  if (!existsSync(dir)) return;
  // Most cgroups have no children: rmdir first, and list the directory only when that fails (a
  // listing of a v1 controller's directory is dozens of entries; ten controllers per container).
  for (let attempt = 0; ; attempt++) {
    try {
      rmdirSync(dir);
      removed.push(dir);
      return;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return;
      if (code !== 'EBUSY' || attempt >= 20) throw e;
    }
    // Sub-cgroups (made by the container itself) must go first: rmdir of a cgroup with children is EBUSY.
    let children = 0;
    let entries: import('node:fs').Dirent[];
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw e;
    }
    for (const ent of entries) {
      if (!ent.isDirectory()) continue;
      children++;
      rmdirTree(path.join(dir, ent.name), removed);
    }
    // Right after its last process exits, the kernel may still count it for a few ms.
    if (children === 0) sleepSync(5);
  }
}

/**
 * Removes the container's cgroup directories that remain (runc delete normally removes them; a crash
 * may not). Idempotent; returns the directories it removed. Fails with conflict when processes still
 * live in the cgroup (kill them first), after retrying for about 100 ms.
 */
export function removeCgroup(cgroupsPath: string, layout: CgroupLayout = cgroupLayout()): string[] {
  const removed: string[] = [];
  const failures: string[] = [];
  for (const dir of cgroupPaths(cgroupsPath, layout)) {
    try {
      rmdirTree(dir, removed);
    } catch (e) {
      failures.push(`${dir}: ${(e as Error).message}`);
    }
  }
  if (failures.length > 0) {
    throw new BerthError('conflict', `cannot remove cgroup ${cgroupsPath}: ${failures.join('; ')}`, {
      hint: 'processes still run in it: stop the container first',
    });
  }
  return removed;
}
