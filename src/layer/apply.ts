/**
 * Unpacks an OCI layer tar into an empty directory that overlayfs will use as a lower or upper dir.
 *
 * Security model: `dir` starts empty and this module records every path it creates and its kind, so
 * it never has to ask the file system whether a parent is a symlink: a parent recorded as a symlink
 * (or anything but a directory) rejects the entry. Paths are normalised lexically; `..` that climbs
 * above `dir` is rejected; leading `/` is stripped (absolute paths land inside `dir`, as in Docker).
 * Files are created with O_EXCL|O_NOFOLLOW and metadata calls never follow symlinks (or are only made
 * on objects this module just created and knows not to be symlinks).
 *
 * Per-entry work is synchronous fs calls: for layers of many small files they cost less than the
 * promise machinery of their async twins (DEPENDENCIES.md).
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import type { Readable } from 'node:stream';
import type { Digest } from '../content/digest.js';
import { BerthError, corrupt, fromSystemError, invalidArgument } from '../errors.js';
import { lsetxattr, mknod, S_IFCHR, S_IFBLK, S_IFIFO } from '../sys/libc.js';
import { decompress } from './compression.js';
import { type TarHeader, TarParser } from './tar-reader.js';

export interface ApplyResult {
  /** sha256 of the uncompressed tar stream, every byte including what follows the end marker. */
  diffId: Digest;
  /** Bytes of regular file content written. */
  size: number;
  /** Tar entries processed (pax/GNU metadata headers not counted). */
  entries: number;
}

export interface ApplyOptions {
  signal?: AbortSignal;
}

export const WHITEOUT_PREFIX = '.wh.';
export const WHITEOUT_META_PREFIX = '.wh..wh.';
export const WHITEOUT_OPAQUE = '.wh..wh..opq';
export const OVERLAY_OPAQUE_XATTR = 'trusted.overlay.opaque';
/** overlayfs' own xattrs: never taken from a layer (a hostile redirect/metacopy could confuse overlay). */
export const OVERLAY_XATTR_PREFIX = 'trusted.overlay.';

const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW, O_CLOEXEC } = fs.constants as typeof fs.constants & {
  O_CLOEXEC?: number;
};
const CREATE_FLAGS = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | (O_CLOEXEC ?? 0o2000000);

/** What this extraction created at a path. */
enum Kind {
  Dir = 1,
  File = 2,
  Symlink = 3,
  Other = 4,
}

/** errno codes of lsetxattr that mean "this file system or this kind of file does not take it". */
const XATTR_IGNORABLE = new Set(['ENOTSUP', 'EOPNOTSUPP', 'EPERM', 'E2BIG', 'ERANGE', 'EINVAL', 'ENOSPC']);

/**
 * Unpacks a (possibly gzip- or zstd-compressed) layer into the EMPTY directory `dir` (created when
 * missing), converting OCI whiteouts to overlayfs ones: `a/.wh.x` becomes a 0/0 character device
 * `a/x`, `a/.wh..wh..opq` sets `trusted.overlay.opaque=y` on `a`; other `.wh..wh.*` entries are ignored.
 *
 * Keeps owners, modes (setuid/setgid/sticky included), xattrs, hard links, symlinks, devices, fifos
 * and mtimes (directory mtimes are set last). A later entry replaces an earlier one at the same path,
 * except that a directory over a directory merges. The `.` entry is skipped, as Docker does.
 * Extended attributes that the file system refuses (EPERM, ENOTSUP, E2BIG, ...) are skipped silently,
 * as Docker does; `trusted.overlay.*` attributes in the tar are always dropped.
 *
 * Fails with `corrupt` for malformed or hostile archives (an entry escaping `dir`, a parent that is a
 * symlink or not a directory, a hard link to a missing or escaping target, unsupported entry types),
 * `canceled` when `opts.signal` aborts, `no_space`/`permission_denied` from the file system,
 * `invalid_argument` when `dir` is not an empty directory. On failure `dir` is left as it is, with
 * partial content, for the caller to delete; no file descriptor stays open.
 */
