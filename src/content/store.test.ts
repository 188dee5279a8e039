import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, test } from 'node:test';
import { isBerthError } from '../errors.js';
import { sha256 } from './digest.js';
import { ContentStore, verifyBlob } from './store.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-content-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

test('ingest verifies, commits atomically and is idempotent', async () => {
  const s = new ContentStore(dir);
  const data = Buffer.from('hello world');
  const d = sha256(data);
  const info = await s.ingest(Readable.from([data.subarray(0, 5), data.subarray(5)]), { expected: d, expectedSize: data.length });
  assert.deepEqual(info, { digest: d, size: data.length });
  assert.ok(s.has(d));
  assert.equal(s.readBuffer(d).toString(), 'hello world');
  assert.ok(await verifyBlob(s, d));
  // same content again: still one blob, same digest
  assert.equal(s.putBuffer(data).digest, d);
  assert.deepEqual(fs.readdirSync(path.join(dir, 'ingest')), []);
});

test('digest and size mismatches fail with corrupt and leave nothing behind', async () => {
  const s = new ContentStore(dir);
  const wrong = sha256('something else');
  await assert.rejects(s.ingest(Readable.from([Buffer.from('abc')]), { expected: wrong }), (e) => isBerthError(e, 'corrupt'));
  await assert.rejects(s.ingest(Readable.from([Buffer.from('abc')]), { expectedSize: 4 }), (e) => isBerthError(e, 'corrupt'));
  assert.equal(s.has(wrong), false);
  assert.deepEqual(fs.readdirSync(path.join(dir, 'ingest')), []);
});

test('a failing source aborts the write', async () => {
  const s = new ContentStore(dir);
  const src = new Readable({
    read() {
      this.push(Buffer.from('partial'));
      this.destroy(new Error('connection reset'));
    },
  });
  await assert.rejects(s.ingest(src));
  assert.deepEqual(fs.readdirSync(path.join(dir, 'ingest')), []);
});

test('invalid digests are refused before touching the file system', () => {
  const s = new ContentStore(dir);
  assert.throws(() => s.blobPath('sha256:../../etc/passwd' as never), (e) => isBerthError(e, 'corrupt'));
  assert.throws(() => s.info(sha256('missing')), (e) => isBerthError(e, 'not_found'));
});

test('sha512 expectations are verified with sha512', async () => {
  const s = new ContentStore(dir);
  const data = Buffer.from('x');
  const { createHash } = await import('node:crypto');
  const d512 = `sha512:${createHash('sha512').update(data).digest('hex')}` as const;
  const info = await s.ingest(Readable.from([data]), { expected: d512 as never });
  assert.equal(info.digest, sha256(data));
});
