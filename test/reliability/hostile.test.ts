/**
 * Hostile input at the CLI: crafted layer archives through `berth import` and `berth load` (path
 * traversal, absolute and relative symlink escapes, hard links out of the tree, device nodes,
 * setuid files, huge and negative sizes, PAX tricks, truncation). Each is rejected or contained:
 * a sentinel directory outside the store is never touched, the store stays consistent. Then a
 * bounded fuzz of `load` with mutated archives, and the runtime defaults seen from inside a container.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { TestStore } from '../helpers.js';
import { integrity } from './support.js';
import { type RawEntry, craftTar, dockerArchive } from './tarcraft.js';

describe('reliability: hostile archives and container confinement', { skip: process.getuid?.() !== 0 && 'needs root' }, () => {
  const s = new TestStore('hostile');
  let outside = '';
  let sentinel = '';
  const snapshot = () =>
    fs
      .readdirSync(outside, { recursive: true, withFileTypes: true })
      .map((e) => {
        const p = path.join(e.parentPath ?? (e as unknown as { path: string }).path, e.name);
        const st = fs.lstatSync(p);
        return `${path.relative(outside, p)} ${st.mode} ${st.nlink} ${st.size} ${st.mtimeMs}`;
      })
      .sort()
      .join('\n');
  let before0 = '';

  before(() => {
    s.busybox();
    outside = path.join(s.dir, 'outside');
    fs.mkdirSync(outside);
    sentinel = path.join(outside, 'sentinel');
    fs.writeFileSync(sentinel, 'untouched\n');
    before0 = snapshot();
  });
  after(() => s.cleanup());

  const assertOutsideUntouched = (what: string) => {
    assert.equal(fs.readFileSync(sentinel, 'utf8'), 'untouched\n', `${what}: sentinel changed`);
    assert.equal(snapshot(), before0, `${what}: something outside the store changed`);
  };
  const assertStoreClean = (what: string) => {
    const chk = s.run(['system', 'check']);
    assert.equal(chk.code, 0, `${what}: ${chk.stdout}${chk.stderr}`);
    const layers = path.join(s.root, 'layers');
    assert.deepEqual(fs.readdirSync(layers).filter((n) => n.startsWith('tmp-')), [], `${what}: temporary layer dirs left`);
  };

  const up = (n: number) => '../'.repeat(n);
  const cases = (): Record<string, RawEntry[]> => {
    const rel = outside.slice(1);
    return {
      'path traversal': [{ name: `${up(30)}${rel}/sentinel`, body: 'pwned\n' }],
      'absolute path': [{ name: `${outside}/sentinel`, body: 'pwned\n' }, { name: `${outside}/new`, body: 'pwned\n' }],
      'absolute symlink escape': [
        { name: 'esc', type: '2', linkname: outside },
        { name: 'esc/sentinel', body: 'pwned\n' },
        { name: 'esc/new', body: 'pwned\n' },
      ],
      'relative symlink escape': [
        { name: 'a/', type: '5' },
        { name: 'a/esc', type: '2', linkname: `${up(30)}${rel}` },
        { name: 'a/esc/sentinel', body: 'pwned\n' },
      ],
      'symlink chain escape': [
        { name: 'l1', type: '2', linkname: 'l2' },
        { name: 'l2', type: '2', linkname: `${up(30)}${rel}` },
        { name: 'l1/sentinel', body: 'pwned\n' },
      ],
      'hard link out of the tree (absolute)': [
        { name: 'hl', type: '1', linkname: sentinel },
        { name: 'hl', body: 'pwned\n' },
      ],
      'hard link out of the tree (relative)': [{ name: 'hl2', type: '1', linkname: `${up(30)}${rel}/sentinel` }],
      'hard link through a symlink': [
        { name: 'esc', type: '2', linkname: outside },
        { name: 'hl3', type: '1', linkname: 'esc/sentinel' },
      ],
      'device nodes': [
        { name: 'blk', type: '4', devmajor: 7, devminor: 0, mode: 0o666 },
        { name: 'mem', type: '3', devmajor: 1, devminor: 1, mode: 0o666 },
      ],
      'setuid and setgid files': [
        { name: 'suid', mode: 0o6755, body: '#!/bin/sh\necho suid\n' },
        { name: 'sticky/', type: '5', mode: 0o1777 },
      ],
      'huge declared size (8 GiB, truncated body)': [{ name: 'huge', size: 8 * 1024 ** 3, body: 'x'.repeat(100) }],
      'negative size (base-256)': [{ name: 'neg', rawSize: Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xf0]), body: 'x' }],
      'PAX path traversal': [{ name: 'benign', pax: { path: `${up(30)}${rel}/sentinel` }, body: 'pwned\n' }],
      'PAX absolute linkpath': [
        { name: 'pl', type: '2', linkname: 'harmless', pax: { linkpath: outside } },
        { name: 'pl/sentinel', body: 'pwned\n' },
      ],
      'PAX huge size': [{ name: 'paxsize', pax: { size: '99999999999999' }, body: 'x' }],
      'PAX hard link out': [{ name: 'phl', type: '1', linkname: 'x', pax: { linkpath: sentinel } }],
      'truncated archive': [{ name: 'cut', size: 4096, body: 'x'.repeat(10) }],
    };
  };

  let n = 0;
  for (const via of ['import', 'load'] as const) {
    test(`malicious layers through berth ${via} are rejected or contained`, () => {
      const results: string[] = [];
      for (const [name, entries] of Object.entries(cases())) {
        n++;
        const tag = `hostile${n}:1`;
        const layer = craftTar(entries, { truncate: name === 'truncated archive' });
        const file = path.join(s.dir, `h${n}.tar`);
        fs.writeFileSync(file, via === 'import' ? layer : dockerArchive(layer, tag));
        const r = s.run(via === 'import' ? ['import', file, tag] : ['load', '-i', file]);
        assertOutsideUntouched(`${via} ${name}`);
        if (r.code !== 0) {
          assert.doesNotMatch(r.stderr, /\n\s+at /, `${via} ${name}: a clear error, not a stack trace`);
          results.push(`${name}: rejected (${r.stderr.trim().split('\n')[0]})`);
        } else {
          // Accepted: whatever it holds stays inside the container. busybox's binary is bound in to poke at it.
          // busybox picks its applet from argv[0]: bind it in as /busybox.
          const poke = s.run(
            ['run', '--rm', '-v', '/bin/busybox:/busybox:ro', '--entrypoint', '/busybox', tag, 'sh', '-c',
              '/busybox cat /esc/sentinel /hl /blk /mem 2>/dev/null | /busybox head -c 16; for f in /esc/sentinel /hl /hl2 /hl3 /a/esc/sentinel /l1/sentinel /pl/sentinel /tmp/berth*/outside/sentinel; do /busybox sh -c "echo pwned > $f" 2>/dev/null; done; true'],
            { timeout: 60_000 },
          );
          assert.equal(poke.code, 0, `${via} ${name}: the accepted image must run: ${poke.stderr}`);
          assertOutsideUntouched(`${via} ${name} (container poked)`);
          results.push(`${name}: contained (run exit ${poke.code})`);
          s.ok(['rmi', tag]);
        }
        assertStoreClean(`${via} ${name}`);
      }
      console.log(`hostile ${via}:\n  ${results.join('\n  ')}`);
    });
  }

  test('fuzz: berth load of mutated archives never escapes, hangs or corrupts the store', async () => {
    const { Engine } = await import('../../src/engine/engine.js');
    const { loadImages } = await import('../../src/engine/archive.js');
    const { isBerthError } = await import('../../src/errors.js');
    const layer = craftTar([
      { name: 'dir/', type: '5' },
      { name: 'dir/file', body: 'hello\n'.repeat(50) },
      { name: 'link', type: '2', linkname: 'dir/file' },
      { name: 'hard', type: '1', linkname: 'dir/file' },
      { name: 'dir/.wh.gone', body: '' },
    ]);
    const base = dockerArchive(layer, 'fuzzbase:1');
    const engine = new Engine({ root: s.root, runroot: s.runroot });
    const outcome = { runs: 0, loaded: 0, berthErrors: 0, otherErrors: 0, otherKinds: new Set<string>() };
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.record({ at: fc.nat({ max: base.length - 1 }), byte: fc.integer({ min: 0, max: 255 }) }), { minLength: 1, maxLength: 12 }),
          fc.option(fc.nat({ max: base.length }), { nil: undefined }),
          fc.boolean(),
          async (flips, cut, inner) => {
            outcome.runs++;
            // inner: mutate the layer and re-wrap it (digests then match, so the tar reader and the
            // applier see the damage); otherwise mutate the whole archive.
            const target = inner ? layer : base;
            const buf = Buffer.from(target);
            for (const f of flips) buf[f.at % buf.length] = f.byte;
            const cutBuf = cut === undefined ? buf : buf.subarray(0, cut % (buf.length + 1));
            const input = inner ? dockerArchive(cutBuf, `fuzz${outcome.runs}:1`) : cutBuf;
            let timer: NodeJS.Timeout | undefined;
            const timeout = new Promise<never>((_, rej) => {
              timer = setTimeout(() => rej(new Error('load did not finish within 20 s (hang)')), 20_000);
            });
            try {
              await Promise.race([loadImages(engine, Readable.from([input])), timeout]);
              outcome.loaded++;
            } catch (e) {
              if ((e as Error).message.startsWith('load did not finish')) throw e;
              if (isBerthError(e)) outcome.berthErrors++;
              else {
                outcome.otherErrors++;
                outcome.otherKinds.add(`${(e as Error).name}: ${(e as Error).message.slice(0, 80)}`);
              }
            } finally {
              clearTimeout(timer);
            }
            assert.equal(fs.readFileSync(sentinel, 'utf8'), 'untouched\n');
          },
        ),
        { numRuns: Number(process.env.BERTH_FUZZ_RUNS ?? 300), seed: 20261127, interruptAfterTimeLimit: 120_000 },
      );
    } finally {
      engine.close();
      console.log(`fuzz load: ${JSON.stringify({ ...outcome, otherKinds: [...outcome.otherKinds] })}`);
    }
    assertOutsideUntouched('after fuzzing');
    assertStoreClean('after fuzzing');
    assert.equal(integrity(s), 'ok');
    // Every failure is classified (a BerthError with a code), never a raw exception.
    assert.deepEqual([...outcome.otherKinds], [], 'unclassified errors from load');
  });

  test('runtime defaults seen from inside a container', () => {
    const sh = (script: string) => s.run(['run', '--rm', 'busybox', 'sh', '-c', script]);
    const status = s.ok(['run', '--rm', 'busybox', 'cat', '/proc/self/status']);
    assert.match(status, /^CapEff:\s+00000000a80425fb$/m);
    assert.match(status, /^CapPrm:\s+00000000a80425fb$/m);
    assert.match(status, /^Seccomp:\s+2$/m);
    assert.match(status, /^NoNewPrivs:\s+0$/m);
    // Masked paths read as empty.
    assert.equal(s.ok(['run', '--rm', 'busybox', 'sh', '-c', 'cat /proc/timer_list /proc/keys 2>/dev/null | wc -c']).trim(), '0');
    assert.equal(s.ok(['run', '--rm', 'busybox', 'sh', '-c', 'ls -A /sys/firmware 2>/dev/null | wc -l']).trim(), '0');
    // /proc/sys is read-only.
    const ro = sh('echo berth > /proc/sys/kernel/domainname');
    assert.notEqual(ro.code, 0);
    assert.match(ro.stderr, /Read-only file system/);
    // /dev holds only the defaults, no host disks.
    const dev = new Set(s.ok(['run', '--rm', 'busybox', 'ls', '-A', '/dev']).trim().split(/\s+/));
    const allowed = new Set(['console', 'core', 'fd', 'full', 'mqueue', 'null', 'ptmx', 'pts', 'random', 'shm', 'stderr', 'stdin', 'stdout', 'tty', 'urandom', 'zero']);
    assert.deepEqual([...dev].filter((d) => !allowed.has(d)), [], 'unexpected device nodes');
    // A block device made inside cannot be read (device cgroup).
    const blk = sh('mknod /tmp/blk b 7 0 && head -c 1 /tmp/blk >/dev/null');
    assert.notEqual(blk.code, 0);
    const mem = sh('mknod /tmp/mem c 1 1 && head -c 1 /tmp/mem >/dev/null');
    assert.notEqual(mem.code, 0);
    // Cannot mount.
    const mnt = sh('mkdir -p /m && mount -t tmpfs none /m');
    assert.notEqual(mnt.code, 0);
    // Cannot see host processes: pid 1 is the container's own command, and only a few pids exist.
    const procs = s.ok(['run', '--rm', 'busybox', 'sh', '-c', 'cat /proc/1/cmdline | tr "\\0" " "; echo; ls /proc | grep -cE "^[0-9]+$"']).trim().split('\n');
    assert.match(procs[0] as string, /^sh -c /);
    assert.ok(Number(procs[1]) < 10, `the container sees ${procs[1]} processes`);
    assert.equal(sh(`test -e /proc/${process.pid}/cmdline && grep -q node /proc/${process.pid}/cmdline`).code, 1);
  });
});
