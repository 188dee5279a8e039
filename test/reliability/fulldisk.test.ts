/**
 * A full disk: the store root is a 16 MB tmpfs. Importing a bigger tarball, pulling a bigger image
 * (from `berth registry serve` on 127.0.0.1, fed by a second store on the normal disk), building
 * (a COPY, then a RUN, whose layer does not fit) and committing a container that filled the disk
 * must fail with a clear "no space" error and leave nothing half-written (a plain `system check` is
 * clean, no temporary layer, ingest file, build step directory or mount remains); once space is
 * freed the store works again.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { TestStore, mountsUnder } from '../helpers.js';
import { type ServedRegistry, integrity, makeRootfsTar, serveRegistry } from './support.js';

describe('reliability: full disk', { skip: process.getuid?.() !== 0 && 'needs root' }, () => {
  const s = new TestStore('fulldisk');
  // The registry's source store and the registry itself live on the normal disk.
  const src = new TestStore('fulldisk-src');
  let registry: ServedRegistry | undefined;
  let mounted = false;
  before(async () => {
    src.busybox();
    registry = await serveRegistry(path.join(src.dir, 'registry'));
    const h = registry.host;
    src.ok(['import', makeRootfsTar(src.dir, 24, 'bigpull'), `${h}/fd/big:1`]);
    src.ok(['push', `${h}/fd/big:1`], { timeout: 180_000 });
    src.ok(['import', makeRootfsTar(src.dir, 1, 'smallpull'), `${h}/fd/small:1`]);
    src.ok(['push', `${h}/fd/small:1`]);
    fs.mkdirSync(s.root, { recursive: true });
    const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=16m,mode=0700', 'tmpfs', s.root], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`cannot mount a tmpfs for the store: ${r.stderr}`);
    mounted = true;
    s.busybox();
  });
  after(async () => {
    await registry?.stop();
    src.cleanup();
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
    const steps = path.join(s.root, 'cache', 'build-tmp');
    assert.deepEqual(fs.existsSync(steps) ? fs.readdirSync(steps) : [], [], `${what}: build step directories`);
    assert.deepEqual(mountsUnder(s.root), [], `${what}: mounts left in the store`);
  };

  const assertNoSpace = (r: { code: number; stderr: string }, what: string) => {
    assert.notEqual(r.code, 0, `${what} must fail`);
    assert.match(r.stderr, /no space left on device/i, `${what}: ${r.stderr}`);
    assert.doesNotMatch(r.stderr, /\n\s+at /, `${what}: a clear message, not a stack trace`);
    console.log(`fulldisk ${what}: ${r.stderr.trim().split('\n').at(-1)}`);
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

  test('pull of an image bigger than the disk: no_space, nothing left behind, then a small pull works', () => {
    const h = (registry as ServedRegistry).host;
    assertNoSpace(s.run(['pull', `${h}/fd/big:1`], { timeout: 120_000 }), 'pull');
    assert.equal(s.run(['image', 'inspect', `${h}/fd/big:1`]).code, 1);
    assertNothingHalfWritten('after the failed pull');
    s.ok(['pull', `${h}/fd/small:1`]);
    assert.equal(s.ok(['run', '--rm', `${h}/fd/small:1`, 'cat', '/marker']).trim(), 'smallpull');
    s.ok(['rmi', `${h}/fd/small:1`]);
    assertNothingHalfWritten('after the small pull');
  });

  test('build whose COPY, then whose RUN, does not fit: no_space, nothing left behind, then a small build works', () => {
    const ctx = path.join(s.dir, 'ctx');
    fs.mkdirSync(path.join(ctx, 'payload'), { recursive: true });
    // 10 MiB fit in the step directory; the layer made from them (another 10 MiB) does not.
    for (let i = 0; i < 10; i++) fs.writeFileSync(path.join(ctx, 'payload', `p${i}`), randomBytes(1 << 20));
    fs.writeFileSync(path.join(ctx, 'Dockerfile'), 'FROM busybox\nCOPY payload /payload\n');
    assertNoSpace(s.run(['build', '-t', 'nofit:copy', ctx], { timeout: 120_000 }), 'build with a big COPY');
    assert.equal(s.run(['image', 'inspect', 'nofit:copy']).code, 1);
    assertNothingHalfWritten('after the failed COPY build');
    // The RUN itself succeeds (its 10 MiB fit in the overlay's upper directory); its layer does not.
    fs.writeFileSync(path.join(ctx, 'Dockerfile'), 'FROM busybox\nRUN dd if=/dev/urandom of=/big bs=1M count=10\n');
    fs.writeFileSync(path.join(ctx, '.dockerignore'), 'payload\n');
    assertNoSpace(s.run(['build', '-t', 'nofit:run', ctx], { timeout: 120_000 }), 'build with a big RUN');
    assert.equal(s.run(['image', 'inspect', 'nofit:run']).code, 1);
    assertNothingHalfWritten('after the failed RUN build');
    fs.writeFileSync(path.join(ctx, 'Dockerfile'), 'FROM busybox\nRUN echo fits > /f\n');
    s.ok(['build', '-t', 'fits:build', ctx]);
    assert.equal(s.ok(['run', '--rm', 'fits:build', 'cat', '/f']).trim(), 'fits');
    s.ok(['rmi', 'fits:build']);
    assertNothingHalfWritten('after the small build');
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