export async function applyLayer(src: Readable, dir: string, opts: ApplyOptions = {}): Promise<ApplyResult> {
  const { signal } = opts;
  const root = prepareRoot(dir);
  const hash = createHash('sha256');
  const ex = new Extractor(root);
  const parser = new TarParser(ex);
  let stream: Readable | undefined;
  const onAbort = () => stream?.destroy(canceled());
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    if (signal?.aborted) throw canceled();
    stream = (await decompress(src)).stream;
    if (signal?.aborted) throw canceled();
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      hash.update(chunk);
      if (!parser.done) parser.write(chunk);
    }
    if (signal?.aborted) throw canceled();
    parser.end();
    ex.finish();
    return { diffId: `sha256:${hash.digest('hex')}`, size: ex.bytes, entries: parser.entries };
  } catch (e) {
    ex.abort();
    stream?.destroy();
    src.destroy();
    if (signal?.aborted) throw canceled(e);
    throw classify(e);
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}

function canceled(cause?: unknown): BerthError {
  return new BerthError('canceled', 'layer extraction canceled', cause !== undefined ? { cause } : {});
}

/** Stream errors that are not ours: zlib and friends mean bad bytes; system errors keep their class. */
function classify(e: unknown): BerthError {
  if (e instanceof BerthError) return e;
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  if (typeof code === 'string' && /^E[A-Z0-9]+$/.test(code)) return fromSystemError(e, 'reading layer');
  return corrupt(`reading layer: ${(e as Error)?.message ?? String(e)}`, { cause: e });
}

function prepareRoot(dir: string): string {
  try {
    fs.mkdirSync(dir, { recursive: true });
    const st = fs.lstatSync(dir);
    if (!st.isDirectory()) throw invalidArgument(`cannot unpack a layer into ${dir}: not a directory`);
    if (fs.readdirSync(dir).length > 0) throw invalidArgument(`cannot unpack a layer into ${dir}: not empty`);
    return fs.realpathSync(dir);
  } catch (e) {
    throw fromSystemError(e, `preparing ${dir} for a layer`);
  }
}

/**
 * Lexically normalises an entry path to "a/b/c" ('' for the root). Strips leading '/', drops '.'
 * and empty components, resolves '..'; returns undefined when '..' climbs above the root.
 */
export function normalizeEntryPath(name: string): string | undefined {
  const parts = name.split('/');
  const out: string[] = [];
  for (const p of parts) {
    if (p === '' || p === '.') continue;
    if (p === '..') {
      if (out.length === 0) return undefined;
      out.pop();
    } else out.push(p);
  }
  return out.join('/');
}

/** The TarHandler that turns entries into files; all methods are synchronous. */
class Extractor {
  readonly root: string;
  /** Every path created, relative to root, and its kind. The root itself is '' -> Dir. */
  private readonly created = new Map<string, Kind>();
  /** Directory mtimes to set once all children exist. */
  private readonly dirTimes = new Map<string, number>();
  /** Parent paths already verified to be directories we created (cleared when anything is removed). */
  private readonly verified = new Set<string>();
  private fd = -1;
  private cur: TarHeader | undefined;
  private curPath = '';
  bytes = 0;

  constructor(root: string) {
    this.root = root;
    this.created.set('', Kind.Dir);
    this.verified.add('');
  }

  entry(h: TarHeader): void {
    this.cur = h;
    try {
      this.start(h);
    } catch (e) {
      this.closeFd();
      throw this.wrap(e, h.name);
    }
  }

  data(chunk: Buffer): void {
    if (this.fd < 0) return; // body of an entry we skip
    try {
      let off = 0;
      while (off < chunk.length) off += fs.writeSync(this.fd, chunk, off, chunk.length - off);
      this.bytes += chunk.length;
    } catch (e) {
      this.closeFd();
      throw this.wrap(e, this.cur?.name ?? '');
    }
  }

  entryEnd(): void {
    if (this.fd < 0) return;
    const h = this.cur as TarHeader;
    const fd = this.fd;
    try {
      fs.fchownSync(fd, h.uid, h.gid);
      fs.fchmodSync(fd, h.mode);
      if (h.xattrs) this.setXattrs(this.abs(this.curPath), h.xattrs);
      fs.futimesSync(fd, h.mtime, h.mtime);
    } catch (e) {
      throw this.wrap(e, h.name);
    } finally {
      this.closeFd();
    }
  }

