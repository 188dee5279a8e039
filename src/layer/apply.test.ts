/**
 * applyLayer: round trips through writeLayerTar and GNU tar, compression, whiteouts, replacement
 * rules, a corpus of hostile archives and a fuzz property. Runs as root (mknod, chown, trusted.*).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { BerthError, isBerthError } from '../errors.js';
import { lgetxattr, lsetxattr, MNT_DETACH, mknod, mount, S_IFBLK, S_IFCHR, umount } from '../sys/libc.js';
import { applyLayer } from './apply.js';
import { compressGzip } from './compression.js';
import { writeLayerTar } from './diff.js';
import { archive, listAll, paxEntry, rawEntry, rawHeader, snapshotTree, streamOf, tmpDir } from './test-helpers.js';

const work = tmpDir('berth-apply-test-');
after(() => fs.rmSync(work, { recursive: true, force: true }));
let seq = 0;
const fresh = (name = 'd') => path.join(work, `${name}-${++seq}`);

/** Collects a writable's bytes. */
function memSink(): { w: Writable; data: () => Buffer } {
  const parts: Buffer[] = [];
  const w = new Writable({
    write(chunk: Buffer, _enc, cb) {
      parts.push(chunk);
      cb();
    },
  });
  return { w, data: () => Buffer.concat(parts) };
}

async function tarOf(dir: string, opts: { sourceDateEpoch?: number } = {}): Promise<{ tar: Buffer; diffId: string }> {
  const { w, data } = memSink();
  const r = await writeLayerTar(dir, w, opts);
  const tar = data();
  assert.equal(r.size, tar.length);
  return { tar, diffId: r.diffId };
}

/** A tree with every kind of entry and metadata the layer format carries. */
function buildRichTree(root: string): void {
  fs.mkdirSync(root);
  const p = (...s: string[]) => path.join(root, ...s);
  fs.mkdirSync(p('etc', 'conf.d'), { recursive: true });
  fs.writeFileSync(p('etc', 'passwd'), 'root:x:0:0::/root:/bin/sh\n');
  fs.writeFileSync(p('etc', 'conf.d', 'empty'), '');
  fs.writeFileSync(p('setuid'), '#!/bin/sh\n');
  fs.chmodSync(p('setuid'), 0o4755);
  fs.writeFileSync(p('setgid'), 'x');
  fs.chownSync(p('setgid'), 0, 50);
  fs.chmodSync(p('setgid'), 0o2711);
  fs.mkdirSync(p('tmp'));
  fs.chmodSync(p('tmp'), 0o1777);
  fs.mkdirSync(p('home', 'user'), { recursive: true });
  fs.writeFileSync(p('home', 'user', 'owned'), 'mine');
  fs.chownSync(p('home', 'user', 'owned'), 1000, 1000);
  fs.chownSync(p('home', 'user'), 1000, 1000);
  fs.chmodSync(p('home', 'user'), 0o700);
  fs.writeFileSync(p('bigid'), 'big ids need pax');
  fs.chownSync(p('bigid'), 3_000_000, 4_000_000);
  fs.writeFileSync(p('large.bin'), Buffer.alloc(3 * 1024 * 1024 + 123, 7));
  fs.writeFileSync(p('xattrs'), 'attrs');
  lsetxattr(p('xattrs'), 'user.comment', Buffer.from('hello'));
  lsetxattr(p('xattrs'), 'trusted.binary', Buffer.from([0, 1, 2, 255]));
  lsetxattr(p('etc'), 'trusted.dirattr', Buffer.from('d'));
  fs.linkSync(p('etc', 'passwd'), p('hardlink'));
  fs.linkSync(p('etc', 'passwd'), p('home', 'user', 'hardlink2'));
  fs.symlinkSync('etc/passwd', p('rel-link'));
  fs.symlinkSync('/etc/shadow', p('abs-link'));
  fs.symlinkSync('nowhere', p('dangling'));
  mknod(p('null'), S_IFCHR | 0o666, 1, 3);
  mknod(p('sda'), S_IFBLK | 0o660, 8, 0);
  execFileSync('mkfifo', ['-m', '0640', p('fifo')]);
  const long = p('l'.repeat(90), 'o'.repeat(90), 'n'.repeat(90));
  fs.mkdirSync(long, { recursive: true });
  fs.writeFileSync(path.join(long, `file-${'g'.repeat(150)}`), 'long');
  fs.symlinkSync('t'.repeat(300), p('long-target-link'));
  fs.writeFileSync(p('ünïcödé ☃'), 'unicode');
  // mtimes last, deepest first, so creating children does not disturb them.
  const all = listAll(root).reverse();
  let t = 1_500_000_000;
  for (const r of all) {
    const st = fs.lstatSync(p(r));
    if (!st.isSymbolicLink()) fs.utimesSync(p(r), t, t);
    else fs.lutimesSync(p(r), t, t);
    t += 1000;
  }
}

