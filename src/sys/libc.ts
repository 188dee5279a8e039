/**
 * Syscalls Node lacks, called through koffi FFI (no process spawn on hot paths).
 * The library is loaded lazily on first use so commands that never mount pay nothing.
 */
import { createRequire } from 'node:module';
import fs from 'node:fs';
import os from 'node:os';
import { nodeModuleFile } from '../util/module-path.js';

const require = createRequire(import.meta.url);

type KoffiFn = (...args: unknown[]) => number;
interface Libc {
  koffi: { errno(): number };
  mount: KoffiFn;
  umount2: KoffiFn;
  mknod: KoffiFn;
  lsetxattr: KoffiFn;
  lgetxattr: KoffiFn;
  llistxattr: KoffiFn;
  syscall0: KoffiFn;
}

interface KoffiModule {
  errno(): number;
  load(path: string): { func(signature: string): KoffiFn };
}

/**
 * koffi's native addon. `require('koffi')` spends about 10 ms in JavaScript before it loads the
 * addon (it reads the ELF header of the node binary to tell glibc from musl, probes several
 * directories and wraps deprecated functions), on every command that mounts. On glibc Linux the
 * addon is loaded directly from koffi's platform package (1.5 ms); it exports the same functions.
 * Any other layout or libc (a failed load) goes through koffi's own loader.
 */
export function loadKoffi(): KoffiModule {
  if (process.platform === 'linux' && (process.arch === 'x64' || process.arch === 'arm64') && !process.env.BERTH_KOFFI_LOADER) {
    try {
      const addon = require(nodeModuleFile(`@koromix/koffi-linux-${process.arch}/linux_${process.arch}/koffi.node`)) as KoffiModule;
      if (typeof addon.load === 'function' && typeof addon.errno === 'function') return addon;
    } catch {
      /* another package layout, or musl: koffi decides */
    }
  }
  return require('koffi') as KoffiModule;
}

let libc: Libc | undefined;
let libcLib: { func(signature: string): KoffiFn } | undefined;
const declared = new Map<string, KoffiFn>();

/** A libc function by its C signature, declared once per process. */
function libcFunc(signature: string): KoffiFn {
  let f = declared.get(signature);
  if (!f) {
    load();
    f = (libcLib as { func(signature: string): KoffiFn }).func(signature);
    declared.set(signature, f);
  }
  return f;
}

function load(): Libc {
  if (libc) return libc;
  const koffi = loadKoffi();
  const lib = koffi.load('libc.so.6');
  libcLib = lib;
  libc = {
    koffi,
    mount: lib.func(
      'int mount(const char *source, const char *target, const char *fstype, unsigned long flags, const char *data)',
    ),
    umount2: lib.func('int umount2(const char *target, int flags)'),
    mknod: lib.func('int mknod(const char *path, uint32_t mode, uint64_t dev)'),
    lsetxattr: lib.func(
      'int lsetxattr(const char *path, const char *name, const void *value, size_t size, int flags)',
    ),
    lgetxattr: lib.func('long lgetxattr(const char *path, const char *name, _Out_ void *value, size_t size)'),
    llistxattr: lib.func('long llistxattr(const char *path, _Out_ void *list, size_t size)'),
    syscall0: lib.func('long syscall(long number)'),
  };
  return libc;
}

export class SyscallError extends Error {
  readonly errno: number;
  readonly code: string;
  readonly syscall: string;
  constructor(syscall: string, errno: number, path: string) {
    const code = errnoName(errno);
    super(`${syscall} ${path}: ${code} (errno ${errno})`);
    this.errno = errno;
    this.code = code;
    this.syscall = syscall;
  }
}

function errnoName(errno: number): string {
  const consts = os.constants.errno as Record<string, number>;
  for (const [k, v] of Object.entries(consts)) if (v === errno) return k;
  return `E${errno}`;
}

/**
 * Throws for a failed call: `errno` style (-1, the error in errno) or, for the posix_spawn family,
 * `returned` style (the error number is the return value, errno untouched).
 */
