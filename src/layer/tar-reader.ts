/**
 * Streaming tar parser for layer archives: ustar, GNU (long names 'L' / long links 'K', base-256
 * numbers) and POSIX pax ('x' and global 'g' headers, `SCHILY.xattr.*`).
 *
 * Two APIs over one state machine:
 * - {@link TarParser}: push bytes with `write()`, get synchronous callbacks. Used by applyLayer, whose
 *   per-entry work is synchronous file system calls; this keeps per-file overhead minimal.
 * - {@link readTar}: an async generator of `{ header, body }` entries for everything else.
 *
 * Nothing is buffered beyond one input chunk, except metadata records (pax / GNU long names), which are
 * capped at {@link MAX_META} bytes. Every malformation is reported as a `corrupt` BerthError.
 */
import { corrupt } from '../errors.js';

export const BLOCK = 512;
/** Largest pax record block or GNU long name/link accepted; larger ones are hostile or broken. */
export const MAX_META = 1024 * 1024;

export type TarEntryType =
  | 'file'
  | 'link' // hard link to `linkname`
  | 'symlink'
  | 'char'
  | 'block'
  | 'directory'
  | 'fifo'
  | 'unsupported'; // anything else (sparse, volume labels, ...); `typeflag` tells which

/** One archive member, with pax and GNU extensions already applied. */
export interface TarHeader {
  /** Path as stored (pax `path` > GNU long name > ustar prefix/name); not normalised or validated. */
  name: string;
  type: TarEntryType;
  /** The raw type flag character ('0', '5', 'S', ...). */
  typeflag: string;
  /** Body bytes that follow; always 0 for types without content (links, directories, devices). */
  size: number;
  /** Permission bits including setuid/setgid/sticky (mode & 0o7777). */
  mode: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  /** Seconds since the epoch; fractional when a pax `mtime` record says so. */
  mtime: number;
  /** Target of a symlink or hard link. */
  linkname: string;
  devmajor: number;
  devminor: number;
  /** Extended attributes from `SCHILY.xattr.*` pax records (values are raw bytes). */
  xattrs: Map<string, Buffer> | undefined;
}

/** Callbacks of {@link TarParser}. They run synchronously inside `write()`; a throw aborts the parse. */
export interface TarHandler {
  /** A new entry starts; its body (header.size bytes) follows through `data`, then `entryEnd`. */
  entry(header: TarHeader): void;
  /** A piece of the current entry's body; a view into the input chunk (do not mutate it). */
  data(chunk: Buffer): void;
  /** The current entry's body is complete. */
  entryEnd(): void;
}

enum State {
  Header,
  Body,
  Padding,
  Meta,
  Done,
}

// Made on first use: constructing a TextDecoder loads the encoding support (about 2 ms), and every
// command that imports the layer code (run, rm) would pay it without reading a tar.
let decoder: { decode(b: Uint8Array): string } | undefined;
const utf8 = (b: Uint8Array): string => (decoder ??= new TextDecoder('utf-8')).decode(b);
const MAX_SAFE = Number.MAX_SAFE_INTEGER;

function cstring(buf: Buffer, start: number, end: number): string {
  let e = start;
  while (e < end && buf[e] !== 0) e++;
  return utf8(buf.subarray(start, e));
}

function isZeroBlock(buf: Buffer, off: number): boolean {
  for (let i = off; i < off + BLOCK; i++) if (buf[i] !== 0) return false;
  return true;
}

/**
 * Parses a numeric header field: octal ASCII (optionally space/NUL padded) or GNU base-256 (high
 * bit of the first byte set). Fails on garbage and on values outside the safe integer range;
 * negative values only when `allowNegative` (mtime).
 */
