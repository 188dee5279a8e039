import assert from 'node:assert/strict';
import { test } from 'node:test';
import { berthWins, formatRatio, formatValue, median, ratio, summarize } from './stats.js';

test('median of odd and even counts, unsorted input left untouched', () => {
  const xs = [5, 1, 3];
  assert.equal(median(xs), 3);
  assert.deepEqual(xs, [5, 1, 3]);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.equal(median([7]), 7);
});

test('summarize gives n, median, min, max, mean', () => {
  assert.deepEqual(summarize([10, 30, 20, 40]), { n: 4, median: 25, min: 10, max: 40, mean: 25 });
});

test('no samples or a non-finite sample is an error, not a number', () => {
  assert.throws(() => median([]), RangeError);
  assert.throws(() => summarize([1, Number.NaN]), RangeError);
  assert.throws(() => summarize([Number.POSITIVE_INFINITY]), RangeError);
});

test('ratio is berth over peer and undefined without a peer value', () => {
  assert.equal(ratio(50, 200), 0.25);
  assert.equal(ratio(1, 0), undefined);
  assert.equal(ratio(Number.NaN, 3), undefined);
});

test('who wins depends on the direction of the metric', () => {
  assert.equal(berthWins(100, 200, 'lower'), true);
  assert.equal(berthWins(100, 200, 'higher'), false);
  assert.equal(berthWins(300, 200, 'higher'), true);
  assert.equal(berthWins(200, 200, 'lower'), true);
});

test('formatting of ratios and values', () => {
  assert.equal(formatRatio(0.4234), '0.42x');
  assert.equal(formatRatio(1), '1.0x');
  assert.equal(formatRatio(12.6), '13x');
  assert.equal(formatRatio(undefined), '-');
  assert.equal(formatValue(233.4), '233');
  assert.equal(formatValue(12.64), '12.6');
  assert.equal(formatValue(2.046), '2.05');
  assert.equal(formatValue(0.0123), '0.012');
});