describe('applyLayer', () => {
  const src = fresh('rich');
  buildRichTree(src);

  it('round-trips a rich tree through writeLayerTar (owners, modes, xattrs, links, devices, mtimes)', async () => {
    const { tar, diffId } = await tarOf(src);
    const dst = fresh();
    const res = await applyLayer(streamOf(tar, 10_000), dst);
    assert.equal(res.diffId, diffId);
    assert.deepEqual(snapshotTree(dst, { mtimes: true, dirMtimes: true }), snapshotTree(src, { mtimes: true, dirMtimes: true }));
    const regular = listAll(src).filter((r) => fs.lstatSync(path.join(src, r)).isFile());
    const inodes = new Set<number>();
    let bytes = 0;
    for (const r of regular) {
      const st = fs.lstatSync(path.join(src, r));
      if (!inodes.has(st.ino)) bytes += st.size;
      inodes.add(st.ino);
    }
    assert.equal(res.size, bytes);
    assert.equal(res.entries, listAll(src).length);
  });

  it('creates a missing target dir and refuses a non-empty one', async () => {
    const { tar } = await tarOf(src);
    const dst = path.join(fresh(), 'nested', 'diff');
    await applyLayer(streamOf(tar), dst);
    await assert.rejects(applyLayer(streamOf(tar), dst), (e) => isBerthError(e, 'invalid_argument'));
  });

  it('writes tars that GNU tar extracts to the same tree', async () => {
    const { tar } = await tarOf(src);
    const tarFile = path.join(work, `ours-${++seq}.tar`);
    fs.writeFileSync(tarFile, tar);
    const listing = execFileSync('tar', ['-tvf', tarFile], { encoding: 'utf8' });
    assert.match(listing, /hardlink link to etc\/passwd/);
    const dst = fresh();
    fs.mkdirSync(dst);
    execFileSync('tar', ['--xattrs', '--xattrs-include=*', '--same-owner', '-p', '-xf', tarFile, '-C', dst]);
    assert.deepEqual(snapshotTree(dst, { mtimes: true, dirMtimes: true }), snapshotTree(src, { mtimes: true, dirMtimes: true }));
  });

  for (const format of ['posix', 'gnu'] as const) {
    it(`applies archives made by GNU tar --format=${format}`, async () => {
      const tarFile = path.join(work, `gnu-${++seq}.tar`);
      const args = ['--format', format, '-C', src, '-cf', tarFile, '.'];
      if (format === 'posix') args.unshift('--xattrs', '--xattrs-include=*');
      execFileSync('tar', args);
      const dst = fresh();
      const res = await applyLayer(fs.createReadStream(tarFile), dst);
      assert.match(res.diffId, /^sha256:[0-9a-f]{64}$/);
      const want = snapshotTree(src, { mtimes: true, dirMtimes: true });
      const got = snapshotTree(dst, { mtimes: true, dirMtimes: true });
      if (format === 'gnu') {
        // --format=gnu carries no xattrs
        for (const k of Object.keys(want)) want[k] = want[k].replace(/ xattrs=.*$/, '');
      }
      assert.deepEqual(got, want);
    });
  }

  it('accepts gzip and zstd input (made by the CLIs) with the diff id of the plain tar', async () => {
    const { tar, diffId } = await tarOf(src);
    const gz = execFileSync('gzip', ['-c'], { input: tar, maxBuffer: 1 << 28 });
    const zst = execFileSync('zstd', ['-c', '-q'], { input: tar, maxBuffer: 1 << 28 });
    for (const [name, bytes] of [
      ['gzip', gz],
      ['zstd', zst],
    ] as const) {
      const dst = fresh(name);
      const res = await applyLayer(streamOf(bytes, 4096), dst);
      assert.equal(res.diffId, diffId, name);
      assert.deepEqual(snapshotTree(dst), snapshotTree(src));
    }
    const ours = compressGzip(Readable.from([tar]));
    const parts: Buffer[] = [];
    for await (const c of ours) parts.push(c as Buffer);
    assert.deepEqual(execFileSync('gzip', ['-dc'], { input: Buffer.concat(parts), maxBuffer: 1 << 28 }), tar);
    for (const [name, bytes] of [
      ['gzip', gz],
      ['zstd', zst],
    ] as const) {
      await assert.rejects(applyLayer(streamOf(bytes.subarray(0, bytes.length >> 1)), fresh()), (e) => {
        assert.ok(isBerthError(e, 'corrupt'), `${name}: ${String(e)}`);
        return true;
      });
    }
  });

  it('converts OCI whiteouts to overlay ones', async () => {
    const tar = archive(
      rawEntry({ name: 'a/', type: '5', mode: 0o755 }),
      rawEntry({ name: 'a/.wh.gone', uid: 7, gid: 8 }),
      rawEntry({ name: 'b/.wh..wh..opq' }),
      rawEntry({ name: 'b/kept' }, 'k'),
      rawEntry({ name: '.wh..wh.plnk/123' }),
      rawEntry({ name: 'c/.wh..wh.aufs' }),
      rawEntry({ name: '.wh.top' }),
    );
    const dst = fresh();
    await applyLayer(streamOf(tar), dst);
    const gone = fs.lstatSync(path.join(dst, 'a', 'gone'));
    assert.ok(gone.isCharacterDevice());
    assert.equal(gone.rdev, 0);
    assert.equal(gone.uid, 7);
    assert.ok(fs.lstatSync(path.join(dst, 'top')).isCharacterDevice());
    assert.deepEqual(lgetxattr(path.join(dst, 'b'), 'trusted.overlay.opaque'), Buffer.from('y'));
    assert.equal(fs.readFileSync(path.join(dst, 'b', 'kept'), 'utf8'), 'k');
    assert.deepEqual(listAll(dst), ['a', 'a/gone', 'b', 'b/kept', 'c', 'top']);
  });

  it('lets later entries replace earlier ones, merges directories, and never writes through a symlink', async () => {
    const tar = archive(
      rawEntry({ name: 'f' }, 'first'),
      rawEntry({ name: 'f' }, 'second'),
      rawEntry({ name: 'd/', type: '5', mode: 0o700 }),
      rawEntry({ name: 'd/child' }, 'c'),
      rawEntry({ name: 'd/', type: '5', mode: 0o751, uid: 5 }),
      rawEntry({ name: 'x/', type: '5' }),
      rawEntry({ name: 'x/y' }, 'y'),
      rawEntry({ name: 'x' }, 'now a file'),
      rawEntry({ name: 'passwd-link', type: '2', linkname: '/etc/passwd' }),
      rawEntry({ name: 'passwd-link' }, 'replaces the symlink'),
      rawEntry({ name: 'self', type: '1', linkname: 'f' }),
      rawEntry({ name: 'self', type: '1', linkname: 'self' }),
    );
    const before = fs.readFileSync('/etc/passwd');
    const dst = fresh();
    await applyLayer(streamOf(tar), dst);
    assert.equal(fs.readFileSync(path.join(dst, 'f'), 'utf8'), 'second');
    const d = fs.statSync(path.join(dst, 'd'));
    assert.equal(d.mode & 0o7777, 0o751);
    assert.equal(d.uid, 5);
    assert.equal(fs.readFileSync(path.join(dst, 'd', 'child'), 'utf8'), 'c');
    assert.equal(fs.readFileSync(path.join(dst, 'x'), 'utf8'), 'now a file');
    assert.ok(fs.lstatSync(path.join(dst, 'passwd-link')).isFile());
    assert.deepEqual(fs.readFileSync('/etc/passwd'), before);
    assert.equal(fs.readFileSync(path.join(dst, 'self'), 'utf8'), 'second');
  });

  it('is canceled by its signal', async () => {
    const ac = new AbortController();
    const endless = new Readable({ read() {} });
    endless.push(rawHeader({ name: 'big', size: 1 << 30 }));
    const p = applyLayer(endless, fresh(), { signal: ac.signal });
    setTimeout(() => ac.abort(), 50);
    await assert.rejects(p, (e) => isBerthError(e, 'canceled'));
  });
});

