/**
 * 20 berth processes at once on one store: each runs a container from the same image, commits it,
 * removes it, runs its new image, and tags the shared image under its own name and under one name
 * all of them fight over. Then 20 processes pull the same image (a layer none of them has) from
 * Berth's registry on 127.0.0.1 and tag it. No update may be lost, no record corrupt, nothing may
 * deadlock.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BIN, type RunResult, TestStore } from '../helpers.js';
import { type ServedRegistry, assertNoLeaks, integrity, serveRegistry } from './support.js';

const WORKERS = Number(process.env.BERTH_CONCURRENCY ?? 20);

function runAsync(s: TestStore, args: string[], timeoutMs: number): Promise<RunResult> {
  return new Promise((resolve) => {
    const p = spawn(BIN, s.args(args), { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('exit', (code, sig) => {
      clearTimeout(t);
      resolve({ code: code ?? -1, stdout, stderr: sig ? `${stderr}\n(killed by ${sig}: deadlock or hang)` : stderr });
    });
  });
}

describe('reliability: 20 concurrent berth processes on one store', { skip: process.getuid?.() !== 0 && 'needs root' }, () => {
  const s = new TestStore('concurrency');
  before(() => s.busybox());
  after(() => s.cleanup());

  test('create/run/commit/rm/tag at once: no lost update, no corrupt record, no deadlock', async () => {
    const failures: string[] = [];
    const step = async (w: number, args: string[]): Promise<string> => {
      const r = await runAsync(s, args, 240_000);
      if (r.code !== 0) failures.push(`worker ${w}: berth ${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}`);
      return r.stdout;
    };
    const worker = async (w: number) => {
      await step(w, ['create', '--name', `c${w}`, 'busybox', 'sh', '-c', `echo ${w} > /who`]);
      await step(w, ['start', '-a', `c${w}`]);
      await step(w, ['tag', 'busybox', `mine${w}:latest`]);
      await step(w, ['tag', 'busybox', 'contended:latest']);
      await step(w, ['commit', `c${w}`, `img${w}:1`]);
      await step(w, ['tag', `img${w}:1`, 'fought-over:latest']);
      await step(w, ['rm', `c${w}`]);
      const out = await step(w, ['run', '--rm', `img${w}:1`, 'cat', '/who']);
      if (out.trim() !== String(w)) failures.push(`worker ${w}: its image holds ${JSON.stringify(out.trim())}`);
    };
    await Promise.all(Array.from({ length: WORKERS }, (_, i) => worker(i + 1)));
    assert.deepEqual(failures, []);

    // No lost update: every worker's image and tag exists, with its own content.
    const names = new Set(s.ok(['images', '--format', '{{.Repository}}:{{.Tag}}']).trim().split('\n'));
    for (let w = 1; w <= WORKERS; w++) {
      assert.ok(names.has(`img${w}:1`), `img${w}:1 lost`);
      assert.ok(names.has(`mine${w}:latest`), `mine${w}:latest lost`);
    }
    assert.ok(names.has('contended:latest'));
    // The name everyone fought over points at exactly one of the committed images.
    const fought = s.ok(['image', 'inspect', '--format', '{{.Id}}', 'fought-over:latest']).trim();
    const ids = new Set(Array.from({ length: WORKERS }, (_, i) => s.ok(['image', 'inspect', '--format', '{{.Id}}', `img${i + 1}:1`]).trim()));
    assert.equal(ids.size, WORKERS, 'every commit made its own image');
    assert.ok(ids.has(fought));
    assert.equal(s.ok(['ps', '-aq']).trim(), '', 'every container was removed');
    assert.equal(integrity(s), 'ok');
    assert.match(s.ok(['system', 'check']), /store is consistent/);
    await assertNoLeaks(s, 'after the concurrent run');
  });

  test('pull and tag the same image at once: one image, whole layers, every tag, no deadlock', async () => {
    let registry: ServedRegistry | undefined;
    try {
      registry = await serveRegistry(path.join(s.dir, 'registry'));
      const ref = `${registry.host}/shared/pulled:1`;
      // An image with a layer of its own (4 MiB of random bytes and a marker), pushed, then removed
      // here: every worker must download and unpack that layer, all at the same time.
      s.ok(['run', '--name', 'seed', 'busybox', 'sh', '-c', 'head -c 4194304 /dev/urandom > /blob && md5sum /blob > /blob.md5 && echo pulled-ok > /marker']);
      s.ok(['commit', 'seed', ref]);
      s.ok(['rm', 'seed']);
      s.ok(['push', ref], { timeout: 120_000 });
      s.ok(['rmi', ref]);
      const failures: string[] = [];
      const worker = async (w: number) => {
        for (const args of [['pull', ref], ['tag', ref, `pulled${w}:latest`]]) {
          const r = await runAsync(s, args, 240_000);
          if (r.code !== 0) failures.push(`worker ${w}: berth ${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}`);
        }
      };
      await Promise.all(Array.from({ length: WORKERS }, (_, i) => worker(i + 1)));
      assert.deepEqual(failures, []);
      const id = s.ok(['image', 'inspect', '--format', '{{.Id}}', ref]).trim();
      for (let w = 1; w <= WORKERS; w++) assert.equal(s.ok(['image', 'inspect', '--format', '{{.Id}}', `pulled${w}:latest`]).trim(), id, `pulled${w} lost or points elsewhere`);
      assert.equal(s.ok(['run', '--rm', ref, 'sh', '-c', 'cat /marker && md5sum -c /blob.md5 >/dev/null && echo whole']).trim(), 'pulled-ok\nwhole');
      assert.equal(integrity(s), 'ok');
      assert.match(s.ok(['system', 'check']), /store is consistent/);
      await assertNoLeaks(s, 'after the concurrent pulls');
    } finally {
      await registry?.stop();
    }
  });
});
