/**
 * SIGKILL of berth in the middle of import, load, commit, rm, rmi and system prune, at spread-out
 * points of each (deterministic delays from a seed, over the operation's own measured duration).
 * After every kill: `system check` is clean or `--repair` makes it so; what the operation made is
 * either whole (the image runs, the container can be removed) or absent; the database passes
 * integrity_check. At the end earlier images and containers still work and nothing leaks.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { TestStore } from '../helpers.js';
import { type OpStats, SEED, assertNoLeaks, makeFaultOp, makeRootfsTar, rng } from './support.js';

describe('reliability: SIGKILL during store operations', { skip: process.getuid?.() !== 0 && 'needs root' }, () => {
  const s = new TestStore('crash');
  const random = rng(SEED);
  const stats: Record<string, OpStats> = {};
  let bigTar = '';
  let savedTar = '';

  before(() => {
    s.busybox();
    bigTar = makeRootfsTar(s.dir, 12, 'big');
    s.ok(['import', bigTar, 'loadsrc:1']);
    savedTar = path.join(s.dir, 'saved.tar');
    s.ok(['save', '-o', savedTar, 'loadsrc:1']);
    s.ok(['rmi', 'loadsrc:1']);
    // An earlier container that must survive every fault, running all along.
    s.ok(['run', '-d', '--name', 'keeper', 'busybox', 'sleep', '100000']);
    s.ok(['run', '--name', 'commitsrc', 'busybox', 'dd', 'if=/dev/urandom', 'of=/big', 'bs=1M', 'count=16']);
  });
  after(() => {
    for (const [op, st] of Object.entries(stats)) console.log(`crash ${op}: ${JSON.stringify(st)}`);
    s.cleanup();
  });

  const faultOp = makeFaultOp(s, random, stats);

  const exists = (args: string[]) => s.run(args).code === 0;
  // verify(i) checks that what the operation made works (when present) and returns whether the
  // operation's effect is visible (for removals: the thing is gone).

  test('import', async () => {
    await faultOp('import', {
      setup: () => undefined,
      op: (i) => ['import', bigTar, `imp:${i + 1}`],
      verify: (i) => {
        if (!exists(['image', 'inspect', `imp:${i + 1}`])) return false;
        assert.equal(s.ok(['run', '--rm', `imp:${i + 1}`, 'cat', '/marker']).trim(), 'big');
        return true;
      },
      teardown: (i) => void s.run(['rmi', `imp:${i + 1}`]),
    });
  });

  test('load', async () => {
    await faultOp('load', {
      setup: () => undefined,
      op: () => ['load', '-i', savedTar],
      verify: () => {
        if (!exists(['image', 'inspect', 'loadsrc:1'])) return false;
        assert.equal(s.ok(['run', '--rm', 'loadsrc:1', 'cat', '/marker']).trim(), 'big');
        return true;
      },
      teardown: () => void s.run(['rmi', 'loadsrc:1']),
    });
  });

  test('commit', async () => {
    await faultOp('commit', {
      setup: () => undefined,
      op: (i) => ['commit', 'commitsrc', `cmt:${i + 1}`],
      verify: (i) => {
        if (!exists(['image', 'inspect', `cmt:${i + 1}`])) return false;
        assert.equal(s.ok(['run', '--rm', `cmt:${i + 1}`, 'sh', '-c', 'test -s /big && echo ok']).trim(), 'ok');
        return true;
      },
      teardown: (i) => void s.run(['rmi', `cmt:${i + 1}`]),
    });
    s.ok(['rm', 'commitsrc']);
  });

  test('rm', async () => {
    await faultOp('rm', {
      setup: (i) => void s.ok(['run', '--name', `rm${i + 1}`, 'busybox', 'dd', 'if=/dev/zero', 'of=/big', 'bs=1M', 'count=16']),
      op: (i) => ['rm', `rm${i + 1}`],
      verify: (i) => !exists(['container', 'inspect', `rm${i + 1}`]),
      // A container that survived the kill must still be removable.
      teardown: (i) => {
        if (exists(['container', 'inspect', `rm${i + 1}`])) s.ok(['rm', '-f', `rm${i + 1}`]);
      },
    });
  });

  test('rmi', async () => {
    await faultOp('rmi', {
      setup: (i) => void s.ok(['import', bigTar, `rmi:${i + 1}`]),
      op: (i) => ['rmi', `rmi:${i + 1}`],
      verify: (i) => {
        if (!exists(['image', 'inspect', `rmi:${i + 1}`])) return true;
        assert.equal(s.ok(['run', '--rm', `rmi:${i + 1}`, 'cat', '/marker']).trim(), 'big');
        return false;
      },
      teardown: (i) => void s.run(['rmi', `rmi:${i + 1}`]),
    });
  });

  test('system prune', async () => {
    await faultOp('prune', {
      setup: (i) => {
        s.ok(['run', '--name', `pr${i + 1}`, 'busybox', 'dd', 'if=/dev/urandom', 'of=/big', 'bs=1M', 'count=8']);
        s.ok(['commit', `pr${i + 1}`]);
        s.ok(['import', bigTar]);
      },
      op: () => ['system', 'prune', '-f', '-a', '--volumes'],
      verify: (i) => !exists(['container', 'inspect', `pr${i + 1}`]),
      teardown: () => void s.ok(['system', 'prune', '-f', '-a', '--volumes']),
    });
  });

  test('afterwards: earlier images and containers work, nothing leaks', async () => {
    assert.equal(s.ok(['exec', 'keeper', 'echo', 'alive']).trim(), 'alive');
    assert.equal(s.ok(['run', '--rm', 'busybox', 'echo', 'ok']).trim(), 'ok');
    s.ok(['rm', '-f', 'keeper']);
    await assertNoLeaks(s, 'after all faults');
    assert.match(s.ok(['system', 'check']), /store is consistent/);
  });
});
