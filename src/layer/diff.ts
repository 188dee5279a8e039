/**
 * Producing layers from directories: `writeLayerTar` turns an overlay upper dir (or any plain
 * directory) into an OCI layer tar, `listChanges` answers `docker diff`.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import type { Digest } from '../content/digest.js';
import { BerthError, failedPrecondition, fromSystemError } from '../errors.js';
import { lgetxattr, llistxattrFast as llistxattr } from '../sys/libc.js';
import { OVERLAY_OPAQUE_XATTR, OVERLAY_XATTR_PREFIX, WHITEOUT_OPAQUE, WHITEOUT_PREFIX } from './apply.js';
import { END_OF_ARCHIVE, encodeHeader, padding, type TarWriteHeader } from './tar-writer.js';

/** xattr marking a whiteout made as a regular file (overlayfs 6.7+, nested overlays). */
const OVERLAY_WHITEOUT_XATTR = 'trusted.overlay.whiteout';

export interface LayerWriteResult {
  /** sha256 of the tar bytes written. */
  diffId: Digest;
  /** Tar bytes written. */
  size: number;
}

export interface WriteLayerOptions {
  /** Clamp every mtime to at most this (seconds since the epoch), for reproducible layers. */
  sourceDateEpoch?: number;
  signal?: AbortSignal;
}

/** Files up to this size are read whole; larger ones stream in chunks of it. */
const SMALL_FILE = 1024 * 1024;
/** Output is handed to `out` in batches of about this size. */
const BATCH = 512 * 1024;

/** Byte-order comparison (what `sort` gives under LC_ALL=C for ASCII names). */
function byName(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function devMajor(rdev: number): number {
  const r = BigInt(rdev);
  return Number(((r >> 8n) & 0xfffn) | ((r >> 32n) & ~0xfffn));
}
function devMinor(rdev: number): number {
  const r = BigInt(rdev);
  return Number((r & 0xffn) | ((r >> 12n) & ~0xffn));
}

/** Reads the xattrs of `p` (minus overlayfs' own), or undefined when it has none. */
function readXattrs(p: string): { xattrs: Map<string, Buffer> | undefined; names: string[] } {
  const names = llistxattr(p);
  if (names.length === 0) return { xattrs: undefined, names };
  let xattrs: Map<string, Buffer> | undefined;
  for (const name of names) {
    if (name.startsWith(OVERLAY_XATTR_PREFIX)) continue;
    const v = lgetxattr(p, name);
    if (v === undefined) continue;
    if (!xattrs) xattrs = new Map();
    xattrs.set(name, v);
  }
  return { xattrs, names };
}

/** True for an overlayfs whiteout: a 0/0 character device, or a file marked by xattr. */
function isWhiteout(st: fs.Stats, xattrNames: string[]): boolean {
  if (st.isCharacterDevice() && st.rdev === 0) return true;
  return st.isFile() && st.size === 0 && xattrNames.includes(OVERLAY_WHITEOUT_XATTR);
}

/** Buffers output and hands it to `out` in batches, hashing as it goes and honouring backpressure. */
class Sink {
  private parts: Buffer[] = [];
  private pending = 0;
  private readonly hash = createHash('sha256');
  size = 0;
  constructor(
    private readonly out: Writable,
    private readonly signal: AbortSignal | undefined,
  ) {}

  push(b: Buffer): void {
    this.parts.push(b);
    this.pending += b.length;
  }

  /** Flushes when enough is buffered (or `force`), waiting for `drain` when `out` is full. */
  async flush(force = false): Promise<void> {
    if (this.pending === 0 || (!force && this.pending < BATCH)) return;
    const buf = this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts, this.pending);
    this.parts = [];
    this.pending = 0;
    this.hash.update(buf);
    this.size += buf.length;
    if (this.signal?.aborted) throw new BerthError('canceled', 'writing layer canceled');
    if (this.out.destroyed) throw new BerthError('internal', 'layer output closed early');
    if (!this.out.write(buf)) await waitDrain(this.out);
  }

  digest(): Digest {
    return `sha256:${this.hash.digest('hex')}`;
  }
}

async function waitDrain(out: Writable): Promise<void> {
  const ac = new AbortController();
  try {
    await Promise.race([
      once(out, 'drain', { signal: ac.signal }),
      once(out, 'close', { signal: ac.signal }).then(() => {
        throw new BerthError('internal', 'layer output closed early');
      }),
    ]);
  } finally {
    ac.abort();
  }
}