describe('applyLayer on hostile archives', () => {
  const passwd = fs.readFileSync('/etc/passwd');
  const cases: [string, Buffer, 'reject' | 'contain'][] = [
    ['../evil', archive(rawEntry({ name: '../evil' }, 'x')), 'reject'],
    ['a/../../evil', archive(rawEntry({ name: 'a/../../evil' }, 'x')), 'reject'],
    ['./../evil dir', archive(rawEntry({ name: './../evil/', type: '5' })), 'reject'],
    ['/etc/evil stays inside', archive(rawEntry({ name: '/etc/evil' }, 'x')), 'contain'],
    ['/../evil (absolute, climbing)', archive(rawEntry({ name: '/../evil' }, 'x')), 'reject'],
    ['symlink x -> / then x/evil', archive(rawEntry({ name: 'x', type: '2', linkname: '/' }), rawEntry({ name: 'x/evil' }, 'x')), 'reject'],
    ['symlink x -> .. then x/evil', archive(rawEntry({ name: 'x', type: '2', linkname: '..' }), rawEntry({ name: 'x/evil' }, 'x')), 'reject'],
    [
      'symlink x -> .. then x/sub/evil (implicit parents)',
      archive(rawEntry({ name: 'x', type: '2', linkname: '..' }), rawEntry({ name: 'x/sub/evil' }, 'x')),
      'reject',
    ],
    [
      'dir replaced by symlink, then child',
      archive(rawEntry({ name: 'd/', type: '5' }), rawEntry({ name: 'd', type: '2', linkname: '/' }), rawEntry({ name: 'd/evil' }, 'x')),
      'reject',
    ],
    ['symlink then whiteout beneath it', archive(rawEntry({ name: 'x', type: '2', linkname: '..' }), rawEntry({ name: 'x/.wh.evil' })), 'reject'],
    ['symlink then opaque marker beneath it', archive(rawEntry({ name: 'x', type: '2', linkname: '..' }), rawEntry({ name: 'x/.wh..wh..opq' })), 'reject'],
    ['symlink then hard link beneath it', archive(rawEntry({ name: 'f' }), rawEntry({ name: 'x', type: '2', linkname: '..' }), rawEntry({ name: 'x/evil', type: '1', linkname: 'f' })), 'reject'],
    ['hard link to ../../etc/passwd', archive(rawEntry({ name: 'h', type: '1', linkname: '../../etc/passwd' })), 'reject'],
    ['hard link to /etc/passwd', archive(rawEntry({ name: 'h', type: '1', linkname: '/etc/passwd' })), 'reject'],
    [
      'hard link through a symlink',
      archive(rawEntry({ name: 'x', type: '2', linkname: '/etc' }), rawEntry({ name: 'h', type: '1', linkname: 'x/passwd' })),
      'reject',
    ],
    ['hard link to a directory', archive(rawEntry({ name: 'd/', type: '5' }), rawEntry({ name: 'h', type: '1', linkname: 'd' })), 'reject'],
    ['pax path ../evil', archive(paxEntry([['path', '../evil']]), rawEntry({ name: 'innocent' }, 'x')), 'reject'],
    ['pax linkpath ../../etc/passwd', archive(paxEntry([['linkpath', '../../etc/passwd']]), rawEntry({ name: 'h', type: '1', linkname: 'ok' })), 'reject'],
    ['GNU long name ../evil', archive(rawEntry({ name: '././@LongLink', type: 'L', format: 'gnu' }, '../evil\0'), rawEntry({ name: 'x', format: 'gnu' }, 'x')), 'reject'],
    ['whiteout .wh..', archive(rawEntry({ name: 'a/.wh..' })), 'reject'],
    ['whiteout .wh.', archive(rawEntry({ name: 'a/.wh.' })), 'reject'],
    ['giant pax header', Buffer.concat([rawHeader({ name: 'p', type: 'x', size: 64 * 1024 * 1024 }), Buffer.alloc(8192)]), 'reject'],
    ['giant GNU long name', Buffer.concat([rawHeader({ name: '././@LongLink', type: 'L', size: 2 ** 33 }), Buffer.alloc(8192)]), 'reject'],
    ['negative base-256 size', archive(rawEntry({ name: 'n', sizeField: Buffer.from([0xff, ...Buffer.alloc(11, 0xff)]) })), 'reject'],
    ['garbage size', archive(rawEntry({ name: 'g', sizeField: Buffer.from('zz9\0') })), 'reject'],
    ['huge size, truncated', Buffer.concat([rawHeader({ name: 'h', size: 0o77777777777 }), Buffer.alloc(4096)]), 'reject'],
    ['truncated header', archive(rawEntry({ name: 'a' }, 'xyz')).subarray(0, 200), 'reject'],
    ['truncated body', archive(rawEntry({ name: 'a' }, 'x'.repeat(3000))).subarray(0, 1500), 'reject'],
    ['bad checksum', archive(rawEntry({ name: 'a', checksumDelta: -3 }, 'x')), 'reject'],
    ['sparse file', archive(rawEntry({ name: 's', type: 'S' }, 'x')), 'reject'],
    ['overlay redirect xattr is dropped', archive(paxEntry([['SCHILY.xattr.trusted.overlay.redirect', '/etc']]), rawEntry({ name: 'd/', type: '5' })), 'contain'],
  ];

  for (const [name, tar, expect] of cases) {
    it(`${expect}s: ${name}`, async () => {
      const sentinel = fresh('sentinel');
      fs.mkdirSync(sentinel);
      const dst = path.join(sentinel, 'layer');
      let err: unknown;
      try {
        await applyLayer(streamOf(tar, 700), dst);
      } catch (e) {
        err = e;
      }
      if (expect === 'reject') {
        assert.ok(isBerthError(err, 'corrupt'), `expected a corrupt error, got ${String(err)}`);
      } else {
        assert.equal(err, undefined);
      }
      assert.deepEqual(fs.readdirSync(sentinel), ['layer']);
      assert.ok(!fs.existsSync(path.join(work, 'evil')) && !fs.existsSync('/evil') && !fs.existsSync('/etc/evil'));
      assert.deepEqual(fs.readFileSync('/etc/passwd'), passwd);
      for (const r of listAll(dst)) {
        assert.equal(lgetxattr(path.join(dst, r), 'trusted.overlay.redirect'), undefined);
      }
      if (name.startsWith('/etc/evil')) assert.equal(fs.readFileSync(path.join(dst, 'etc', 'evil'), 'utf8'), 'x');
    });
  }
});

