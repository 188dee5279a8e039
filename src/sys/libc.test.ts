import assert from 'node:assert/strict';
import fs from 'node:fs';
import { describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { loadKoffi, x32AbiAvailable } from './libc.js';

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