  /** Sets the deferred directory mtimes. */
  finish(): void {
    for (const [rel, mtime] of this.dirTimes) {
      try {
        fs.lutimesSync(this.abs(rel), mtime, mtime);
      } catch (e) {
        throw this.wrap(e, rel);
      }
    }
  }

  /** Releases the open file, if any (error path). */
  abort(): void {
    this.closeFd();
  }

  private closeFd(): void {
    if (this.fd >= 0) {
      const fd = this.fd;
      this.fd = -1;
      try {
        fs.closeSync(fd);
      } catch {
        // nothing useful to do: the extraction already failed or the data was written
      }
    }
  }

  private abs(rel: string): string {
    return rel === '' ? this.root : `${this.root}/${rel}`;
  }

  private wrap(e: unknown, name: string): BerthError {
    if (e instanceof BerthError) return e;
    const code = (e as NodeJS.ErrnoException | undefined)?.code;
    if (code === 'ENOSPC' || code === 'EDQUOT' || code === 'EACCES' || code === 'EPERM' || code === 'EROFS' || code === 'EMFILE') {
      return fromSystemError(e, `unpacking layer entry ${JSON.stringify(name)}`);
    }
    return corrupt(`cannot unpack layer entry ${JSON.stringify(name)}: ${(e as Error)?.message ?? String(e)}`, {
      cause: e,
    });
  }

  private start(h: TarHeader): void {
    const rel = normalizeEntryPath(h.name);
    if (rel === undefined) throw corrupt(`layer entry ${JSON.stringify(h.name)} points outside the layer`);
    if (rel === '') return; // "./": Docker leaves the root alone
    // AUFS metadata at the top (.wh..wh.plnk/..., .wh..wh.aufs): not part of the file system.
    if (rel.startsWith(WHITEOUT_META_PREFIX)) return;
    const slash = rel.lastIndexOf('/');
    const base = slash < 0 ? rel : rel.slice(slash + 1);
    const parent = slash < 0 ? '' : rel.slice(0, slash);

    if (base.startsWith(WHITEOUT_PREFIX)) {
      this.ensureParent(parent, h.name);
      if (base === WHITEOUT_OPAQUE) {
        lsetxattr(this.abs(parent), OVERLAY_OPAQUE_XATTR, Buffer.from('y'));
        return;
      }
      if (base.startsWith(WHITEOUT_META_PREFIX)) return; // other AUFS metadata: meaningless here
      const victim = base.slice(WHITEOUT_PREFIX.length);
      if (victim === '' || victim === '.' || victim === '..') {
        throw corrupt(`layer entry ${JSON.stringify(h.name)} is not a valid whiteout`);
      }
      const target = parent === '' ? victim : `${parent}/${victim}`;
      this.clear(target, false);
      const p = this.abs(target);
      mknod(p, S_IFCHR, 0, 0);
      this.created.set(target, Kind.Other);
      fs.lchownSync(p, h.uid, h.gid);
      return;
    }

    this.ensureParent(parent, h.name);
    const p = this.abs(rel);
    switch (h.type) {
      case 'file': {
        this.clear(rel, false);
        this.fd = fs.openSync(p, CREATE_FLAGS, 0o600);
        this.curPath = rel;
        this.created.set(rel, Kind.File);
        return; // body and metadata follow in data() and entryEnd()
      }
      case 'directory': {
        const merged = this.clear(rel, true);
        if (!merged) {
          fs.mkdirSync(p, 0o700);
          this.created.set(rel, Kind.Dir);
        }
        fs.lchownSync(p, h.uid, h.gid);
        fs.chmodSync(p, h.mode); // a directory we created: no symlink to follow
        if (h.xattrs) this.setXattrs(p, h.xattrs);
        this.dirTimes.set(rel, h.mtime);
        return;
      }
      case 'symlink': {
        this.clear(rel, false);
        fs.symlinkSync(h.linkname, p);
        this.created.set(rel, Kind.Symlink);
        fs.lchownSync(p, h.uid, h.gid);
        if (h.xattrs) this.setXattrs(p, h.xattrs);
        fs.lutimesSync(p, h.mtime, h.mtime);
        return;
      }
      case 'link': {
        const target = normalizeEntryPath(h.linkname);
        if (target === undefined || target === '') {
          throw corrupt(`layer entry ${JSON.stringify(h.name)}: hard link target ${JSON.stringify(h.linkname)} is outside the layer`);
        }
        const kind = this.created.get(target);
        if (kind === undefined || kind === Kind.Dir) {
          throw corrupt(
            `layer entry ${JSON.stringify(h.name)}: hard link target ${JSON.stringify(h.linkname)} is not an earlier file of the layer`,
          );
        }
        if (target === rel) return; // a link to itself: the file is already there
        this.clear(rel, false);
        fs.linkSync(this.abs(target), p);
        this.created.set(rel, kind);
        return;
      }
      case 'char':
      case 'block':
      case 'fifo': {
        this.clear(rel, false);
        const fmt = h.type === 'char' ? S_IFCHR : h.type === 'block' ? S_IFBLK : S_IFIFO;
        mknod(p, fmt | (h.mode & 0o777), h.devmajor, h.devminor);
        this.created.set(rel, Kind.Other);
        fs.lchownSync(p, h.uid, h.gid);
        fs.chmodSync(p, h.mode); // a node we just made: not a symlink
        if (h.xattrs) this.setXattrs(p, h.xattrs);
        fs.lutimesSync(p, h.mtime, h.mtime);
        return;
      }
      default:
        throw corrupt(`layer entry ${JSON.stringify(h.name)} has unsupported tar type '${h.typeflag}'`);
    }
  }

