import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isBerthError } from '../errors.js';
import { cleanPath, createMatcher, parseDockerignore } from './dockerignore.js';

const matcher = (text: string) => createMatcher(parseDockerignore(text));

describe('parseDockerignore', () => {
  it('cleans patterns, drops comments, blanks and a leading slash', () => {
    const ps = parseDockerignore('\uFEFF# comment\n\n  /docs/  \n./a/../b\n!  /keep\n #not-a-comment\r\n**/*.log\n');
    assert.deepEqual(
      ps.map((p) => [p.exclusion ? `!${p.pattern}` : p.pattern, p.line]),
      [['docs', 3], ['b', 4], ['!keep', 5], ['#not-a-comment', 6], ['**/*.log', 7]],
    );
  });
  it('rejects a lone ! and malformed patterns, naming the line', () => {
    assert.throws(() => parseDockerignore('a\n!\n'), (e: unknown) => isBerthError(e, 'invalid_argument') && e.message === '.dockerignore:2: illegal exclusion pattern: "!"');
    assert.throws(() => parseDockerignore('[abc'), /\.dockerignore:1: syntax error in pattern/);
    assert.throws(() => parseDockerignore('abc\\'), /syntax error in pattern/);
    assert.throws(() => parseDockerignore('[]a]'), /syntax error in pattern/);
  });
});

describe('createMatcher', () => {
  // [patterns, path, excluded]
  const table: [string, string, boolean][] = [
    ['*', 'foo', true],
    ['*', 'foo/bar', true], // the parent matches
    ['*', '.', false],
    ['*.go', 'a.go', true],
    ['*.go', 'dir/a.go', false],
    ['**/*.go', 'dir/sub/a.go', true],
    ['**/*.go', 'a.go', true],
    ['**', 'anything/at/all', true],
    ['docs', 'docs', true],
    ['docs', 'docs/a/b.md', true],
    ['docs', 'mydocs', false],
    ['/docs', 'docs/x', true],
    ['docs/', 'docs/x', true],
    ['./docs', 'docs', true],
    ['a/../b', 'b/c', true],
    ['docs', '/docs/x', true],
    ['docs', './docs//x', true],
    ['a?c', 'abc', true],
    ['a?c', 'a/c', false],
    ['a*', 'a/b', true], // a* matches the parent `a`
    ['*/b', 'a/b', true],
    ['*/b', 'a/x/b', false],
    ['[a-c].txt', 'b.txt', true],
    ['[a-c].txt', 'd.txt', false],
    ['[^a].txt', 'a.txt', false],
    ['[^a].txt', 'b.txt', true],
    ['\\*.txt', '*.txt', true],
    ['\\*.txt', 'a.txt', false],
    ['a.b', 'axb', false],
    ['a+b(c)', 'a+b(c)', true],
    ['a/**', 'a/b/c', true],
    ['a/**', 'a', false],
    ['a/**/b', 'a/b', true],
    ['a/**/b', 'a/x/y/b', true],
    ['a/**/b', 'a/x/y/b/c', true],
    ['a/**/b', 'a/x/y/c', false],
    ['**/node_modules', 'x/node_modules/y', true],
    ['*.md\n!README.md', 'README.md', false],
    ['*.md\n!README.md', 'CHANGES.md', true],
    ['!README.md\n*.md', 'README.md', true],
    ['docs\n!docs/keep.md', 'docs/keep.md', false],
    ['docs\n!docs/keep.md', 'docs/other.md', true],
    ['docs\n!docs/keep.md', 'docs', true],
    ['docs\n!docs', 'docs/x', false],
    ['**\n!src\n!package.json', 'src/a/b.ts', false],
    ['**\n!src\n!package.json', 'package.json', false],
    ['**\n!src\n!package.json', 'README.md', true],
    ['**\n!src\nsrc/**/*.test.ts', 'src/a/b.test.ts', true],
    ['**\n!src\nsrc/**/*.test.ts', 'src/a/b.ts', false],
    ['dir/*\n!dir/a', 'dir/a/x', false],
    ['dir/*\n!dir/a', 'dir/b/x', true],
    ['é*', 'éa', true],
  ];
  for (const [patterns, path, want] of table) {
    it(`${JSON.stringify(patterns)} ${path} -> ${want}`, () => assert.equal(matcher(patterns)(path, false), want));
  }

  it('tells the walker when an excluded directory can be skipped', () => {
    assert.equal(matcher('node_modules').canSkipDir('node_modules'), true);
    assert.equal(matcher('docs\n!docs/keep.md').canSkipDir('docs'), false);
    assert.equal(matcher('docs\n!other/keep.md').canSkipDir('docs'), true);
    assert.equal(matcher('docs\n!**/keep.md').canSkipDir('docs'), false);
    assert.equal(matcher('docs\n!d*/sub/x').canSkipDir('docs'), false);
    assert.equal(matcher('docs\n!d*/sub/x').canSkipDir('docs/other'), true);
    assert.equal(matcher('docs\n!d*/sub/x').canSkipDir('docs/sub'), false);
    // An exception matching the directory itself does not differ for children.
    assert.equal(matcher('docs\n!docs\ndocs').canSkipDir('docs'), true);
  });

  it('never throws on random paths', () => {
    const m = matcher('**/*.log\n!keep/**\na?b/[x-z]*\n');
    fc.assert(fc.property(fc.string(), (p) => typeof m(p, false) === 'boolean' && typeof m.canSkipDir(p) === 'boolean'));
  });
});

describe('cleanPath', () => {
  const table: [string, string][] = [
    ['', '.'],
    ['a//b', 'a/b'],
    ['a/./b/', 'a/b'],
    ['a/../..', '..'],
    ['/../a', '/a'],
    ['/', '/'],
  ];
  for (const [i, o] of table) it(`${i} -> ${o}`, () => assert.equal(cleanPath(i), o));
});