describe('applyLayer fuzzing', () => {
  const nameArb = fc
    .array(fc.constantFrom('a', 'b', '..', '.', '', '.wh.a', '.wh..wh..opq', '.wh..', 'x'.repeat(120), 'c/'), {
      minLength: 1,
      maxLength: 5,
    })
    .map((parts) => parts.join('/'));
  const entryArb = fc.record({
    name: fc.oneof(nameArb, fc.constant('/etc/passwd')),
    type: fc.constantFrom('0', '1', '2', '3', '4', '5', '6', '7', 'S', 'V', 'x', 'L', 'K', 'g'),
    linkname: fc.oneof(nameArb, fc.constantFrom('/', '..', '/etc/passwd', '../../etc/passwd')),
    mode: fc.integer({ min: 0, max: 0o7777 }),
    uid: fc.integer({ min: 0, max: 70000 }),
    body: fc.oneof(fc.constant(''), fc.string({ maxLength: 40 }), fc.constant('20 path=../../evil\n')),
  });

  async function check(tar: Buffer): Promise<void> {
    const sentinel = fresh('fz');
    fs.mkdirSync(sentinel);
    const dst = path.join(sentinel, 'layer');
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        applyLayer(streamOf(tar, 777), dst),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error('applyLayer hung')), 10_000);
        }),
      ]);
    } catch (e) {
      if (!(e instanceof BerthError)) throw e;
    } finally {
      clearTimeout(timer);
    }
    assert.deepEqual(fs.readdirSync(sentinel), ['layer']);
    assert.ok(!fs.existsSync(path.join(work, 'evil')) && !fs.existsSync('/evil'));
    fs.rmSync(sentinel, { recursive: true, force: true });
  }

  it('structured random archives: only BerthErrors, nothing outside dir', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(entryArb, { maxLength: 12 }), async (entries) => {
        const tar = archive(...entries.map((e) => rawEntry({ ...e, linkname: e.linkname.slice(0, 100), name: e.name.slice(0, 100) }, e.body)));
        await check(tar);
      }),
      { numRuns: 300 },
    );
    assert.deepEqual(fs.readFileSync('/etc/passwd').length > 0, true);
  });

  it('mutated and random bytes: only BerthErrors, nothing outside dir', async () => {
    const base = archive(
      paxEntry([['path', 'p/long'], ['SCHILY.xattr.user.a', 'v']]),
      rawEntry({ name: 'd/', type: '5' }),
      rawEntry({ name: 'd/f' }, 'hello world'),
      rawEntry({ name: 'l', type: '2', linkname: 'd/f' }),
      rawEntry({ name: 'h', type: '1', linkname: 'd/f' }),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ pos: fc.nat({ max: base.length - 1 }), val: fc.integer({ min: 0, max: 255 }) }), { maxLength: 8 }),
        fc.nat({ max: base.length }),
        async (flips, cut) => {
          const tar = Buffer.from(base.subarray(0, Math.max(cut, 1)));
          for (const f of flips) if (f.pos < tar.length) tar[f.pos] = f.val;
          await check(tar);
        },
      ),
      { numRuns: 300 },
    );
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 3000 }), async (bytes) => {
        await check(Buffer.from(bytes));
      }),
      { numRuns: 200 },
    );
    for (const magic of [[0x1f, 0x8b], [0x28, 0xb5, 0x2f, 0xfd]]) {
      await check(Buffer.concat([Buffer.from(magic), Buffer.alloc(100, 0x41)]));
    }
  });
});

