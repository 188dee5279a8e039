import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { randomBelow, randomHex, sha256Hex } from './random.js';

describe('util/random', () => {
  test('sha256Hex equals node:crypto for the padding edge cases and arbitrary input', () => {
    for (const len of [0, 1, 54, 55, 56, 57, 63, 64, 65, 119, 120, 128, 1000]) {
      const s = 'a'.repeat(len);
      assert.equal(sha256Hex(s), createHash('sha256').update(s).digest('hex'), `length ${len}`);
    }
    assert.equal(sha256Hex('/tmp/berth-ü'), createHash('sha256').update('/tmp/berth-ü').digest('hex'));
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (b) => sha256Hex(b) === createHash('sha256').update(b).digest('hex')),
      { numRuns: 300 },
    );
  });

  test('randomHex gives fresh lowercase hex of the asked length', () => {
    const a = randomHex(32);
    assert.match(a, /^[0-9a-f]{64}$/);
    assert.notEqual(a, randomHex(32));
  });

  test('randomBelow stays in range and reaches every value', () => {
    const seen = new Set<number>();
    for (let i = 0; i < 2000; i++) {
      const v = randomBelow(7);
      assert.ok(Number.isInteger(v) && v >= 0 && v < 7);
      seen.add(v);
    }
    assert.equal(seen.size, 7);
    assert.throws(() => randomBelow(0), RangeError);
  });
});
