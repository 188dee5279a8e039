/**
 * writeLayerTar and listChanges against a real overlayfs mount (root needed), plus determinism.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { lgetxattr, mount, umount } from '../sys/libc.js';
import { applyLayer } from './apply.js';
import { listChanges, writeLayerTar } from './diff.js';
import { readTar } from './tar-reader.js';
import { listAll, snapshotTree, streamOf, tmpDir } from './test-helpers.js';

const work = tmpDir('berth-diff-test-');
after(() => fs.rmSync(work, { recursive: true, force: true }));

async function tarOf(dir: string, opts: { sourceDateEpoch?: number } = {}): Promise<{ tar: Buffer; diffId: string }> {
  const parts: Buffer[] = [];
  const w = new Writable({
    write(c: Buffer, _e, cb) {
      parts.push(c);
      cb();
    },
  });
  const r = await writeLayerTar(dir, w, opts);
  return { tar: Buffer.concat(parts), diffId: r.diffId };
}

async function entriesOf(tar: Buffer): Promise<{ name: string; type: string; mtime: number }[]> {
  const out: { name: string; type: string; mtime: number }[] = [];
  for await (const e of readTar(streamOf(tar))) out.push({ name: e.header.name, type: e.header.type, mtime: e.header.mtime });
  return out;
}

function withOverlay(lowers: string[], upper: string, fn: (merged: string) => void): void {
  const base = fs.mkdtempSync(path.join(work, 'ovl-'));
  const wd = path.join(base, 'work');
  const merged = path.join(base, 'merged');
  fs.mkdirSync(wd);
  fs.mkdirSync(merged);
  mount('overlay', merged, 'overlay', 0, `lowerdir=${lowers.join(':')},upperdir=${upper},workdir=${wd}`);
  try {
    fn(merged);
  } finally {
    umount(merged);
  }
}

describe('writeLayerTar and listChanges on an overlay upper dir', () => {
  const lower = path.join(work, 'lower');
  const upper = path.join(work, 'upper');
  fs.mkdirSync(path.join(lower, 'etc', 'old'), { recursive: true });
  fs.writeFileSync(path.join(lower, 'etc', 'hosts'), 'lower hosts');
  fs.writeFileSync(path.join(lower, 'etc', 'old', 'f'), 'old');
  fs.mkdirSync(path.join(lower, 'var', 'cache'), { recursive: true });
  fs.writeFileSync(path.join(lower, 'var', 'cache', 'stale'), 'stale');
  fs.writeFileSync(path.join(lower, 'delete-me'), 'bye');
  fs.writeFileSync(path.join(lower, 'keep'), 'keep');
  fs.mkdirSync(upper);
  let mergedView: Record<string, string> = {};
  withOverlay([lower], upper, (m) => {
    fs.rmSync(path.join(m, 'delete-me'));
    fs.rmSync(path.join(m, 'etc', 'old'), { recursive: true });
    fs.writeFileSync(path.join(m, 'etc', 'new'), 'new file');
    fs.writeFileSync(path.join(m, 'etc', 'hosts'), 'changed hosts');
    fs.rmSync(path.join(m, 'var', 'cache'), { recursive: true });
    fs.mkdirSync(path.join(m, 'var', 'cache')); // overlay makes this an opaque dir
    fs.writeFileSync(path.join(m, 'var', 'cache', 'fresh'), 'fresh');
    fs.mkdirSync(path.join(m, 'added', 'deep'), { recursive: true });
    mergedView = snapshotTree(m);
  });

  it('turns overlay whiteouts and opaque dirs into OCI ones', async () => {
    const { tar } = await tarOf(upper);
    const names = (await entriesOf(tar)).map((e) => e.name);
    assert.ok(names.includes('.wh.delete-me'), names.join(' '));
    assert.ok(names.includes('etc/.wh.old'));
    assert.ok(names.includes('var/cache/'));
    assert.ok(names.includes('var/cache/.wh..wh..opq'));
    assert.ok(names.includes('etc/new'));
    assert.ok(!names.some((n) => n.includes('trusted.overlay')));
    const tarFile = path.join(work, 'upper.tar');
    fs.writeFileSync(tarFile, tar);
    const listing = execFileSync('tar', ['-tvf', tarFile], { encoding: 'utf8' });
    assert.match(listing, /\.wh\.delete-me/);
  });

  it('applied back as an upper dir, gives the same merged view', async () => {
    const { tar, diffId } = await tarOf(upper);
    const applied = path.join(work, 'applied');
    const res = await applyLayer(streamOf(tar), applied);
    assert.equal(res.diffId, diffId);
    assert.ok(fs.lstatSync(path.join(applied, 'delete-me')).isCharacterDevice());
    assert.deepEqual(lgetxattr(path.join(applied, 'var', 'cache'), 'trusted.overlay.opaque'), Buffer.from('y'));
    // As a lower dir above the original lower (read-only overlay of two lowers).
    const base = fs.mkdtempSync(path.join(work, 'ro-'));
    mount('overlay', base, 'overlay', 0, `lowerdir=${applied}:${lower}`);
    try {
      assert.deepEqual(snapshotTree(base), mergedView);
    } finally {
      umount(base);
    }
  });

  it('lists changes like docker diff', () => {
    assert.deepEqual(listChanges(upper, [lower]), [
      { kind: 'A', path: '/added' },
      { kind: 'A', path: '/added/deep' },
      { kind: 'D', path: '/delete-me' },
      { kind: 'C', path: '/etc' },
      { kind: 'C', path: '/etc/hosts' },
      { kind: 'A', path: '/etc/new' },
      { kind: 'D', path: '/etc/old' },
      { kind: 'C', path: '/var' },
      { kind: 'C', path: '/var/cache' },
      { kind: 'A', path: '/var/cache/fresh' },
    ]);
  });
});

describe('writeLayerTar determinism', () => {
  const dir = path.join(work, 'det');
  fs.mkdirSync(path.join(dir, 'b', 'c'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'a'), 'a');
  fs.writeFileSync(path.join(dir, 'b', 'c', 'd'), 'd');
  fs.writeFileSync(path.join(dir, 'B'), 'B');
  fs.writeFileSync(path.join(dir, 'b.txt'), 'b');
  for (const r of listAll(dir).reverse()) fs.utimesSync(path.join(dir, r), 2_000_000_000, 2_000_000_000);

  it('gives the same bytes every time, in byte order', async () => {
    const one = await tarOf(dir);
    const two = await tarOf(dir);
    assert.equal(one.diffId, two.diffId);
    assert.deepEqual(
      (await entriesOf(one.tar)).map((e) => e.name),
      ['B', 'a', 'b/', 'b/c/', 'b/c/d', 'b.txt'],
    );
  });

  it('clamps mtimes to sourceDateEpoch', async () => {
    const { tar } = await tarOf(dir, { sourceDateEpoch: 1_000_000_000 });
    for (const e of await entriesOf(tar)) assert.equal(e.mtime, 1_000_000_000);
    const { tar: later } = await tarOf(dir, { sourceDateEpoch: 2_100_000_000 });
    for (const e of await entriesOf(later)) assert.equal(e.mtime, 2_000_000_000);
  });

  it('fails with canceled when aborted, destroying out', async () => {
    const ac = new AbortController();
    ac.abort();
    const w = new Writable({ write: (_c, _e, cb) => cb() });
    await assert.rejects(writeLayerTar(dir, w, { signal: ac.signal }), (e: unknown) => (e as { code?: string }).code === 'canceled');
    assert.ok(w.destroyed);
  });
});
