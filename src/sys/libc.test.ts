import assert from 'node:assert/strict';
import fs from 'node:fs';
import { describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { x32AbiAvailable } from './libc.js';

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
