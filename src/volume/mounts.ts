/**
 * Local-driver volumes with mount options (`volume create -o type=... -o device=... -o o=...`), as
 * docker's local driver: the volume's _data directory gets `mount -t <type> -o <o> <device>` when
 * the first container using it starts and is unmounted when the last one stops.
 *
 * Daemonless reference counting: <runroot>/volume-mounts/<name> lists the containers holding the
 * mount; it is read and written under the database's write lock (BEGIN IMMEDIATE), so concurrent
 * starts and exits of different berth processes agree on who mounts and who unmounts. The file lives
 * in the runroot, like the mounts themselves (gone after a reboot).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Engine } from '../engine/engine.js';
import { BerthError, invalidArgument } from '../errors.js';
import { writeTx } from '../metadata/db.js';
import { MNT_DETACH, MS_BIND, MS_REC, MS_REMOUNT, mount, umount } from '../sys/libc.js';

/** Options the local driver accepts (docker: type, device, o; size needs XFS project quotas). */
const VALID = new Set(['type', 'device', 'o']);
/** Docker's mandatory companions: device needs type, type needs device, o needs both. */
const REQUIRES: Record<string, string[]> = { device: ['type'], type: ['device'], o: ['device', 'type'] };

/** mount(8) option words that are flags (set or cleared); everything else goes to the file system. */
const FLAGS: Record<string, [clear: boolean, flag: number]> = {
  defaults: [false, 0],
  ro: [false, 0x1],
  rw: [true, 0x1],
  nosuid: [false, 0x2],
  suid: [true, 0x2],
  nodev: [false, 0x4],
  dev: [true, 0x4],
  noexec: [false, 0x8],
  exec: [true, 0x8],
  sync: [false, 0x10],
  async: [true, 0x10],
  mand: [false, 0x40],
  nomand: [true, 0x40],
  dirsync: [false, 0x80],
  noatime: [false, 0x400],
  atime: [true, 0x400],
  nodiratime: [false, 0x800],
  diratime: [true, 0x800],
  bind: [false, MS_BIND],
  rbind: [false, MS_BIND | MS_REC],
  relatime: [false, 0x200000],
  norelatime: [true, 0x200000],
  strictatime: [false, 0x1000000],
  nostrictatime: [true, 0x1000000],
};
const PROPAGATION = new Set(['private', 'rprivate', 'shared', 'rshared', 'slave', 'rslave', 'unbindable', 'runbindable']);

export interface LocalMount {
  device: string;
  type: string;
  flags: number;
  data: string;
}

/** True when a local volume's options ask for a mount (docker mounts only when type or device is set). */
export function hasMountOptions(options: Record<string, string>): boolean {
  return Boolean(options.type || options.device);
}

/** Validates `-o` options of the local driver (at create, as docker does) and returns the mount to do. */
export function parseLocalOptions(options: Record<string, string>): LocalMount | undefined {
  for (const k of Object.keys(options)) {
    if (k === 'size')
      throw invalidArgument(`invalid option: "size": quota sizes need an XFS backing file system, which berth does not manage`, {
        hint: 'for a size-limited volume use -o type=tmpfs -o device=tmpfs -o o=size=64m',
      });
    if (!VALID.has(k)) throw invalidArgument(`invalid option: "${k}"`, { hint: 'the local driver accepts -o type=<fs>, -o device=<source> and -o o=<mount options>' });
  }
  for (const [k, needs] of Object.entries(REQUIRES)) {
    if (!(k in options)) continue;
    for (const n of needs) if (!(n in options)) throw invalidArgument(`missing required option: "${n}"`, { hint: 'e.g. -o type=tmpfs -o device=tmpfs -o o=size=64m, or -o type=none -o device=/host/dir -o o=bind' });
  }
  if (!hasMountOptions(options)) return undefined;
  const type = options.type ?? '';
  const device = options.device ?? '';
  if (!type) throw invalidArgument('invalid option "type": empty', { hint: 'use -o type=tmpfs, -o type=none (with o=bind) or a file system type such as ext4' });
  if (!device) throw invalidArgument('invalid option "device": empty', { hint: 'use -o device=tmpfs for tmpfs, or the host path or block device to mount' });
  let flags = 0;
  const data: string[] = [];
  for (const word of (options.o ?? '').split(',')) {
    if (!word) continue;
    const f = FLAGS[word];
    if (f) flags = f[0] ? flags & ~f[1] : flags | f[1];
    else if (PROPAGATION.has(word)) throw invalidArgument(`invalid option "o": propagation "${word}" is not supported for a volume`, { hint: 'set propagation on the container mount (--mount ...,bind-propagation=) instead' });
    else if (/^[A-Za-z0-9_.:@/+-]+(=[^,]*)?$/.test(word)) data.push(word);
    else throw invalidArgument(`invalid option "o": "${word}" is not a mount option`, { hint: 'write mount options as in mount(8): -o o=size=64m,uid=1000' });
  }
  if (flags & MS_BIND) {
    if (!path.isAbsolute(device)) throw invalidArgument(`invalid option "device": a bind volume needs an absolute host path, not "${device}"`, { hint: 'e.g. -o type=none -o device=/srv/data -o o=bind' });
    if (data.length) throw invalidArgument(`invalid option "o": ${data.join(',')} cannot be used with bind`, { hint: 'a bind volume takes only flags such as ro, nosuid, nodev, noexec' });
  }
  if (type === 'tmpfs' && flags & MS_BIND) throw invalidArgument('invalid option "o": bind cannot be used with type=tmpfs', { hint: 'use -o type=none -o o=bind for a bind volume' });
  return { device, type, flags, data: data.join(',') };
}