function parseNumber(buf: Buffer, start: number, len: number, field: string, allowNegative = false): number {
  const first = buf[start];
  if (first & 0x80) {
    const negative = (first & 0x40) !== 0;
    const inv = negative ? 0xff : 0;
    let x = 0;
    for (let i = 0; i < len; i++) {
      let c = buf[start + i] ^ inv;
      if (i === 0) c &= 0x7f;
      if (x > (MAX_SAFE - c) / 256) throw corrupt(`tar header: ${field} out of range`);
      x = x * 256 + c;
    }
    if (negative) {
      if (!allowNegative) throw corrupt(`tar header: negative ${field}`);
      return -x - 1;
    }
    return x;
  }
  let i = start;
  const end = start + len;
  while (i < end && (buf[i] === 0x20 || buf[i] === 0)) i++;
  let x = 0;
  let digits = 0;
  for (; i < end; i++) {
    const c = buf[i];
    if (c >= 0x30 && c <= 0x37) {
      x = x * 8 + (c - 0x30);
      digits++;
    } else break;
  }
  for (; i < end; i++) {
    if (buf[i] !== 0x20 && buf[i] !== 0) throw corrupt(`tar header: ${field} is not an octal number`);
  }
  if (digits === 0) return 0;
  return x;
}

function checksumOk(buf: Buffer, off: number): boolean {
  const stored = parseNumber(buf, off + 148, 8, 'checksum');
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : buf[off + i];
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  return stored === unsigned || stored === signed;
}

function typeOf(flag: number): TarEntryType {
  switch (flag) {
    case 0:
    case 0x30: // '0'
    case 0x37: // '7' contiguous file
      return 'file';
    case 0x31:
      return 'link';
    case 0x32:
      return 'symlink';
    case 0x33:
      return 'char';
    case 0x34:
      return 'block';
    case 0x35:
      return 'directory';
    case 0x36:
      return 'fifo';
    default:
      return 'unsupported';
  }
}

/** pax records of one 'x' or 'g' header; `null` values mean "unset" (an empty record). */
type PaxRecords = Map<string, string | Buffer | null>;

const XATTR_PREFIX = 'SCHILY.xattr.';

/** Parses pax extended header records ("%d %s=%s\n"); xattr values stay raw bytes. */
function parsePax(buf: Buffer, into: PaxRecords): void {
  let pos = 0;
  while (pos < buf.length) {
    // Trailing NUL padding is tolerated (some writers pad the record block).
    if (buf[pos] === 0) {
      for (let i = pos; i < buf.length; i++) if (buf[i] !== 0) throw corrupt('tar pax header: garbage after records');
      return;
    }
    let i = pos;
    let len = 0;
    while (i < buf.length && buf[i] >= 0x30 && buf[i] <= 0x39 && i - pos < 8) {
      len = len * 10 + (buf[i] - 0x30);
      i++;
    }
    if (i === pos || buf[i] !== 0x20 || len < 5 || pos + len > buf.length || buf[pos + len - 1] !== 0x0a) {
      throw corrupt('tar pax header: malformed record');
    }
    const recEnd = pos + len - 1;
    const eq = buf.indexOf(0x3d, i + 1);
    if (eq < 0 || eq >= recEnd || eq === i + 1) throw corrupt('tar pax header: malformed record');
    const key = utf8(buf.subarray(i + 1, eq));
    const raw = buf.subarray(eq + 1, recEnd);
    if (key.includes('\0')) throw corrupt('tar pax header: NUL in key');
    if (raw.length === 0) into.set(key, null);
    else if (key.startsWith(XATTR_PREFIX)) into.set(key, Buffer.from(raw));
    else {
      const v = utf8(raw);
      into.set(key, v);
    }
    pos += len;
  }
}

function paxInt(v: string | Buffer, key: string): number {
  const s = v.toString();
  if (!/^[0-9]{1,16}$/.test(s)) throw corrupt(`tar pax header: invalid ${key} "${s.slice(0, 40)}"`);
  const n = Number(s);
  if (n > MAX_SAFE) throw corrupt(`tar pax header: ${key} out of range`);
  return n;
}

function paxTime(v: string | Buffer, key: string): number {
  const s = v.toString();
  if (!/^-?[0-9]{1,16}(\.[0-9]{0,12})?$/.test(s)) throw corrupt(`tar pax header: invalid ${key} "${s.slice(0, 40)}"`);
  return Number(s);
}