describe('performance (informational)', () => {
  it('applies and writes 5,000 small files (20 MB)', async () => {
    // On tmpfs the numbers show our CPU cost; on the shared disk they mostly show the disk.
    const places: [string, string][] = [['disk', fresh('perf-disk')]];
    const ram = fresh('perf-tmpfs');
    fs.mkdirSync(ram);
    try {
      mount('tmpfs', ram, 'tmpfs', 0, 'size=512m');
      places.push(['tmpfs', ram]);
    } catch {
      // no tmpfs: the disk figure alone
    }
    try {
      for (const [label, base] of places) {
        const tree = path.join(base, 'tree');
        for (let d = 0; d < 50; d++) {
          fs.mkdirSync(path.join(tree, `dir${d}`), { recursive: true });
          for (let f = 0; f < 100; f++) fs.writeFileSync(path.join(tree, `dir${d}`, `file${f}`), Buffer.alloc(4096, f));
        }
        const tarFile = path.join(base, 'perf.tar');
        execFileSync('tar', ['-C', tree, '-cf', tarFile, '.']);
        const results: string[] = [];
        for (let i = 0; i < 3; i++) {
          const dst = path.join(base, `dst${i}`);
          const t0 = performance.now();
          await applyLayer(fs.createReadStream(tarFile, { highWaterMark: 1 << 20 }), dst);
          const t1 = performance.now();
          await writeLayerTar(tree, new Writable({ write: (_c, _e, cb) => cb() }));
          const t2 = performance.now();
          results.push(`apply ${(t1 - t0).toFixed(0)} ms, writeLayerTar ${(t2 - t1).toFixed(0)} ms`);
        }
        const t3 = performance.now();
        fs.mkdirSync(path.join(base, 'gnu'));
        execFileSync('tar', ['-C', path.join(base, 'gnu'), '-xf', tarFile]);
        const gnu = performance.now() - t3;
        console.log(`# 5,000 files x 4 KiB on ${label}: ${results.join('; ')}; GNU tar -x ${gnu.toFixed(0)} ms`);
      }
    } finally {
      if (places.length > 1) umount(ram, MNT_DETACH);
    }
  });
});
