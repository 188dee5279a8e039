import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isBerthError } from '../errors.js';
import { filterBool, matchLabels, parseFilters, parseLabelFilter, validateFilters } from './filters.js';

const invalid = (msg: string) => (e: unknown) => isBerthError(e, 'invalid_argument') && e.message === msg;

describe('parseFilters', () => {
  it('groups values by lower-cased, trimmed key without duplicates', () => {
    const f = parseFilters(['label=a=b', ' Label = c ', 'label=a=b', 'dangling=true', '', 'reference=busy*']);
    assert.deepEqual([...f], [
      ['label', ['a=b', 'c']],
      ['dangling', ['true']],
      ['reference', ['busy*']],
    ]);
  });
  it('keeps empty values and splits at the first =', () => {
    assert.deepEqual(parseFilters(['label=']).get('label'), ['']);
    assert.deepEqual(parseFilters(['label=a=b=c']).get('label'), ['a=b=c']);
  });
  it('refuses a flag without = with docker wording', () => {
    assert.throws(() => parseFilters(['dangling']), invalid('bad format of filter (expected name=value)'));
  });
  it('validates keys against the allowed list', () => {
    assert.throws(() => parseFilters(['foo=1'], ['label']), invalid("invalid filter 'foo'"));
    assert.throws(() => validateFilters(new Map([['bar', ['x']]]), []), invalid("invalid filter 'bar'"));
    assert.equal(parseFilters(['LABEL=x'], ['label']).get('label')?.[0], 'x');
  });
});

describe('labels', () => {
  it('parses k and k=v', () => {
    assert.deepEqual(parseLabelFilter('k'), { key: 'k' });
    assert.deepEqual(parseLabelFilter('k=v=w'), { key: 'k', value: 'v=w' });
    assert.deepEqual(parseLabelFilter('k='), { key: 'k', value: '' });
  });
  it('matches like MatchKVList: all filters, key presence or exact value', () => {
    const labels = { a: '1', b: '', 'com.x': 'y' };
    assert.ok(matchLabels(undefined, labels));
    assert.ok(matchLabels([], {}));
    assert.ok(matchLabels(['a'], labels));
    assert.ok(matchLabels(['a=1', 'b='], labels));
    assert.ok(matchLabels(['com.x=y', 'b'], labels));
    assert.ok(!matchLabels(['a=2'], labels));
    assert.ok(!matchLabels(['a', 'c'], labels));
    assert.ok(!matchLabels(['a'], {}));
    assert.ok(!matchLabels(['toString'], labels));
  });
});

describe('filterBool', () => {
  it('reads true/false/1/0 and refuses anything else', () => {
    assert.equal(filterBool(parseFilters(['dangling=TRUE']), 'dangling'), true);
    assert.equal(filterBool(parseFilters(['dangling=0']), 'dangling'), false);
    assert.equal(filterBool(parseFilters([]), 'dangling'), undefined);
    assert.throws(() => filterBool(parseFilters(['dangling=yes']), 'dangling'), invalid("invalid filter 'dangling=yes'"));
    assert.throws(() => filterBool(parseFilters(['dangling=true', 'dangling=false']), 'dangling'), invalid("invalid filter 'dangling=true,false'"));
  });
});