function noNul(s: string, what: string): string {
  if (s.includes('\0')) throw corrupt(`tar header: NUL byte in ${what}`);
  return s;
}

/** Global pax keys that would be meaningless or dangerous if applied to every later entry. */
const LOCAL_ONLY = new Set(['path', 'linkpath', 'size']);
const MAX_GLOBAL_KEYS = 1024;

/**
 * Synchronous push parser. Feed it with `write(chunk)` and finish with `end()`; both throw a
 * `corrupt` BerthError on malformed input (bad checksum, truncation, bad numbers, oversized metadata).
 * After the end-of-archive marker (two zero blocks) any further bytes are ignored.
 */
export class TarParser {
  private readonly handler: TarHandler;
  private state = State.Header;
  private readonly hdr = Buffer.alloc(BLOCK);
  private hdrFill = 0;
  /** Bytes of body (Body/Meta) or padding (Padding) still expected. */
  private remaining = 0;
  private padAfter = 0;
  private zeroBlocks = 0;
  private meta: Buffer | undefined;
  private metaFill = 0;
  private metaType = 0;
  private longName: string | undefined;
  private longLink: string | undefined;
  private local: PaxRecords | undefined;
  private readonly global: PaxRecords = new Map();
  /** Number of entries handed to the handler so far. */
  entries = 0;

  constructor(handler: TarHandler) {
    this.handler = handler;
  }

  /** True once the end-of-archive marker was seen. */
  get done(): boolean {
    return this.state === State.Done;
  }

  write(chunk: Buffer): void {
    let pos = 0;
    const n = chunk.length;
    while (pos < n) {
      switch (this.state) {
        case State.Done:
          return;
        case State.Header: {
          if (this.hdrFill === 0 && n - pos >= BLOCK) {
            this.header(chunk, pos);
            pos += BLOCK;
          } else {
            const take = Math.min(BLOCK - this.hdrFill, n - pos);
            chunk.copy(this.hdr, this.hdrFill, pos, pos + take);
            this.hdrFill += take;
            pos += take;
            if (this.hdrFill === BLOCK) {
              this.hdrFill = 0;
              this.header(this.hdr, 0);
            }
          }
          break;
        }
        case State.Body: {
          const take = Math.min(this.remaining, n - pos);
          this.handler.data(take === n && pos === 0 ? chunk : chunk.subarray(pos, pos + take));
          pos += take;
          this.remaining -= take;
          if (this.remaining === 0) this.endBody();
          break;
        }
        case State.Meta: {
          const meta = this.meta as Buffer;
          const take = Math.min(this.remaining, n - pos);
          chunk.copy(meta, this.metaFill, pos, pos + take);
          this.metaFill += take;
          pos += take;
          this.remaining -= take;
          if (this.remaining === 0) {
            this.finishMeta();
            this.startPadding();
          }
          break;
        }
        case State.Padding: {
          const take = Math.min(this.remaining, n - pos);
          pos += take;
          this.remaining -= take;
          if (this.remaining === 0) this.state = State.Header;
          break;
        }
      }
    }
  }

  /** Declares the input complete; throws `corrupt` when it stopped inside a header, body or padding. */
  end(): void {
    if (this.state === State.Done) return;
    if (this.state === State.Header && this.hdrFill === 0) {
      if (this.meta !== undefined || this.local || this.longName !== undefined || this.longLink !== undefined) {
        throw corrupt('tar archive is truncated: extended header without its entry');
      }
      this.state = State.Done; // clean EOF (or one zero block then EOF) ends the archive
      return;
    }
    throw corrupt('tar archive is truncated');
  }

  private startPadding(): void {
    if (this.padAfter === 0) {
      this.state = State.Header;
    } else {
      this.remaining = this.padAfter;
      this.state = State.Padding;
    }
  }

  private endBody(): void {
    this.handler.entryEnd();
    this.startPadding();
  }

