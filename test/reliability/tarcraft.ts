/**
 * Hand-made tar archives for hostile-input tests: every header field can be set to anything,
 * including values no honest tar writer produces (negative and huge sizes, bad checksums).
 */
import { createHash } from 'node:crypto';

export interface RawEntry {
  name: string;
  /** '0' file, '1' hard link, '2' symlink, '3' char dev, '4' block dev, '5' dir, 'x' PAX, 'L' GNU long name. */
  type?: string;
  mode?: number;
  uid?: number;
  gid?: number;
  linkname?: string;
  body?: Buffer | string;
  /** Raw 12-byte size field (overrides the body's length): e.g. a base-256 negative number. */
  rawSize?: Buffer;
  /** Declared size different from the body's length. */
  size?: number;
  devmajor?: number;
  devminor?: number;
  /** PAX records written in an 'x' header before this entry. */
  pax?: Record<string, string>;
}

function octal(n: number, len: number): string {
  return `${n.toString(8).padStart(len - 1, '0')}\0`;
}

function header(e: RawEntry, size: number): Buffer {
  const h = Buffer.alloc(512);
  const name = Buffer.from(e.name);
  name.copy(h, 0, 0, Math.min(100, name.length));
  h.write(octal(e.mode ?? (e.type === '5' ? 0o755 : 0o644), 8), 100, 'ascii');
  h.write(octal(e.uid ?? 0, 8), 108, 'ascii');
  h.write(octal(e.gid ?? 0, 8), 116, 'ascii');
  if (e.rawSize) e.rawSize.copy(h, 124, 0, 12);
  else h.write(octal(size, 12), 124, 'ascii');
  h.write(octal(0, 12), 136, 'ascii');
  h.write(e.type ?? '0', 156, 'ascii');
  if (e.linkname) Buffer.from(e.linkname).copy(h, 157, 0, 100);
  h.write('ustar\u000000', 257, 'binary');
  h.write('root', 265);
  h.write('root', 297);
  h.write(octal(e.devmajor ?? 0, 8), 329, 'ascii');
  h.write(octal(e.devminor ?? 0, 8), 337, 'ascii');
  h.fill(' ', 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
  return h;
}

function pad(b: Buffer): Buffer {
  const rem = b.length % 512;
  return rem ? Buffer.concat([b, Buffer.alloc(512 - rem)]) : b;
}

function paxBody(rec: Record<string, string>): Buffer {
  let out = '';
  for (const [k, v] of Object.entries(rec)) {
    const tail = ` ${k}=${v}\n`;
    let len = tail.length + 1;
    while (String(len).length + tail.length !== len) len = String(len).length + tail.length;
    out += `${len}${tail}`;
  }
  return Buffer.from(out);
}

/** A tar stream of the entries, with the two zero blocks at the end unless `truncate`. */
export function craftTar(entries: RawEntry[], opts: { truncate?: boolean } = {}): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    if (e.pax) {
      const body = paxBody(e.pax);
      parts.push(header({ name: 'PaxHeaders/x', type: 'x' }, body.length), pad(body));
    }
    const body = typeof e.body === 'string' ? Buffer.from(e.body) : (e.body ?? Buffer.alloc(0));
    parts.push(header(e, e.size ?? body.length), pad(body));
  }
  if (!opts.truncate) parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

/** A docker-archive (manifest.json + config + one layer) around a layer tar, for `berth load`. */
export function dockerArchive(layer: Buffer, tag: string): Buffer {
  const diffId = `sha256:${createHash('sha256').update(layer).digest('hex')}`;
  const config = Buffer.from(
    JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Cmd: ['/bin/sh'] }, rootfs: { type: 'layers', diff_ids: [diffId] }, history: [{ created_by: 'hostile' }] }),
  );
  const cfgName = `${createHash('sha256').update(config).digest('hex')}.json`;
  const layerName = `${diffId.slice(7)}/layer.tar`;
  const manifest = Buffer.from(JSON.stringify([{ Config: cfgName, RepoTags: [tag], Layers: [layerName] }]));
  return craftTar([
    { name: cfgName, body: config },
    { name: `${diffId.slice(7)}/`, type: '5' },
    { name: layerName, body: layer },
    { name: 'manifest.json', body: manifest },
  ]);
}