/**
 * Writes an OCI layer tar of `dir` (an overlay upper dir or any plain directory) to `out`, then ends
 * `out` and waits for it to finish. Overlay whiteouts become OCI ones: a 0/0 character device `x` ->
 * `.wh.x`, a directory with `trusted.overlay.opaque=y` -> the directory then `dir/.wh..wh..opq`.
 *
 * Deterministic: entries in byte order, depth first (a directory, then its content); uname/gname left
 * empty; sub-second mtimes dropped; with `sourceDateEpoch` every mtime is clamped to it. Hard links
 * inside the tree are written as hard links to the first path in that order. Xattrs are kept as
 * `SCHILY.xattr.*`, except overlayfs' own `trusted.overlay.*`. The root directory itself is not an entry.
 *
 * Fails with `canceled` on abort, `failed_precondition` when a file changes size while being read,
 * or the classified system error; `out` is destroyed on failure.
 */
export async function writeLayerTar(dir: string, out: Writable, opts: WriteLayerOptions = {}): Promise<LayerWriteResult> {
  const { signal, sourceDateEpoch } = opts;
  const sink = new Sink(out, signal);
  const links = new Map<string, string>();
  const clamp = (mtimeMs: number) => {
    const s = Math.floor(mtimeMs / 1000);
    return sourceDateEpoch !== undefined && s > sourceDateEpoch ? sourceDateEpoch : s;
  };
  let outError: unknown;
  const onOutError = (e: unknown) => {
    outError = e;
  };
  out.on('error', onOutError);

  const walk = async (absDir: string, relDir: string): Promise<void> => {
    const names = fs.readdirSync(absDir).sort(byName);
    for (const name of names) {
      if (signal?.aborted) throw new BerthError('canceled', 'writing layer canceled');
      if (outError) throw outError;
      const abs = `${absDir}/${name}`;
      const rel = relDir === '' ? name : `${relDir}/${name}`;
      const st = fs.lstatSync(abs);
      const { xattrs, names: xattrNames } = readXattrs(abs);
      const base = { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: clamp(st.mtimeMs) };
      if (isWhiteout(st, xattrNames)) {
        const wh = relDir === '' ? `${WHITEOUT_PREFIX}${name}` : `${relDir}/${WHITEOUT_PREFIX}${name}`;
        sink.push(encodeHeader({ ...base, name: wh, type: 'file', size: 0, mode: 0o600 }));
        await sink.flush();
        continue;
      }
      if (st.isDirectory()) {
        sink.push(encodeHeader({ ...base, name: `${rel}/`, type: 'directory', size: 0, xattrs }));
        const opaque = xattrNames.includes(OVERLAY_OPAQUE_XATTR) ? lgetxattr(abs, OVERLAY_OPAQUE_XATTR) : undefined;
        if (opaque && opaque.length === 1 && opaque[0] === 0x79) {
          sink.push(
            encodeHeader({ ...base, name: `${rel}/${WHITEOUT_OPAQUE}`, type: 'file', size: 0, mode: base.mode & 0o777 }),
          );
        }
        await sink.flush();
        await walk(abs, rel);
        continue;
      }
      if (st.nlink > 1) {
        const key = `${st.dev}:${st.ino}`;
        const first = links.get(key);
        if (first !== undefined) {
          sink.push(encodeHeader({ ...base, name: rel, type: 'link', size: 0, linkname: first, xattrs }));
          await sink.flush();
          continue;
        }
        links.set(key, rel);
      }
      if (st.isSymbolicLink()) {
        sink.push(encodeHeader({ ...base, name: rel, type: 'symlink', size: 0, linkname: fs.readlinkSync(abs), xattrs }));
      } else if (st.isFile()) {
        await writeFile(sink, abs, rel, st, { ...base, xattrs });
      } else if (st.isCharacterDevice() || st.isBlockDevice()) {
        sink.push(
          encodeHeader({
            ...base,
            name: rel,
            type: st.isCharacterDevice() ? 'char' : 'block',
            size: 0,
            devmajor: devMajor(st.rdev),
            devminor: devMinor(st.rdev),
            xattrs,
          }),
        );
      } else if (st.isFIFO()) {
        sink.push(encodeHeader({ ...base, name: rel, type: 'fifo', size: 0, xattrs }));
      }
      // sockets are skipped, as tar and Docker do
      await sink.flush();
    }
  };

  try {
    await walk(dir, '');
    sink.push(END_OF_ARCHIVE);
    await sink.flush(true);
    if (outError) throw outError;
    out.end();
    if (!out.writableFinished) await waitFinish(out);
    out.off('error', onOutError);
    return { diffId: sink.digest(), size: sink.size };
  } catch (e) {
    const err = e instanceof BerthError ? e : fromSystemError(e, `writing a layer of ${dir}`);
    // Our listener stays until 'close' so this destroy cannot become an uncaught 'error'.
    out.once('close', () => out.off('error', onOutError));
    out.destroy(err);
    throw err;
  }
}