  private header(buf: Buffer, off: number): void {
    if (isZeroBlock(buf, off)) {
      if (++this.zeroBlocks === 2) this.state = State.Done;
      return;
    }
    if (this.zeroBlocks > 0) throw corrupt('tar archive has a lone zero block followed by data');
    if (!checksumOk(buf, off)) throw corrupt('tar header checksum mismatch');
    const flag = buf[off + 156];
    const size = parseNumber(buf, off + 124, 12, 'size');
    // pax 'x'/'g', GNU 'L' (long name) / 'K' (long link name): metadata for the next entry.
    if (flag === 0x78 || flag === 0x67 || flag === 0x4c || flag === 0x4b) {
      if (size > MAX_META) throw corrupt(`tar extended header of ${size} bytes is too large (limit ${MAX_META})`);
      this.meta = Buffer.alloc(size);
      this.metaFill = 0;
      this.metaType = flag;
      this.remaining = size;
      this.padAfter = (BLOCK - (size % BLOCK)) % BLOCK;
      if (size === 0) {
        this.finishMeta();
        this.startPadding();
      } else this.state = State.Meta;
      return;
    }
    this.emit(buf, off, flag, size);
  }

  private finishMeta(): void {
    const meta = this.meta as Buffer;
    this.meta = undefined;
    switch (this.metaType) {
      case 0x4c:
        this.longName = cstring(meta, 0, meta.length);
        break;
      case 0x4b:
        this.longLink = cstring(meta, 0, meta.length);
        break;
      case 0x78: {
        const local = this.local ?? new Map();
        parsePax(meta, local);
        if (local.size > MAX_GLOBAL_KEYS) throw corrupt('tar pax header has too many records');
        this.local = local;
        break;
      }
      case 0x67: {
        const g: PaxRecords = new Map();
        parsePax(meta, g);
        for (const [k, v] of g) {
          if (LOCAL_ONLY.has(k)) continue;
          if (v === null) this.global.delete(k);
          else this.global.set(k, v);
        }
        if (this.global.size > MAX_GLOBAL_KEYS) throw corrupt('tar global pax header has too many records');
        break;
      }
    }
  }

  private emit(buf: Buffer, off: number, flag: number, rawSize: number): void {
    const magic = buf.toString('latin1', off + 257, off + 263);
    const ustar = magic === 'ustar\0';
    let name = cstring(buf, off, off + 100);
    if (ustar && buf[off + 345] !== 0) name = `${cstring(buf, off + 345, off + 500)}/${name}`;
    const type = typeOf(flag);
    const h: TarHeader = {
      name,
      type,
      typeflag: String.fromCharCode(flag),
      size: type === 'file' || type === 'unsupported' ? rawSize : 0,
      mode: parseNumber(buf, off + 100, 8, 'mode') & 0o7777,
      uid: parseNumber(buf, off + 108, 8, 'uid'),
      gid: parseNumber(buf, off + 116, 8, 'gid'),
      uname: magic.startsWith('ustar') ? cstring(buf, off + 265, off + 297) : '',
      gname: magic.startsWith('ustar') ? cstring(buf, off + 297, off + 329) : '',
      mtime: parseNumber(buf, off + 136, 12, 'mtime', true),
      linkname: cstring(buf, off + 157, off + 257),
      devmajor: 0,
      devminor: 0,
      xattrs: undefined,
    };
    if (type === 'char' || type === 'block') {
      h.devmajor = parseNumber(buf, off + 329, 8, 'devmajor');
      h.devminor = parseNumber(buf, off + 337, 8, 'devminor');
    }
    if (this.longName !== undefined) h.name = this.longName;
    if (this.longLink !== undefined) h.linkname = this.longLink;
    this.longName = undefined;
    this.longLink = undefined;
    const local = this.local;
    this.local = undefined;
    if (this.global.size > 0) this.applyPax(h, this.global, local);
    if (local) this.applyPax(h, local);
    // Pre-POSIX archives mark directories by a trailing slash on a plain file entry.
    if (flag === 0 && h.size === 0 && h.name.endsWith('/')) h.type = 'directory';
    noNul(h.name, 'entry name');
    noNul(h.linkname, `link target of ${h.name}`);
    if (h.size > MAX_SAFE) throw corrupt(`tar entry ${h.name}: size out of range`);
    this.entries++;
    this.handler.entry(h);
    if (h.size === 0) {
      this.handler.entryEnd();
      this.state = State.Header;
      return;
    }
    this.remaining = h.size;
    this.padAfter = (BLOCK - (h.size % BLOCK)) % BLOCK;
    this.state = State.Body;
  }

