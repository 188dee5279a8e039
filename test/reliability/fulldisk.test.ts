/**
 * A full disk: the store root is a 16 MB tmpfs. Importing a bigger tarball and committing a container
 * that filled the disk must fail with a clear "no space" error and leave nothing half-written (a
 * plain `system check` is clean, no temporary layer or ingest file remains); once space is freed the
 * store works again.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { TestStore, mountsUnder } from '../helpers.js';
import { integrity, makeRootfsTar } from './support.js';

describe('reliability: full disk', { skip: process.getuid?.() !== 0 && 'needs root' }, () => {
  const s = new TestStore('fulldisk');
  let mounted = false;
  before(() => {
    fs.mkdirSync(s.root, { recursive: true });
    const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=16m,mode=0700', 'tmpfs', s.root], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`cannot mount a tmpfs for the store: ${r.stderr}`);
    mounted = true;
    s.busybox();
  });
  after(() => {
    // cleanup() removes containers and unmounts everything under the store dir, the tmpfs included.
    s.cleanup();
    if (mounted && mountsUnder(path.dirname(s.root)).length) spawnSync('umount', ['-l', s.root]);
  });

  const assertNothingHalfWritten = (what: string) => {
    const chk = s.run(['system', 'check']);
    assert.equal(chk.code, 0, `${what}: ${chk.stdout}${chk.stderr}`);
    const layers = path.join(s.root, 'layers');
    assert.deepEqual(fs.readdirSync(layers).filter((n) => n.startsWith('tmp-') || n.startsWith('trash-')), [], `${what}: temporary layer dirs`);
    const ingest = path.join(s.root, 'content', 'ingest');
    assert.deepEqual(fs.existsSync(ingest) ? fs.readdirSync(ingest) : [], [], `${what}: ingest files`);
    assert.equal(integrity(s), 'ok');
  };

  test('import of a tarball bigger than the disk: no_space, nothing left behind, then a small import works', () => {
    const big = makeRootfsTar(s.dir, 24, 'big');
    const r = s.run(['import', big, 'toobig:1']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /no space left on device/i);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'a clear message, not a stack trace');
    assert.equal(s.run(['image', 'inspect', 'toobig:1']).code, 1);
    assertNothingHalfWritten('after the failed import');
    const small = makeRootfsTar(s.dir, 1, 'small');
    s.ok(['import', small, 'small:1']);
    assert.equal(s.ok(['run', '--rm', 'small:1', 'cat', '/marker']).trim(), 'small');
    s.ok(['rmi', 'small:1']);
  });

  test('commit of a container that filled the disk: no_space; after rm the store works', () => {
    // The container itself hits the limit (dd fails part way); what it wrote stays in its layer.
    s.run(['run', '--name', 'filler', 'busybox', 'dd', 'if=/dev/urandom', 'of=/big', 'bs=1M', 'count=32']);
    const r = s.run(['commit', 'filler', 'filled:1']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /no space left on device/i);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
    assert.equal(s.run(['image', 'inspect', 'filled:1']).code, 1);
    s.ok(['rm', 'filler']);
    assertNothingHalfWritten('after the failed commit');
    s.ok(['run', '--name', 'small', 'busybox', 'sh', '-c', 'echo fits > /f']);
    s.ok(['commit', 'small', 'fits:1']);
    s.ok(['rm', 'small']);
    assert.equal(s.ok(['run', '--rm', 'fits:1', 'cat', '/f']).trim(), 'fits');
    assertNothingHalfWritten('at the end');
  });
});
