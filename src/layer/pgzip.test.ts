import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import zlib from 'node:zlib';
import { canParallelGzip, parallelGzip } from './pgzip.js';

const skip = canParallelGzip() ? false : 'zlib.crc32 needs Node 20.15';

async function gz(data: Buffer, chunk = 65536): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (let i = 0; i < data.length; i += chunk) parts.push(data.subarray(i, i + chunk));
  const out: Buffer[] = [];
  for await (const c of parallelGzip(Readable.from(parts))) out.push(c as Buffer);
  return Buffer.concat(out);
}

/** Text that deflate compresses well, random bytes it cannot, hex it can only Huffman-code: 5.5 MiB. */
function mixed(): Buffer {
  const words = Array.from({ length: 200_000 }, (_, i) => `line ${i % 977} of a manual page about ${['tar', 'gzip', 'registry'][i % 3]}\n`).join('');
  return Buffer.concat([Buffer.from(words), randomBytes(1 << 20), Buffer.from(randomBytes(1 << 20).toString('hex')), Buffer.alloc(300_000)]);
}

test('parallel gzip round-trips through zlib and GNU gzip, also empty and tiny inputs', { skip }, async () => {
  for (const data of [Buffer.alloc(0), Buffer.from('x'), randomBytes(70_000), mixed()]) {
    const out = await gz(data);
    assert.equal(out.subarray(0, 3).toString('hex'), '1f8b08');
    assert.ok(zlib.gunzipSync(out).equals(data), `zlib, ${data.length} bytes`);
    const r = spawnSync('gzip', ['-dc'], { input: out, maxBuffer: 64 << 20 });
    assert.equal(r.status, 0, r.stderr.toString());
    assert.equal(createHash('sha256').update(r.stdout).digest('hex'), createHash('sha256').update(data).digest('hex'));
  }
});

test('the output depends only on the input (not on how it is chunked), and text still compresses like level 1', { skip }, async () => {
  const data = mixed();
  const a = await gz(data, 65536);
  const b = await gz(data, 1_000_003);
  assert.ok(a.equals(b));
  const text = data.subarray(0, 4 << 20);
  const ours = (await gz(text)).length;
  const level1 = zlib.gzipSync(text, { level: 1 }).length;
  assert.ok(ours <= level1 * 1.05, `${ours} vs zlib level 1 ${level1}`);
});

test('an error of the source ends the output with that error', { skip }, async () => {
  const src = new Readable({
    read() {
      this.destroy(new Error('disk on fire'));
    },
  });
  await assert.rejects(async () => {
    for await (const _ of parallelGzip(src)) {
      /* drain */
    }
  }, /disk on fire/);
});
