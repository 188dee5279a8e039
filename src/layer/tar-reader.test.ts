import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { isBerthError } from '../errors.js';
import { readTar, type TarHeader, TarParser } from './tar-reader.js';
import { archive, paxEntry, rawEntry, rawHeader, streamOf, tmpDir } from './test-helpers.js';

async function collect(buf: Buffer, chunk = 64 * 1024): Promise<{ h: TarHeader; body: string }[]> {
  const out: { h: TarHeader; body: string }[] = [];
  for await (const e of readTar(streamOf(buf, chunk))) {
    const parts: Buffer[] = [];
    for await (const c of e.body) parts.push(c);
    out.push({ h: e.header, body: Buffer.concat(parts).toString() });
  }
  return out;
}

async function rejects(buf: Buffer, re?: RegExp): Promise<void> {
  await assert.rejects(collect(buf), (e: unknown) => {
    assert.ok(isBerthError(e, 'corrupt'), `expected corrupt, got ${String(e)}`);
    if (re) assert.match((e as Error).message, re);
    return true;
  });
}

describe('tar reader', () => {
  it('reads ustar entries of every type, at any chunk size', async () => {
    const tar = archive(
      rawEntry({ name: 'dir/', type: '5', mode: 0o755 }),
      rawEntry({ name: 'dir/file', mode: 0o4755, uid: 1000, gid: 1001 }, 'hello'),
      rawEntry({ name: 'dir/hl', type: '1', linkname: 'dir/file' }),
      rawEntry({ name: 'sym', type: '2', linkname: '../x' }),
      rawEntry({ name: 'null', type: '3', devmajor: 1, devminor: 3 }),
      rawEntry({ name: 'fifo', type: '6' }),
      rawEntry({ name: 'name', prefix: 'a/very/long/prefix' }, 'x'.repeat(1000)),
    );
    for (const chunk of [1, 7, 511, 512, 513, 100_000]) {
      const got = await collect(tar, chunk);
      assert.deepEqual(
        got.map((e) => [e.h.name, e.h.type]),
        [
          ['dir/', 'directory'],
          ['dir/file', 'file'],
          ['dir/hl', 'link'],
          ['sym', 'symlink'],
          ['null', 'char'],
          ['fifo', 'fifo'],
          ['a/very/long/prefix/name', 'file'],
        ],
      );
      assert.equal(got[1].body, 'hello');
      assert.equal(got[1].h.mode, 0o4755);
      assert.equal(got[1].h.uid, 1000);
      assert.equal(got[1].h.gid, 1001);
      assert.equal(got[4].h.devmajor, 1);
      assert.equal(got[4].h.devminor, 3);
      assert.equal(got[6].body.length, 1000);
    }
  });

  it('applies pax records (path, linkpath, size, ids, names, fractional mtime, xattrs) and globals', async () => {
    const long = `${'d'.repeat(150)}/${'f'.repeat(150)}`;
    const tar = archive(
      paxEntry([['uname', 'globaluser']], 'g'),
      paxEntry([
        ['path', long],
        ['uid', '3000000'],
        ['gid', '4000000'],
        ['mtime', '1600000000.123456789'],
        ['SCHILY.xattr.user.bin', Buffer.from([0, 1, 2, 0xff])],
        ['SCHILY.xattr.security.capability', Buffer.from('cap')],
      ]),
      rawEntry({ name: 'short' }, 'body'),
      paxEntry([['linkpath', `${long}-target`]]),
      rawEntry({ name: 'l', type: '2' }),
      paxEntry([['uname', '']]),
      rawEntry({ name: 'plain' }),
    );
    const got = await collect(tar, 100);
    assert.equal(got.length, 3);
    assert.equal(got[0].h.name, long);
    assert.equal(got[0].h.uid, 3000000);
    assert.equal(got[0].h.gid, 4000000);
    assert.equal(got[0].h.uname, 'globaluser');
    assert.ok(Math.abs(got[0].h.mtime - 1600000000.123456) < 1e-5);
    assert.deepEqual(got[0].h.xattrs?.get('user.bin'), Buffer.from([0, 1, 2, 0xff]));
    assert.deepEqual(got[0].h.xattrs?.get('security.capability'), Buffer.from('cap'));
    assert.equal(got[0].body, 'body');
    assert.equal(got[1].h.linkname, `${long}-target`);
    assert.equal(got[1].h.xattrs, undefined, 'pax x records apply to one entry only');
    assert.equal(got[2].h.uname, '', 'an empty local record unsets the global one');
  });

  it('reads GNU long names and links and base-256 numbers (GNU tar output)', async () => {
    const dir = tmpDir();
    const src = path.join(dir, 'src');
    const deep = path.join(src, 'x'.repeat(120), 'y'.repeat(120));
    fs.mkdirSync(deep, { recursive: true });
    fs.writeFileSync(path.join(deep, 'f'), 'data');
    fs.symlinkSync('t'.repeat(200), path.join(src, 'longlink'));
    fs.chownSync(path.join(deep, 'f'), 5_000_000, 7);
    const tarFile = path.join(dir, 'gnu.tar');
    execFileSync('tar', ['--format=gnu', '-C', src, '-cf', tarFile, '.']);
    const got = await collect(fs.readFileSync(tarFile), 333);
    const f = got.find((e) => e.h.name.endsWith('/f'));
    assert.ok(f);
    assert.equal(f.h.name, `./${'x'.repeat(120)}/${'y'.repeat(120)}/f`);
    assert.equal(f.h.uid, 5_000_000, 'GNU tar writes this uid in base-256');
    assert.equal(f.body, 'data');
    const l = got.find((e) => e.h.name === './longlink');
    assert.equal(l?.h.linkname, 't'.repeat(200));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('lets the consumer skip bodies', async () => {
    const tar = archive(rawEntry({ name: 'a' }, 'A'.repeat(5000)), rawEntry({ name: 'b' }, 'B'));
    const names: string[] = [];
    let bBody = '';
    for await (const e of readTar(streamOf(tar, 1000))) {
      names.push(e.header.name);
      if (e.header.name === 'b') for await (const c of e.body) bBody += c.toString();
    }
    assert.deepEqual(names, ['a', 'b']);
    assert.equal(bBody, 'B');
  });

  it('ends at clean EOF, one or two zero blocks, and ignores what follows the end marker', async () => {
    const one = rawEntry({ name: 'a' }, 'x');
    assert.equal((await collect(one)).length, 1);
    assert.equal((await collect(Buffer.concat([one, Buffer.alloc(512)]))).length, 1);
    assert.equal((await collect(Buffer.concat([archive(one), Buffer.from('trailing garbage')]))).length, 1);
    assert.equal((await collect(Buffer.alloc(0))).length, 0);
  });

  it('rejects bad checksums, truncation and bad numbers', async () => {
    await rejects(archive(rawEntry({ name: 'a', checksumDelta: 1 }, 'x')), /checksum/);
    const full = archive(rawEntry({ name: 'a' }, 'x'.repeat(2000)));
    await rejects(full.subarray(0, 300), /truncated/);
    await rejects(full.subarray(0, 1000), /truncated/);
    await rejects(full.subarray(0, 512 + 2000 + 10), /truncated/);
    await rejects(paxEntry([['path', 'x']]), /truncated/);
    await rejects(archive(rawEntry({ name: 'a', sizeField: Buffer.from('12a4\0') })), /octal/);
    await rejects(archive(rawEntry({ name: 'a', sizeField: Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe]) })), /negative/);
    await rejects(archive(rawEntry({ name: 'a', sizeField: Buffer.from([0x80, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]) })), /range/);
    await rejects(archive(paxEntry([['size', '-5']]), rawEntry({ name: 'a' })), /size/);
    await rejects(archive(paxEntry([['size', '99999999999999999999']]), rawEntry({ name: 'a' })), /size/);
    await rejects(archive(paxEntry([['path', 'a\0b']]), rawEntry({ name: 'a' })), /NUL/);
    await rejects(archive(rawEntry({ name: 'a' }), Buffer.alloc(512), rawEntry({ name: 'b' })), /lone zero block/);
  });

  it('rejects oversized and malformed extended headers without buffering them', async () => {
    const huge = rawHeader({ name: 'p', type: 'x', size: 1024 * 1024 + 1 });
    await rejects(Buffer.concat([huge, Buffer.alloc(4096)]), /too large/);
    const hugeL = rawHeader({ name: '././@LongLink', type: 'L', size: 2 ** 40 });
    await rejects(hugeL, /too large/);
    const bad = rawEntry({ name: 'p', type: 'x' }, '5 a=b\n99 x\n');
    await rejects(archive(bad, rawEntry({ name: 'a' })), /malformed/);
    await rejects(archive(paxEntry([['GNU.sparse.major', '1']]), rawEntry({ name: 's' })), /sparse/);
  });

  it('TarParser: push API reports entries synchronously', () => {
    const seen: string[] = [];
    const p = new TarParser({
      entry: (h) => seen.push(`+${h.name}`),
      data: (b) => seen.push(`${b.length}`),
      entryEnd: () => seen.push('-'),
    });
    p.write(archive(rawEntry({ name: 'a' }, 'abc'), rawEntry({ name: 'b/', type: '5' })));
    p.end();
    assert.deepEqual(seen, ['+a', '3', '-', '+b/', '-']);
    assert.equal(p.entries, 2);
    assert.ok(p.done);
  });
});