async function waitFinish(out: Writable): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    out.once('finish', () => resolve());
    out.once('error', reject);
    out.once('close', () => (out.writableFinished ? resolve() : reject(new BerthError('internal', 'layer output closed early'))));
  });
}

async function writeFile(
  sink: Sink,
  abs: string,
  rel: string,
  st: fs.Stats,
  base: Omit<TarWriteHeader, 'name' | 'type' | 'size'>,
): Promise<void> {
  if (st.size <= SMALL_FILE) {
    const data = fs.readFileSync(abs);
    sink.push(encodeHeader({ ...base, name: rel, type: 'file', size: data.length }));
    if (data.length > 0) {
      sink.push(data);
      const pad = padding(data.length);
      if (pad) sink.push(END_OF_ARCHIVE.subarray(0, pad));
    }
    return;
  }
  const fd = fs.openSync(abs, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  try {
    sink.push(encodeHeader({ ...base, name: rel, type: 'file', size: st.size }));
    let left = st.size;
    while (left > 0) {
      const buf = Buffer.allocUnsafe(Math.min(SMALL_FILE, left));
      let got = 0;
      while (got < buf.length) {
        const n = fs.readSync(fd, buf, got, buf.length - got, null);
        if (n === 0) throw failedPrecondition(`${abs} shrank while it was written into a layer`);
        got += n;
      }
      sink.push(buf);
      left -= buf.length;
      await sink.flush();
    }
    const pad = padding(st.size);
    if (pad) sink.push(END_OF_ARCHIVE.subarray(0, pad));
  } finally {
    fs.closeSync(fd);
  }
}

export type ChangeKind = 'A' | 'C' | 'D';

/**
 * `docker diff`: what `upperDir` changes against `lowerDirs` (top-most lower first). Paths are
 * absolute as Docker prints them ("/etc/foo"), sorted. 'D' for whiteouts, 'A' for paths absent from
 * every lower dir, 'C' otherwise. A directory present below with the same mode and mtime is not itself
 * reported, but the parent of every 'A' or 'D' is reported as 'C' (Docker's `C /etc` before `A /etc/foo`).
 * Lower dirs are probed with lstat, never following a symlink out of them; a whiteout in a higher lower
 * hiding a path in a deeper one is not considered.
 */
export function listChanges(upperDir: string, lowerDirs: string[]): { kind: ChangeKind; path: string }[] {
  const changes = new Map<string, ChangeKind>();
  const lowerStat = (rel: string): fs.Stats | undefined => {
    for (const l of lowerDirs) {
      const st = fs.lstatSync(`${l}/${rel}`, { throwIfNoEntry: false });
      if (st) return st;
    }
    return undefined;
  };
  const markParent = (relDir: string) => {
    if (relDir !== '' && !changes.has(`/${relDir}`)) changes.set(`/${relDir}`, 'C');
  };
  const walk = (absDir: string, relDir: string) => {
    for (const name of fs.readdirSync(absDir)) {
      const abs = `${absDir}/${name}`;
      const rel = relDir === '' ? name : `${relDir}/${name}`;
      const st = fs.lstatSync(abs);
      let xattrNames: string[] = [];
      if (st.isFile() && st.size === 0) xattrNames = llistxattr(abs);
      if (isWhiteout(st, xattrNames)) {
        changes.set(`/${rel}`, 'D');
        markParent(relDir);
        continue;
      }
      const low = lowerStat(rel);
      if (!low) {
        changes.set(`/${rel}`, 'A');
        markParent(relDir);
      } else if (
        !(st.isDirectory() && low.isDirectory() && st.mode === low.mode && Math.floor(st.mtimeMs) === Math.floor(low.mtimeMs))
      ) {
        changes.set(`/${rel}`, 'C');
      }
      if (st.isDirectory()) walk(abs, rel);
    }
  };
  try {
    walk(upperDir, '');
  } catch (e) {
    throw fromSystemError(e, `listing changes of ${upperDir}`);
  }
  return [...changes].map(([path, kind]) => ({ kind, path })).sort((a, b) => byName(a.path, b.path));
}
