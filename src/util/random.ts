/**
 * Random identifiers and a small SHA-256 for the hot paths of a command (`run`, `create`).
 *
 * node:crypto costs 3-4 ms to load (fifteen internal modules), a fifth of what `run` spends in
 * JavaScript. A container ID needs 32 random bytes and a store's cgroup parent one hash of a short
 * path: neither needs OpenSSL. Digests of content (layers, blobs) still use node:crypto.
 */
import fs from 'node:fs';

let urandom: number | undefined;

/** `n` bytes from the kernel's CSPRNG (/dev/urandom, as crypto.randomBytes gets them). */
export function randomBytesFast(n: number): Buffer {
  urandom ??= fs.openSync('/dev/urandom', 'r');
  const buf = Buffer.allocUnsafe(n);
  let off = 0;
  while (off < n) off += fs.readSync(urandom, buf, off, n - off, null);
  return buf;
}

/** `n` random bytes as lowercase hex (a container ID is randomHex(32)). */
export function randomHex(n: number): string {
  return randomBytesFast(n).toString('hex');
}

/** A uniformly random integer in [0, max), max at most 2^32 (rejection sampling, no modulo bias). */
export function randomBelow(max: number): number {
  if (!Number.isInteger(max) || max <= 0 || max > 2 ** 32) throw new RangeError(`randomBelow: bad bound ${max}`);
  const limit = 2 ** 32 - (2 ** 32 % max);
  for (;;) {
    const v = randomBytesFast(4).readUInt32BE(0);
    if (v < limit) return v % max;
  }
}

const K = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
  0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
  0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
  0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

/**
 * SHA-256 (FIPS 180-4) of a short input, as lowercase hex; equal to
 * createHash('sha256').update(data).digest('hex'). Plain JavaScript: for names derived from
 * paths, not for content (use node:crypto there).
 */
export function sha256Hex(data: string | Uint8Array): string {
  const msg = typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data);
  const blocks = Math.ceil((msg.length + 9) / 64);
  const padded = Buffer.alloc(blocks * 64);
  msg.copy(padded);
  padded[msg.length] = 0x80;
  const bits = msg.length * 8;
  padded.writeUInt32BE(Math.floor(bits / 2 ** 32), padded.length - 8);
  padded.writeUInt32BE(bits >>> 0, padded.length - 4);
  const h = new Uint32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);
  const w = new Uint32Array(64);
  const rotr = (x: number, n: number) => (x >>> n) | (x << (32 - n));
  for (let off = 0; off < padded.length; off += 64) {
    for (let i = 0; i < 16; i++) w[i] = padded.readUInt32BE(off + i * 4);
    for (let i = 16; i < 64; i++) {
      const a = w[i - 15] as number;
      const b = w[i - 2] as number;
      const s0 = rotr(a, 7) ^ rotr(a, 18) ^ (a >>> 3);
      const s1 = rotr(b, 17) ^ rotr(b, 19) ^ (b >>> 10);
      w[i] = ((w[i - 16] as number) + s0 + (w[i - 7] as number) + s1) >>> 0;
    }
    let [a, b, c, d, e, f, g, hh] = h as unknown as [number, number, number, number, number, number, number, number];
    for (let i = 0; i < 64; i++) {
      const t1 = (hh + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + (K[i] as number) + (w[i] as number)) >>> 0;
      const t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) >>> 0;
      hh = g;
      g = f;
      f = e;
      e = (d + t1) >>> 0;
      d = c;
      c = b;
      b = a;
      a = (t1 + t2) >>> 0;
    }
    const add = [a, b, c, d, e, f, g, hh];
    for (let i = 0; i < 8; i++) h[i] = ((h[i] as number) + (add[i] as number)) >>> 0;
  }
  const out = Buffer.alloc(32);
  for (let i = 0; i < 8; i++) out.writeUInt32BE(h[i] as number, i * 4);
  return out.toString('hex');
}
