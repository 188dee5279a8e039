import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { LOCK_EX, flock, loadKoffi, spawnDetached, spawnPiped, waitChild, x32AbiAvailable } from './libc.js';

describe('x32AbiAvailable', () => {
  it('agrees with the kernel configuration when the kernel publishes it', (t) => {
    let config: string;
    try {
      config = gunzipSync(fs.readFileSync('/proc/config.gz')).toString('utf8');
    } catch {
      t.skip('no /proc/config.gz');
      return;
    }
    const built = process.arch === 'x64' && /^CONFIG_X86_X32_ABI=y$/m.test(config);
    // Built in but switched off at boot (syscall.x32=n) also answers ENOSYS.
    const off = /\bsyscall\.x32=(n|N|0)\b/.test(fs.readFileSync('/proc/cmdline', 'utf8'));
    assert.equal(x32AbiAvailable(), built && !off);
  });
  it('is stable across calls', () => {
    assert.equal(x32AbiAvailable(), x32AbiAvailable());
  });
});

describe('loadKoffi', () => {
  it('loads the native addon directly on glibc Linux and calls into libc', () => {
    const koffi = loadKoffi();
    const getpid = koffi.load('libc.so.6').func('int getpid()');
    assert.equal(getpid(), process.pid);
    assert.equal(typeof koffi.errno(), 'number');
    if (process.platform === 'linux' && process.arch === 'x64') {
      // The direct addon has no JavaScript wrapper: koffi's index.cjs adds deprecated helpers such as resolve().
      assert.equal('resolve' in koffi, false, 'expected the addon itself, not koffi\'s JavaScript loader');
    }
  });
});

describe('process spawning without node:child_process', () => {
  it('spawnPiped: the child writes to its pipes, stdin is /dev/null, and waitChild reaps it with its status', async () => {
    const child = spawnPiped('sh', ['sh', '-c', 'read x || echo "no input" >&3; echo out >&3; echo err >&2; exit 3'], [`PATH=${process.env.PATH}`], { pipes: [2, 3] });
    const read = (fd: number) => {
      const chunks: Buffer[] = [];
      const buf = Buffer.alloc(256);
      for (let n = fs.readSync(fd, buf); n > 0; n = fs.readSync(fd, buf)) chunks.push(Buffer.from(buf.subarray(0, n)));
      fs.closeSync(fd);
      return Buffer.concat(chunks).toString();
    };
    assert.equal(read(child.pipes.get(3) as number), 'no input\nout\n');
    assert.equal(read(child.pipes.get(2) as number), 'err\n');
    const status = waitChild(child.pid);
    assert.equal(((status ?? 0) >> 8) & 0xff, 3, 'exit status 3');
  });

  it('spawnPiped: a missing program is ENOENT, and nothing is left open', () => {
    const before = fs.readdirSync('/proc/self/fd').length;
    assert.throws(() => spawnPiped('berth-no-such-program', ['x'], ['PATH=/usr/bin:/bin'], { pipes: [2, 3] }), /ENOENT/);
    assert.equal(fs.readdirSync('/proc/self/fd').length, before);
  });

  it('spawnDetached: returns at once; the background command holds the passed lock until it is done', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-spawn-'));
    const lock = path.join(dir, 'lock');
    const done = path.join(dir, 'done');
    const fd = fs.openSync(lock, 'w');
    flock(fd, LOCK_EX, lock);
    spawnDetached(['sh', '-c', `sleep 1; echo ok > ${done}`], { passFd: fd });
    fs.closeSync(fd); // the child's copy keeps the lock
    assert.equal(fs.existsSync(done), false, 'spawnDetached did not wait for the command');
    const again = fs.openSync(lock, 'r');
    flock(again, LOCK_EX, lock); // blocks until the background command exits
    assert.equal(fs.readFileSync(done, 'utf8'), 'ok\n');
    fs.closeSync(again);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
