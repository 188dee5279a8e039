import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { ContentStore } from '../content/store.js';
import { isBerthError } from '../errors.js';
import { openDatabase } from '../metadata/db.js';
import { ImageStore } from './image-store.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-imgstore-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
const db = openDatabase(path.join(dir, 'db'));
const blobs = new ContentStore(path.join(dir, 'content'));
const store = new ImageStore(db, blobs);

function image(n: number) {
  const cfg = blobs.putBuffer(Buffer.from(JSON.stringify({ n, architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } })));
  const man = blobs.putBuffer(Buffer.from(JSON.stringify({ schemaVersion: 2, config: { digest: cfg.digest } })));
  return store.create({ id: cfg.digest, manifestDigest: man.digest, created: n, size: 0, topLayer: null });
}

test('names normalise, IDs and prefixes resolve with docker precedence', () => {
  const a = image(1);
  const b = image(2);
  store.tag(a.id, 'busybox');
  store.tag(b.id, 'localhost:5000/team/app:v1');
  assert.equal(store.resolve('busybox').id, a.id);
  assert.equal(store.resolve('docker.io/library/busybox:latest').id, a.id);
  assert.equal(store.resolve('library/busybox').id, a.id);
  assert.equal(store.resolve('localhost:5000/team/app:v1').id, b.id);
  assert.equal(store.resolve(a.id).id, a.id);
  assert.equal(store.resolve(a.id.slice(7)).id, a.id);
  assert.equal(store.resolve(a.id.slice(7, 19)).id, a.id);
  // a tag that looks like a hex prefix wins over the ID prefix, as in docker
  const short = b.id.slice(7, 13);
  store.tag(a.id, `${short}:latest`);
  assert.equal(store.resolve(short).id, a.id);
  assert.throws(() => store.resolve('nosuch'), (e) => isBerthError(e, 'not_found') && /No such image: nosuch/.test((e as Error).message));
  assert.throws(() => store.resolve('Bad/Name'), (e) => isBerthError(e, 'not_found'));
});

test('retagging moves the name and reports the previous image; untag and delete', () => {
  const c = image(3);
  const prev = store.tag(c.id, 'busybox');
  assert.ok(prev);
  assert.equal(store.resolve('busybox').id, c.id);
  assert.equal(store.untag('busybox'), c.id);
  assert.equal(store.tryResolve('busybox'), undefined);
  store.delete(c.id);
  assert.equal(store.get(c.id), undefined);
  assert.throws(() => store.tag(c.id, 'x'), (e) => isBerthError(e, 'not_found'));
  assert.throws(() => store.tag(c.id, 'x@sha256:' + 'a'.repeat(64)), (e) => isBerthError(e));
});

test('create refuses images whose blobs are missing', () => {
  assert.throws(
    () => store.create({ id: `sha256:${'1'.repeat(64)}`, manifestDigest: `sha256:${'2'.repeat(64)}`, created: 0, size: 0, topLayer: null }),
    (e) => isBerthError(e, 'corrupt'),
  );
});

test('list returns names in one pass', () => {
  const all = store.list();
  assert.ok(all.length >= 2);
  assert.ok(all.some((i) => i.tags.includes('localhost:5000/team/app:v1')));
});
