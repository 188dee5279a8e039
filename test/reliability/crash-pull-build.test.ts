/**
 * SIGKILL of berth in the middle of `pull` (from Berth's own `registry serve` on 127.0.0.1, two
 * incompressible layers of 12 and 8 MiB) and of `build` (a COPY of 12 MiB and a RUN writing 24 MiB,
 * --no-cache), at spread-out points of each. After every kill the invariants of crash.test.ts hold
 * (check clean or repaired, no temp layer or ingest file, integrity_check ok, the result whole or
 * absent), and for build also: no build mount, runtime container, cgroup, runc process or step
 * directory is left. At the end earlier images and containers still work and nothing leaks.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { TestStore, eventually, mountsUnder } from '../helpers.js';
import { type OpStats, SEED, type ServedRegistry, assertNoLeaks, makeFaultOp, makeRootfsTar, rng, serveRegistry } from './support.js';

/** Pids whose command line names this store's run root and a build container. */
function buildProcesses(s: TestStore): string[] {
  const out: string[] = [];
  for (const p of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const cmd = fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').replaceAll('\0', ' ');
      if (cmd.includes('berth-build-') && cmd.includes(s.runroot)) out.push(`${p}: ${cmd.slice(0, 200)}`);
    } catch {
      /* gone */
    }
  }
  return out;
}

/** Everything a build makes only while it runs; all of it must be gone once the store is repaired. */
function buildLeftovers(s: TestStore): string[] {
  const left: string[] = [];
  for (const m of mountsUnder(path.join(s.root, 'cache'))) left.push(`mount ${m}`);
  const stepDirs = path.join(s.root, 'cache', 'build-tmp');
  for (const n of fs.existsSync(stepDirs) ? fs.readdirSync(stepDirs) : []) left.push(`step directory ${n}`);
  const state = path.join(s.runroot, 'runtime', 'build');
  for (const n of fs.existsSync(state) ? fs.readdirSync(state) : []) left.push(`runtime state ${n}`);
  const parent = `berth-${createHash('sha256').update(path.resolve(s.root)).digest('hex').slice(0, 10)}`;
  for (const ctrl of fs.readdirSync('/sys/fs/cgroup')) {
    const dir = path.join('/sys/fs/cgroup', ctrl, parent);
    let names: string[] = [];
    try {
      names = fs.readdirSync(dir).filter((n) => n.startsWith('berth-build-'));
    } catch {
      /* no such controller dir */
    }
    for (const n of names) left.push(`cgroup ${ctrl}/${n}`);
  }
  for (const p of buildProcesses(s)) left.push(`process ${p}`);
  return left;
}

