/**
 * Persistent network namespaces without a helper process: unshare(CLONE_NEWNET) on the calling
 * thread, bind-mount /proc/thread-self/ns/net onto a file, bring `lo` up, setns back. About 1 ms,
 * where `ip netns add` plus the CNI loopback plugin cost two processes (~20 ms).
 * Only the main thread switches, and only synchronously, so nothing else runs in the new namespace.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BerthError } from '../errors.js';
import { loadKoffi } from '../sys/libc.js';

type Fn = (...args: unknown[]) => number;
interface Ffi {
  errno(): number;
  unshare: Fn;
  setns: Fn;
  mount: Fn;
  umount2: Fn;
  socket: Fn;
  ioctl: Fn;
  close: Fn;
  flock: Fn;
}
let ffi: Ffi | undefined;
function load(): Ffi {
  if (ffi) return ffi;
  const koffi = loadKoffi();
  const lib = koffi.load('libc.so.6');
  ffi = {
    errno: () => koffi.errno(),
    unshare: lib.func('int unshare(int flags)'),
    setns: lib.func('int setns(int fd, int nstype)'),
    mount: lib.func('int mount(const char *source, const char *target, const char *fstype, unsigned long flags, const char *data)'),
    umount2: lib.func('int umount2(const char *target, int flags)'),
    socket: lib.func('int socket(int domain, int type, int protocol)'),
    ioctl: lib.func('int ioctl(int fd, unsigned long request, void *arg)'),
    close: lib.func('int close(int fd)'),
    flock: lib.func('int flock(int fd, int operation)'),
  };
  return ffi;
}

const CLONE_NEWNET = 0x40000000;
const MS_BIND = 0x1000;
const MNT_DETACH = 2;
const SIOCGIFFLAGS = 0x8913;
const SIOCSIFFLAGS = 0x8914;
const IFF_UP = 1;

function fail(what: string, errno: number): BerthError {
  const name = Object.entries(os.constants.errno).find(([, v]) => v === errno)?.[0] ?? `errno ${errno}`;
  return new BerthError('internal', `creating a network namespace: ${what}: ${name}`, { hint: 'berth needs root (CAP_SYS_ADMIN) for bridge networks; use --network none otherwise' });
}

/**
 * Creates a network namespace pinned at `file` (an nsfs bind mount) with loopback up.
 * On failure nothing is left behind.
 */
export function createNetns(file: string): void {
  const f = load();
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, '');
  const orig = fs.openSync('/proc/thread-self/ns/net', 'r');
  let switched = false;
  try {
    if (f.unshare(CLONE_NEWNET) < 0) throw fail('unshare', f.errno());
    switched = true;
    if (f.mount('/proc/thread-self/ns/net', file, null, MS_BIND, null) < 0) throw fail(`bind mount on ${file}`, f.errno());
    const s = f.socket(2 /* AF_INET */, 2 /* SOCK_DGRAM */, 0);
    if (s < 0) throw fail('socket', f.errno());
    try {
      const ifr = Buffer.alloc(40);
      ifr.write('lo', 0);
      if (f.ioctl(s, SIOCGIFFLAGS, ifr) < 0) throw fail('SIOCGIFFLAGS lo', f.errno());
      ifr.writeUInt16LE(ifr.readUInt16LE(16) | IFF_UP, 16);
      if (f.ioctl(s, SIOCSIFFLAGS, ifr) < 0) throw fail('SIOCSIFFLAGS lo', f.errno());
    } finally {
      f.close(s);
    }
  } catch (e) {
    if (switched) f.umount2(file, MNT_DETACH);
    fs.rmSync(file, { force: true });
    throw e;
  } finally {
    if (switched && f.setns(orig, CLONE_NEWNET) < 0) {
      // Staying in the wrong namespace would silently break everything after: stop here.
      process.stderr.write('berth: cannot return to the host network namespace\n');
      process.exit(125);
    }
    fs.closeSync(orig);
  }
}

/** Unpins a namespace made by createNetns; idempotent. The kernel frees it (and its veths) once unused. */
export function removeNetns(file: string): void {
  if (!fs.existsSync(file)) return;
  load().umount2(file, MNT_DETACH);
  fs.rmSync(file, { force: true });
}

const LOCK_EX = 2;

/** Runs `fn` holding an exclusive flock(2) on `file` (created if missing), as CNI's host-local locks its store. */
export function withFileLock<T>(file: string, fn: () => T): T {
  const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_CREAT, 0o640);
  try {
    if (load().flock(fd, LOCK_EX) < 0) throw new BerthError('internal', `locking ${file}: errno ${load().errno()}`);
    return fn();
  } finally {
    fs.closeSync(fd); // closing the only descriptor releases the lock
  }
}
