/**
 * Test support: builds tar archives byte by byte (independently of tar-writer.ts, so tests of the
 * reader do not trust the writer), temporary directories and tree snapshots for comparisons.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { lgetxattr, llistxattr } from '../sys/libc.js';

export interface RawHeader {
  name: string;
  /** Type flag character; '0' by default. */
  type?: string;
  size?: number;
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: number;
  linkname?: string;
  prefix?: string;
  devmajor?: number;
  devminor?: number;
  /** Raw text for the size field, overriding `size` (for garbage sizes). */
  sizeField?: Buffer;
  /** Adds this to the correct checksum (to make it wrong). */
  checksumDelta?: number;
  /** 'ustar' (POSIX, default) or 'gnu'. */
  format?: 'ustar' | 'gnu';
}

function octal(v: number, len: number): string {
  return `${v.toString(8).padStart(len - 1, '0')}\0`;
}

/** One 512-byte header block. */
export function rawHeader(h: RawHeader): Buffer {
  const b = Buffer.alloc(512);
  b.write(h.name, 0, 100, 'utf8');
  b.write(octal(h.mode ?? 0o644, 8), 100, 'latin1');
  b.write(octal(h.uid ?? 0, 8), 108, 'latin1');
  b.write(octal(h.gid ?? 0, 8), 116, 'latin1');
  if (h.sizeField) h.sizeField.copy(b, 124, 0, 12);
  else b.write(octal(h.size ?? 0, 12), 124, 'latin1');
  b.write(octal(h.mtime ?? 1_600_000_000, 12), 136, 'latin1');
  b.write(h.type ?? '0', 156, 'latin1');
  if (h.linkname) b.write(h.linkname, 157, 100, 'utf8');
  if (h.format === 'gnu') b.write('ustar  \0', 257, 'latin1');
  else b.write('ustar\x0000', 257, 'latin1');
  b.write(octal(h.devmajor ?? 0, 8), 329, 'latin1');
  b.write(octal(h.devminor ?? 0, 8), 337, 'latin1');
  if (h.prefix) b.write(h.prefix, 345, 155, 'utf8');
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (const x of b) sum += x;
  b.write(`${octal(sum + (h.checksumDelta ?? 0), 7)} `, 148, 'latin1');
  return b;
}

function pad(n: number): Buffer {
  return Buffer.alloc((512 - (n % 512)) % 512);
}

/** A header plus its body and padding. */
export function rawEntry(h: RawHeader, body: Buffer | string = Buffer.alloc(0)): Buffer {
  const data = typeof body === 'string' ? Buffer.from(body) : body;
  return Buffer.concat([rawHeader({ size: data.length, ...h }), data, pad(data.length)]);
}

/** A pax 'x' (or 'g') header with the given records. */
export function paxEntry(records: [string, string | Buffer][], type = 'x'): Buffer {
  const parts: Buffer[] = [];
  for (const [k, v] of records) {
    const val = typeof v === 'string' ? Buffer.from(v) : v;
    const rest = Buffer.byteLength(k) + val.length + 3;
    let len = rest + 1;
    while (String(len).length + rest !== len) len++;
    parts.push(Buffer.concat([Buffer.from(`${len} ${k}=`), val, Buffer.from('\n')]));
  }
  return rawEntry({ name: 'PaxHeaders/x', type }, Buffer.concat(parts));
}

/** Concatenates entries and the two zero blocks. */
export function archive(...entries: Buffer[]): Buffer {
  return Buffer.concat([...entries, Buffer.alloc(1024)]);
}

/** A readable of `buf` in chunks of `chunk` bytes (small chunks exercise the parser's seams). */
export function streamOf(buf: Buffer, chunk = 64 * 1024): Readable {
  const parts: Buffer[] = [];
  for (let i = 0; i < buf.length; i += chunk) parts.push(buf.subarray(i, i + chunk));
  return Readable.from(parts, { objectMode: false });
}

export function tmpDir(prefix = 'berth-layer-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Snapshot of a tree for equality checks: type, mode, owner, size/target/rdev, mtime, xattrs, links. */
export function snapshotTree(root: string, opts: { mtimes?: boolean; dirMtimes?: boolean } = {}): Record<string, string> {
  const out: Record<string, string> = {};
  const inodes = new Map<number, string>();
  const walk = (dir: string, rel: string) => {
    for (const name of fs.readdirSync(dir).sort()) {
      const abs = path.join(dir, name);
      const r = rel ? `${rel}/${name}` : name;
      const st = fs.lstatSync(abs);
      const xattrs = listXattrs(abs);
      let desc = `mode=${(st.mode >>> 0).toString(8)} uid=${st.uid} gid=${st.gid}`;
      if (st.isFile()) desc += ` size=${st.size} sha=${sha(fs.readFileSync(abs))}`;
      if (st.isSymbolicLink()) desc += ` -> ${fs.readlinkSync(abs)}`;
      if (st.isCharacterDevice() || st.isBlockDevice()) desc += ` rdev=${st.rdev}`;
      const wantTime = st.isDirectory() ? opts.dirMtimes : opts.mtimes;
      if (wantTime) desc += ` mtime=${Math.floor(st.mtimeMs / 1000)}`;
      if (xattrs) desc += ` xattrs=${xattrs}`;
      if (!st.isDirectory() && st.nlink > 1) {
        const first = inodes.get(st.ino);
        if (first) desc += ` hardlink=${first}`;
        else inodes.set(st.ino, r);
      }
      out[r] = desc;
      if (st.isDirectory()) walk(abs, r);
    }
  };
  walk(root, '');
  return out;
}

function sha(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex').slice(0, 16);
}

function listXattrs(p: string): string {
  return llistxattr(p)
    .sort()
    .map((k) => `${k}=${lgetxattr(p, k)?.toString('hex') ?? ''}`)
    .join(';');
}

/** Lists every path under `dir` (to prove nothing escaped into a sentinel directory). */
export function listAll(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string, rel: string) => {
    for (const name of fs.readdirSync(d)) {
      const r = rel ? `${rel}/${name}` : name;
      out.push(r);
      const st = fs.lstatSync(path.join(d, name));
      if (st.isDirectory()) walk(path.join(d, name), r);
    }
  };
  walk(dir, '');
  return out.sort();
}