function check(rc: number, syscall: string, path: string, style: 'errno' | 'returned' = 'errno'): void {
  if (style === 'returned') {
    if (rc !== 0) throw new SyscallError(syscall, rc, path);
  } else if (rc < 0) throw new SyscallError(syscall, load().koffi.errno(), path);
}

export const MS_RDONLY = 0x1;
export const MS_NOSUID = 0x2;
export const MS_NODEV = 0x4;
export const MS_NOEXEC = 0x8;
export const MS_REMOUNT = 0x20;
export const MS_BIND = 0x1000;
export const MS_REC = 0x4000;
export const MS_PRIVATE = 1 << 18;
export const MNT_DETACH = 0x2;

export function mount(source: string, target: string, fstype: string | null, flags: number, data: string | null): void {
  check(load().mount(source, target, fstype, flags, data), 'mount', target);
}

export function umount(target: string, flags = 0): void {
  check(load().umount2(target, flags), 'umount2', target);
}

/**
 * Starts `argv` in the background, detached from this process (its own session, reparented to init
 * once started, stdio on /dev/null), and returns at once; `passFd` becomes its fd 3. Through
 * posix_spawn(3) of a `sh` that puts the command in the background and exits: about 1.5 ms, where
 * node:child_process costs 7-13 ms to load and fork a process of Node's size, and no zombie is left
 * for a long-running caller (the API service) to reap.
 */
export function spawnDetached(argv: string[], opts: { passFd?: number } = {}): void {
  const shArgv = ['sh', '-c', '"$@" </dev/null >/dev/null 2>&1 &', 'berth-detached', ...argv];
  const env = [`PATH=${process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'}`];
  const child = spawnPiped('/bin/sh', shArgv, env, { pipes: [], setsid: true, ...(opts.passFd !== undefined ? { dup: new Map([[3, opts.passFd]]) } : {}) });
  waitChild(child.pid);
}

/** A process started by spawnPiped: its pid and, per child descriptor asked for, the read end of its pipe. */
export interface PipedChild {
  pid: number;
  pipes: Map<number, number>;
}

/**
 * posix_spawnp(3) of `file` with stdin and stdout on /dev/null, a pipe for each descriptor in
 * `pipes` (the child writes, the caller reads and closes) and copies of the caller's descriptors
 * given in `dup`, optionally in a new session. For the
 * monitor started on every container start: node:child_process costs 4 ms to load and several
 * more to fork a process of Node's size, where this is a vfork-style clone. The caller reaps the
 * child with waitChild.
 */
export function spawnPiped(
  file: string,
  argv: string[],
  env: string[],
  opts: { pipes: number[]; setsid?: boolean; /** child fd -> one of ours it gets a copy of */ dup?: Map<number, number> },
): PipedChild {
  const fa = Buffer.alloc(512);
  const attr = Buffer.alloc(1024);
  const ours: number[] = [];
  const theirs: number[] = [];
  const pipes = new Map<number, number>();
  check(libcFunc('int posix_spawn_file_actions_init(void *fa)')(fa), 'posix_spawn_file_actions_init', file, 'returned');
  try {
    const addopen = libcFunc('int posix_spawn_file_actions_addopen(void *fa, int fd, const char *path, int oflag, uint32_t mode)');
    check(addopen(fa, 0, '/dev/null', fs.constants.O_RDONLY, 0), 'posix_spawn_file_actions_addopen', file, 'returned');
    check(addopen(fa, 1, '/dev/null', fs.constants.O_WRONLY, 0), 'posix_spawn_file_actions_addopen', file, 'returned');
    const pipe2 = libcFunc('int pipe2(void *fds, int flags)');
    const adddup2 = libcFunc('int posix_spawn_file_actions_adddup2(void *fa, int fd, int newfd)');
    for (const childFd of opts.pipes) {
      const fds = Buffer.alloc(8);
      check(pipe2(fds, 0o2000000 /* O_CLOEXEC */), 'pipe2', file);
      const r = fds.readInt32LE(0);
      const w = fds.readInt32LE(4);
      ours.push(r);
      theirs.push(w);
      pipes.set(childFd, r);
      // dup2 clears close-on-exec on the child's copy; both of our ends keep it.
      check(adddup2(fa, w, childFd), 'posix_spawn_file_actions_adddup2', file, 'returned');
    }
    for (const [childFd, fd] of opts.dup ?? []) check(adddup2(fa, fd, childFd), 'posix_spawn_file_actions_adddup2', file, 'returned');
    check(libcFunc('int posix_spawnattr_init(void *attr)')(attr), 'posix_spawnattr_init', file, 'returned');
    try {
      if (opts.setsid) check(libcFunc('int posix_spawnattr_setflags(void *attr, short flags)')(attr, 0x80 /* POSIX_SPAWN_SETSID */), 'posix_spawnattr_setflags', file, 'returned');
      const pid = [0];
      const spawnp = libcFunc('int posix_spawnp(_Out_ int *pid, const char *file, void *fa, void *attr, const char **argv, const char **envp)');
      check(spawnp(pid, file, fa, attr, [...argv, null], [...env, null]), 'posix_spawnp', file, 'returned');
      return { pid: pid[0] as number, pipes };
    } finally {
      libcFunc('int posix_spawnattr_destroy(void *attr)')(attr);
    }
  } catch (e) {
    for (const fd of ours) fs.closeSync(fd);
    throw e;
  } finally {
    for (const fd of theirs) fs.closeSync(fd);
    libcFunc('int posix_spawn_file_actions_destroy(void *fa)')(fa);
  }
}