function usersFile(engine: Engine, name: string): string {
  return path.join(engine.paths.runroot, 'volume-mounts', name);
}

function readUsers(file: string): string[] {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

function writeUsers(file: string, users: string[]): void {
  if (!users.length) {
    fs.rmSync(file, { force: true });
    return;
  }
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(`${file}.tmp`, `${users.join('\n')}\n`);
  fs.renameSync(`${file}.tmp`, file);
}

function unescapeMountinfo(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** Whether `dir` is a mount point (in this mount namespace). */
export function isMountPoint(dir: string): boolean {
  let info = '';
  try {
    info = fs.readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return false;
  }
  for (const line of info.split('\n')) {
    const f = line.split(' ');
    if (f.length > 4 && unescapeMountinfo(f[4] as string) === dir) return true;
  }
  return false;
}

const ERRNO_TEXT: Record<string, string> = {
  ENOENT: 'no such file or directory',
  ENOTDIR: 'not a directory',
  ENODEV: 'unknown file system type',
  ENOTBLK: 'not a block device',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EINVAL: 'invalid argument',
  EBUSY: 'device or resource busy',
};

function doMount(name: string, target: string, m: LocalMount): void {
  try {
    mount(m.device, target, m.flags & MS_BIND ? null : m.type, m.flags, m.data || null);
    // A bind mount ignores all other flags on the first call (mount(2)): apply them with a remount.
    if (m.flags & MS_BIND && m.flags & ~(MS_BIND | MS_REC)) mount('', target, null, m.flags | MS_REMOUNT, null);
  } catch (e) {
    try {
      if (isMountPoint(target)) umount(target, MNT_DETACH);
    } catch {
      /* nothing mounted */
    }
    const code = (e as { code?: string }).code ?? '';
    const why = ERRNO_TEXT[code] ? `${ERRNO_TEXT[code]} (${code})` : (e as Error).message;
    throw new BerthError('failed_precondition', `error while mounting volume '${name}': failed to mount local volume: mount ${m.device}:${target} (type ${m.type}${m.data ? `, data ${m.data}` : ''}, flags 0x${m.flags.toString(16)}): ${why}`, {
      cause: e,
      hint: m.flags & MS_BIND ? `create ${m.device} on the host, or recreate the volume with an existing device` : 'check the volume options with `berth volume inspect`',
    });
  }
}

/**
 * Mounts a volume that has mount options for container `id` (first user mounts); returns the _data
 * path. Volumes without options are plain directories and are returned untouched.
 */
export function acquireVolumeMount(engine: Engine, name: string, options: Record<string, string>, dataDir: string, id: string): void {
  const m = parseLocalOptions(options);
  if (!m) return;
  const file = usersFile(engine, name);
  writeTx(engine.db, () => {
    const users = readUsers(file).filter((u) => u !== id);
    if (!isMountPoint(dataDir)) doMount(name, dataDir, m);
    writeUsers(file, [...users, id]);
  });
}

/** Drops container `id` from every mounted volume it holds; the last user unmounts. Never throws. */
export function releaseVolumeMounts(engine: Engine, id: string): void {
  let dir: string[];
  try {
    dir = fs.readdirSync(path.join(engine.paths.runroot, 'volume-mounts')).filter((n) => !n.endsWith('.tmp'));
  } catch {
    return;
  }
  for (const name of dir) {
    const file = usersFile(engine, name);
    if (!readUsers(file).includes(id)) continue;
    try {
      writeTx(engine.db, () => {
        const users = readUsers(file).filter((u) => u !== id);
        if (!users.length) unmountData(path.join(engine.paths.volumes, name, '_data'));
        writeUsers(file, users);
      });
    } catch {
      /* reported by volume rm / system check */
    }
  }
}

function unmountData(dataDir: string): void {
  while (isMountPoint(dataDir)) umount(dataDir, MNT_DETACH);
}

/** Before a volume's directory is deleted: nothing may stay mounted on it (a bind would lose host data). */
export function unmountForRemoval(engine: Engine, name: string): void {
  const data = path.join(engine.paths.volumes, name, '_data');
  try {
    unmountData(data);
  } catch (e) {
    throw new BerthError('conflict', `remove ${name}: its mount on ${data} cannot be released: ${(e as Error).message}`, { cause: e });
  }
  fs.rmSync(usersFile(engine, name), { force: true });
}

/** Every volume with a users file and the containers listed in it (for system check). */
export function readVolumeUsers(engine: Engine): { name: string; users: string[] }[] {
  const dir = path.join(engine.paths.runroot, 'volume-mounts');
  let names: string[];
  try {
    names = fs.readdirSync(dir).filter((n) => !n.endsWith('.tmp'));
  } catch {
    return [];
  }
  return names.map((name) => ({ name, users: readUsers(path.join(dir, name)) }));
}