  /**
   * Makes sure `parent` is a directory created by this extraction, creating missing ones (0755,
   * root-owned, as Docker does). Rejects a parent that is a symlink or not a directory.
   */
  private ensureParent(parent: string, name: string): void {
    if (this.verified.has(parent)) return;
    const parts = parent.split('/');
    let cur = '';
    for (const part of parts) {
      cur = cur === '' ? part : `${cur}/${part}`;
      const kind = this.created.get(cur);
      if (kind === Kind.Dir) continue;
      if (kind === Kind.Symlink) {
        throw corrupt(`layer entry ${JSON.stringify(name)} is beneath the symlink ${JSON.stringify(cur)}`);
      }
      if (kind !== undefined) {
        throw corrupt(`layer entry ${JSON.stringify(name)} is beneath ${JSON.stringify(cur)}, which is not a directory`);
      }
      const p = this.abs(cur);
      fs.mkdirSync(p, 0o755);
      fs.chmodSync(p, 0o755);
      this.created.set(cur, Kind.Dir);
    }
    this.verified.add(parent);
  }

  /**
   * Removes whatever this extraction created at `rel` so a new entry can take its place. When
   * `keepDir` and `rel` is a directory, keeps it and returns true (directory over directory merges).
   */
  private clear(rel: string, keepDir: boolean): boolean {
    const kind = this.created.get(rel);
    if (kind === undefined) return false;
    if (kind === Kind.Dir) {
      if (keepDir) return true;
      fs.rmSync(this.abs(rel), { recursive: true, force: true });
      const prefix = `${rel}/`;
      for (const k of this.created.keys()) if (k.startsWith(prefix)) this.created.delete(k);
      for (const k of this.dirTimes.keys()) if (k === rel || k.startsWith(prefix)) this.dirTimes.delete(k);
      this.verified.clear();
      this.verified.add('');
    } else {
      fs.unlinkSync(this.abs(rel));
    }
    this.created.delete(rel);
    return false;
  }

  private setXattrs(p: string, xattrs: Map<string, Buffer>): void {
    for (const [name, value] of xattrs) {
      if (name.startsWith(OVERLAY_XATTR_PREFIX)) continue;
      try {
        lsetxattr(p, name, value);
      } catch (e) {
        if (XATTR_IGNORABLE.has((e as { code?: string }).code ?? '')) continue;
        throw e;
      }
    }
  }
}