/** Reaps a child started by spawnPiped (blocking unless `noHang`); its exit status, or undefined while it runs. */
export function waitChild(pid: number, opts: { noHang?: boolean } = {}): number | undefined {
  const status = [0];
  const rc = libcFunc('int waitpid(int pid, _Out_ int *status, int options)')(pid, status, opts.noHang ? 1 /* WNOHANG */ : 0);
  if (rc === 0) return undefined;
  return status[0];
}

export const LOCK_SH = 1;
export const LOCK_EX = 2;
export const LOCK_NB = 4;

/** flock(2) on an open descriptor; blocks for LOCK_EX until the holder lets go. */
export function flock(fd: number, operation: number, path: string): void {
  check(libcFunc('int flock(int fd, int operation)')(fd, operation) as number, 'flock', path);
}

/** flock(2) with LOCK_NB: false when another descriptor holds a conflicting lock. */
export function tryFlock(fd: number, operation: number, path: string): boolean {
  try {
    flock(fd, operation | LOCK_NB, path);
    return true;
  } catch (e) {
    if (e instanceof SyscallError && e.errno === os.constants.errno.EWOULDBLOCK) return false;
    throw e;
  }
}

let x32: boolean | undefined;

/**
 * Whether the kernel runs x32-ABI system calls (CONFIG_X86_X32_ABI, off in most distribution
 * kernels). Probed once with the x32 getpid (__X32_SYSCALL_BIT | 39): ENOSYS means no x32 ABI.
 * Other architectures have no x32 ABI at all.
 */
export function x32AbiAvailable(): boolean {
  if (x32 !== undefined) return x32;
  if (process.arch !== 'x64') return (x32 = false);
  const l = load();
  const rc = l.syscall0(0x40000000 + 39);
  x32 = !(rc < 0 && l.koffi.errno() === os.constants.errno.ENOSYS);
  return x32;
}

export const S_IFCHR = 0o020000;
export const S_IFBLK = 0o060000;
export const S_IFIFO = 0o010000;

/** makedev as glibc encodes it. */
export function makedev(major: number, minor: number): bigint {
  const ma = BigInt(major);
  const mi = BigInt(minor);
  return ((ma & 0xfffn) << 8n) | ((ma & ~0xfffn) << 32n) | (mi & 0xffn) | ((mi & ~0xffn) << 12n);
}

export function mknod(path: string, mode: number, major = 0, minor = 0): void {
  check(load().mknod(path, mode, makedev(major, minor)), 'mknod', path);
}

export function lsetxattr(path: string, name: string, value: Buffer): void {
  check(load().lsetxattr(path, name, value, value.length, 0), 'lsetxattr', path);
}