describe('reliability: SIGKILL during pull and build', { skip: process.getuid?.() !== 0 && 'needs root' }, () => {
  const s = new TestStore('crash-pb');
  const random = rng(SEED + 1);
  const stats: Record<string, OpStats> = {};
  let registry: ServedRegistry | undefined;
  let host = '';
  let ctx = '';

  before(async () => {
    s.busybox();
    // The image served: an imported 12 MiB layer and a committed 8 MiB one, both incompressible.
    s.ok(['import', makeRootfsTar(s.dir, 12, 'pulled'), 'regsrc:1']);
    s.ok(['run', '--name', 'regsrc', 'regsrc:1', 'dd', 'if=/dev/urandom', 'of=/big2', 'bs=1M', 'count=8']);
    registry = await serveRegistry(path.join(s.dir, 'registry'));
    host = registry.host;
    s.ok(['commit', 'regsrc', `${host}/crash/img:1`]);
    s.ok(['rm', 'regsrc']);
    s.ok(['rmi', 'regsrc:1']);
    s.ok(['push', `${host}/crash/img:1`], { timeout: 180_000 });
    // Pulls must fetch everything: nothing of the image stays in the store.
    s.ok(['rmi', `${host}/crash/img:1`]);

    ctx = path.join(s.dir, 'ctx');
    fs.mkdirSync(path.join(ctx, 'payload'), { recursive: true });
    for (let i = 0; i < 12; i++) fs.writeFileSync(path.join(ctx, 'payload', `p${i}`), randomBytes(1 << 20));
    fs.writeFileSync(
      path.join(ctx, 'Dockerfile'),
      'FROM busybox\nCOPY payload /payload\nRUN dd if=/dev/urandom of=/big bs=1M count=24 2>/dev/null && echo built > /marker\n',
    );
    // An earlier container that must survive every fault, running all along.
    s.ok(['run', '-d', '--name', 'keeper', 'busybox', 'sleep', '100000']);
  });
  after(async () => {
    for (const [op, st] of Object.entries(stats)) console.log(`crash ${op}: ${JSON.stringify(st)}`);
    await registry?.stop();
    s.cleanup();
  });

  const faultOp = makeFaultOp(s, random, stats);
  const exists = (args: string[]) => s.run(args).code === 0;

  test('pull', async () => {
    const ref = () => `${host}/crash/img:1`;
    await faultOp('pull', {
      setup: () => undefined,
      op: () => ['pull', ref()],
      skipStartup: true,
      phase: (out) => {
        if (!/Pulling from/.test(out)) return 'manifest';
        if ((out.match(/: Pull complete/g) ?? []).length >= 2) return 'image record';
        return 'layers';
      },
      verify: () => {
        if (!exists(['image', 'inspect', ref()])) return false;
        const out = s.ok(['run', '--rm', ref(), 'sh', '-c', 'cat /marker; test -s /big2 && echo ok']);
        assert.equal(out, 'pulled\nok\n');
        return true;
      },
      teardown: () => {
        s.run(['rmi', ref()]);
        // What a killed pull committed without an image (a layer, a blob) must not make the next
        // pull skip work: collect it.
        s.ok(['system', 'check', '--repair']);
      },
    });
  });

  test('build', async () => {
    await faultOp('build', {
      setup: () => undefined,
      op: (i) => ['build', '--no-cache', '-t', `bld:${i + 1}`, ctx],
      skipStartup: true,
      phase: (out) => {
        // Plain progress: "#N <step>" when a step starts, "#N DONE" when it ends.
        const heads = [...out.matchAll(/^#(\d+) (?!DONE|CACHED|ERROR)(.*)$/gm)];
        const last = heads.at(-1);
        if (!last) return 'start';
        const step = /exporting/.test(last[2] ?? '') ? 'image write' : (/(RUN|COPY|FROM)/.exec(last[2] ?? '')?.[1] ?? 'step');
        return new RegExp(`^#${last[1]} DONE`, 'm').test(out) ? `after ${step}` : step;
      },
      verify: (i) => {
        if (!exists(['image', 'inspect', `bld:${i + 1}`])) return false;
        const out = s.ok(['run', '--rm', `bld:${i + 1}`, 'sh', '-c', 'cat /marker; ls /payload | wc -l; test -s /big && echo ok']);
        assert.equal(out.replace(/[ \t]+/g, ''), 'built\n12\nok\n');
        return true;
      },
      teardown: (i) => void s.run(['rmi', `bld:${i + 1}`]),
      afterKill: async (_i, what) => {
        // A RUN the kill orphaned may take a moment to be stopped by the repair's runtime delete.
        await eventually(() => buildLeftovers(s).length === 0, 15_000).catch(() => undefined);
        assert.deepEqual(buildLeftovers(s), [], `${what}: build leftovers after repair`);
      },
    });
  });

  test('afterwards: earlier images and containers work, nothing leaks', async () => {
    assert.equal(s.ok(['exec', 'keeper', 'echo', 'alive']).trim(), 'alive');
    assert.equal(s.ok(['run', '--rm', 'busybox', 'echo', 'ok']).trim(), 'ok');
    s.ok(['rm', '-f', 'keeper']);
    await assertNoLeaks(s, 'after all faults');
    assert.deepEqual(buildLeftovers(s), []);
    assert.match(s.ok(['system', 'check']), /store is consistent/);
  });
});
