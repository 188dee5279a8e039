/**
 * Encodes tar headers: POSIX ustar, preceded by a pax 'x' header when a value does not fit (long
 * names or link targets, sizes of 8 GiB and more, large ids, negative mtimes, xattrs). GNU tar,
 * Go's archive/tar (Docker) and this package's reader all read this format.
 */
import { BLOCK } from './tar-reader.js';

export interface TarWriteHeader {
  /** Path inside the archive; directories end with '/'. */
  name: string;
  type: 'file' | 'link' | 'symlink' | 'char' | 'block' | 'directory' | 'fifo';
  size: number;
  mode: number;
  uid: number;
  gid: number;
  /** Whole seconds since the epoch. */
  mtime: number;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  xattrs?: Map<string, Buffer>;
}

const TYPEFLAG: Record<TarWriteHeader['type'], number> = {
  file: 0x30,
  link: 0x31,
  symlink: 0x32,
  char: 0x33,
  block: 0x34,
  directory: 0x35,
  fifo: 0x36,
};

/** Zero blocks that end an archive. */
export const END_OF_ARCHIVE = Buffer.alloc(2 * BLOCK);

/** Bytes of zero padding after `size` bytes of body. */
export function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

/** Writes `value` as zero-padded octal with a NUL terminator; false when it does not fit. */
function putOctal(buf: Buffer, off: number, len: number, value: number): boolean {
  if (!Number.isInteger(value) || value < 0) return false;
  const s = value.toString(8);
  if (s.length > len - 1) return false;
  buf.write(s.padStart(len - 1, '0'), off, len - 1, 'latin1');
  buf[off + len - 1] = 0;
  return true;
}

/** One pax record "<len> key=value\n"; `len` counts itself. */
function paxRecord(key: string, value: Buffer): Buffer {
  const rest = Buffer.byteLength(key) + value.length + 3; // ' ', '=', '\n'
  let len = rest + 1;
  while (String(len).length + rest > len) len++;
  len = String(len).length + rest;
  return Buffer.concat([Buffer.from(`${len} ${key}=`), value, Buffer.from('\n')]);
}

function ustarBlock(
  name: Buffer,
  prefix: Buffer | undefined,
  flag: number,
  h: { mode: number; uid: number; gid: number; size: number; mtime: number; devmajor?: number; devminor?: number },
  linkname: Buffer | undefined,
): Buffer {
  const b = Buffer.alloc(BLOCK);
  name.copy(b, 0);
  putOctal(b, 100, 8, h.mode & 0o7777);
  if (!putOctal(b, 108, 8, h.uid)) putOctal(b, 108, 8, 0);
  if (!putOctal(b, 116, 8, h.gid)) putOctal(b, 116, 8, 0);
  if (!putOctal(b, 124, 12, h.size)) putOctal(b, 124, 12, 0);
  if (!putOctal(b, 136, 12, h.mtime)) putOctal(b, 136, 12, 0);
  b[156] = flag;
  if (linkname) linkname.copy(b, 157);
  b.write('ustar\x0000', 257, 8, 'latin1');
  if (flag === 0x33 || flag === 0x34) {
    putOctal(b, 329, 8, h.devmajor ?? 0);
    putOctal(b, 337, 8, h.devminor ?? 0);
  } else {
    putOctal(b, 329, 8, 0);
    putOctal(b, 337, 8, 0);
  }
  if (prefix) prefix.copy(b, 345);
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += b[i];
  b.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'latin1');
  return b;
}

/** Splits a long name into ustar prefix (<=155 bytes) and name (<=100 bytes) at a '/', if possible. */
function splitUstar(name: Buffer): [Buffer, Buffer] | undefined {
  if (name.length <= 100) return [name, Buffer.alloc(0)];
  if (name.length > 256) return undefined;
  for (let i = Math.max(0, name.length - 101); i < Math.min(name.length, 156); i++) {
    if (name[i] === 0x2f && i > 0 && name.length - i - 1 <= 100 && name.length - i - 1 > 0) {
      return [name.subarray(i + 1), name.subarray(0, i)];
    }
  }
  return undefined;
}

/**
 * Returns the header block(s) for one entry: a pax header plus its records when needed, then the
 * ustar header. The caller writes `size` body bytes and {@link padding} zeros after it.
 */
export function encodeHeader(h: TarWriteHeader): Buffer {
  const pax: Buffer[] = [];
  const nameBuf = Buffer.from(h.name);
  let ustarName: Buffer = nameBuf;
  let prefix: Buffer | undefined;
  const split = splitUstar(nameBuf);
  if (split) {
    ustarName = split[0];
    if (split[1].length > 0) prefix = split[1];
  } else {
    pax.push(paxRecord('path', nameBuf));
    ustarName = nameBuf.subarray(0, 100);
  }
  let linkBuf: Buffer | undefined;
  if (h.linkname !== undefined) {
    linkBuf = Buffer.from(h.linkname);
    if (linkBuf.length > 100) {
      pax.push(paxRecord('linkpath', linkBuf));
      linkBuf = linkBuf.subarray(0, 100);
    }
  }
  if (h.size > 0o77777777777) pax.push(paxRecord('size', Buffer.from(String(h.size))));
  if (h.uid > 0o7777777) pax.push(paxRecord('uid', Buffer.from(String(h.uid))));
  if (h.gid > 0o7777777) pax.push(paxRecord('gid', Buffer.from(String(h.gid))));
  if (h.mtime < 0 || h.mtime > 0o77777777777) pax.push(paxRecord('mtime', Buffer.from(String(h.mtime))));
  if (h.xattrs) {
    for (const [k, v] of [...h.xattrs].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))) {
      pax.push(paxRecord(`SCHILY.xattr.${k}`, v));
    }
  }
  const main = ustarBlock(ustarName, prefix, TYPEFLAG[h.type], h, linkBuf);
  if (pax.length === 0) return main;
  const body = Buffer.concat(pax);
  const base = h.name.replace(/\/+$/, '').split('/').pop() ?? '';
  const paxName = Buffer.from(`PaxHeaders.0/${base}`).subarray(0, 100);
  const paxHdr = ustarBlock(
    paxName,
    undefined,
    0x78,
    { mode: 0o644, uid: 0, gid: 0, size: body.length, mtime: Math.max(0, Math.min(h.mtime, 0o77777777777)) },
    undefined,
  );
  return Buffer.concat([paxHdr, body, Buffer.alloc(padding(body.length)), main]);
}