/** Returns undefined when the attribute is absent (ENODATA) or xattrs are unsupported. */
export function lgetxattr(path: string, name: string): Buffer | undefined {
  const l = load();
  const buf = Buffer.alloc(65536);
  const n = l.lgetxattr(path, name, buf, buf.length);
  if (n < 0) {
    const errno = l.koffi.errno();
    if (errno === os.constants.errno.ENODATA || errno === os.constants.errno.ENOTSUP) return undefined;
    throw new SyscallError('lgetxattr', errno, path);
  }
  return Buffer.from(buf.subarray(0, n));
}

export function llistxattr(path: string): string[] {
  const l = load();
  const buf = Buffer.alloc(65536);
  const n = l.llistxattr(path, buf, buf.length);
  if (n < 0) {
    const errno = l.koffi.errno();
    if (errno === os.constants.errno.ENOTSUP) return [];
    throw new SyscallError('llistxattr', errno, path);
  }
  return buf
    .subarray(0, n)
    .toString('latin1')
    .split('\0')
    .filter((s) => s.length > 0);
}

let xattrScratch: Buffer | undefined;

/**
 * Like llistxattr, for hot loops (writing layers): reuses one scratch buffer instead of allocating
 * 64 KiB per call. Same results and errors as llistxattr.
 */
export function llistxattrFast(path: string): string[] {
  const l = load();
  xattrScratch ??= Buffer.allocUnsafe(65536);
  const n = l.llistxattr(path, xattrScratch, xattrScratch.length);
  if (n < 0) {
    const errno = l.koffi.errno();
    if (errno === os.constants.errno.ENOTSUP) return [];
    throw new SyscallError('llistxattr', errno, path);
  }
  if (n === 0) return [];
  return xattrScratch
    .toString('latin1', 0, n)
    .split('\0')
    .filter((s) => s.length > 0);
}

/**
 * Connects a blocking AF_UNIX SOCK_SEQPACKET socket (conmon's attach socket). Node's net module
 * cannot wrap such fds, so callers read and write the fd with fs.read/fs.write (the libuv
 * threadpool), one packet per read.
 */
export function connectSeqpacket(socketPath: string): number {
  const l = load();
  const socket = libcFunc('int socket(int, int, int)');
  const connect = libcFunc('int connect(int, const void *, uint32_t)');
  const AF_UNIX = 1;
  const SOCK_SEQPACKET = 5;
  const SOCK_CLOEXEC = 0o2000000;
  const fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd < 0) throw new SyscallError('socket', l.koffi.errno(), socketPath);
  const addr = Buffer.alloc(110);
  addr.writeUInt16LE(AF_UNIX, 0);
  if (Buffer.byteLength(socketPath) > 107) throw new SyscallError('connect', os.constants.errno.ENAMETOOLONG, socketPath);
  addr.write(socketPath, 2);
  if (connect(fd, addr, addr.length) < 0) {
    const errno = l.koffi.errno();
    require('node:fs').closeSync(fd);
    throw new SyscallError('connect', errno, socketPath);
  }
  return fd;
}

/** shutdown(fd, SHUT_WR): tells conmon the client's stdin ended. */
export function shutdownWrite(fd: number): void {
  shutdownSocket(fd, 1);
}

/** shutdown(fd, SHUT_RDWR): also wakes a read blocked on the socket in the threadpool. */
export function shutdownBoth(fd: number): void {
  shutdownSocket(fd, 2);
}

function shutdownSocket(fd: number, how: number): void {
  libcFunc('int shutdown(int, int)')(fd, how);
}

/**
 * Sets a terminal's window size (ioctl TIOCSWINSZ); the kernel sends SIGWINCH to the terminal's
 * foreground process group, which is how `runc exec --tty` learns it should resize.
 */
export function setWindowSize(fd: number, rows: number, cols: number): void {
  const l = load();
  const ioctl = libcFunc('int ioctl(int fd, unsigned long request, void *arg)');
  const TIOCSWINSZ = 0x5414;
  const ws = Buffer.alloc(8);
  ws.writeUInt16LE(rows, 0);
  ws.writeUInt16LE(cols, 2);
  if (ioctl(fd, TIOCSWINSZ, ws) < 0) throw new SyscallError('ioctl(TIOCSWINSZ)', l.koffi.errno(), `fd ${fd}`);
}