  /** Applies `recs` to `h`, except keys that `unset` records as empty (the header's own value stays). */
  private applyPax(h: TarHeader, recs: PaxRecords, unset?: PaxRecords): void {
    for (const [k, v] of recs) {
      if (v === null || (unset && unset.get(k) === null)) continue;
      switch (k) {
        case 'path':
          h.name = v.toString();
          break;
        case 'linkpath':
          h.linkname = v.toString();
          break;
        case 'size':
          if (h.type === 'file' || h.type === 'unsupported') h.size = paxInt(v, k);
          else paxInt(v, k);
          break;
        case 'uid':
          h.uid = paxInt(v, k);
          break;
        case 'gid':
          h.gid = paxInt(v, k);
          break;
        case 'uname':
          h.uname = v.toString();
          break;
        case 'gname':
          h.gname = v.toString();
          break;
        case 'mtime':
          h.mtime = paxTime(v, k);
          break;
        default:
          if (k.startsWith(XATTR_PREFIX)) {
            const name = k.slice(XATTR_PREFIX.length);
            if (name.length === 0 || name.includes('\0')) throw corrupt('tar pax header: invalid xattr name');
            if (!h.xattrs) h.xattrs = new Map();
            h.xattrs.set(name, v as Buffer);
          } else if (k.startsWith('GNU.sparse.')) {
            throw corrupt(`tar entry ${h.name}: sparse files are not supported`);
          }
      }
    }
  }
}

/** One entry of {@link readTar}. Consume or ignore `body` before asking for the next entry. */
export interface TarEntry {
  header: TarHeader;
  /** The entry's content, streamed; skipped automatically when the next entry is requested. */
  body: AsyncIterable<Buffer>;
}

type Ev = { t: 0; h: TarHeader } | { t: 1; b: Buffer } | { t: 2 };

/**
 * Iterates the entries of a tar stream. Bodies stream through in input-sized pieces and may be left
 * unread (they are skipped). Throws `corrupt` on malformed archives; errors of `src` pass through.
 * Bytes after the end-of-archive marker are read and discarded, so `src` is always consumed fully.
 */
export async function* readTar(src: AsyncIterable<Buffer>): AsyncGenerator<TarEntry, void, undefined> {
  const q: Ev[] = [];
  let qi = 0;
  let finished = false;
  const parser = new TarParser({
    entry: (h) => q.push({ t: 0, h }),
    data: (b) => q.push({ t: 1, b }),
    entryEnd: () => q.push({ t: 2 }),
  });
  const it = src[Symbol.asyncIterator]();
  const pull = async (): Promise<Ev | null> => {
    while (qi >= q.length) {
      q.length = 0;
      qi = 0;
      if (finished) return null;
      const r = await it.next();
      if (r.done) {
        parser.end();
        finished = true;
      } else parser.write(r.value);
    }
    return q[qi++];
  };
  try {
    for (;;) {
      const ev = await pull();
      if (ev === null) return;
      if (ev.t !== 0) continue; // leftovers of a body the consumer skipped
      let bodyDone = false;
      const body: AsyncIterable<Buffer> = {
        [Symbol.asyncIterator]: () => ({
          next: async (): Promise<IteratorResult<Buffer>> => {
            if (bodyDone) return { done: true, value: undefined };
            const e = await pull();
            if (e === null || e.t !== 1) {
              bodyDone = true;
              return { done: true, value: undefined };
            }
            return { done: false, value: e.b };
          },
        }),
      };
      yield { header: ev.h, body };
      while (!bodyDone) {
        const e = await pull();
        if (e === null || e.t === 2) bodyDone = true;
      }
    }
  } finally {
    if (!finished) await it.return?.();
  }
}
