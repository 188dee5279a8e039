import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isBerthError } from '../errors.js';
import { cleanPath, compileGlob, createMatcher, parseDockerignore } from './dockerignore.js';

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

/**
 * The pattern-to-RegExp translation Berth used before compileGlob (patternmatcher's, run by a
 * backtracking engine): the oracle compileGlob must agree with on inputs small enough for it.
 */
function oracle(pattern: string): RegExp {
  const special = new Set(['.', '+', '(', ')', '|', '{', '}', '$', '^', '*', '?', '[', ']', '\\', '/']);
  const lit = (ch: string): string => (special.has(ch) ? `\\${ch}` : ch);
  const c = Array.from(pattern);
  let re = '^';
  for (let i = 0; i < c.length; i++) {
    const ch = c[i] as string;
    if (ch === '*') {
      if (c[i + 1] === '*') {
        i++;
        if (c[i + 1] === '/') i++;
        re += i + 1 >= c.length ? '.*' : '(?:.*/)?';
      } else re += '[^/]*';
    } else if (ch === '?') re += '[^/]';
    else if (ch === '\\') re += i + 1 < c.length ? lit(c[++i] as string) : '\\\\';
    else if (ch === '[') {
      let cls = '[';
      let j = i + 1;
      if (c[j] === '^') {
        cls += '^';
        j++;
      }
      for (let first = true; j < c.length && !(c[j] === ']' && !first); j++, first = false) {
        if (c[j] === '\\' && j + 1 < c.length) {
          j++;
          cls += c[j] === '-' ? '\\-' : lit(c[j] as string);
        } else if (c[j] === '-') cls += '-';
        else cls += lit(c[j] as string);
      }
      re += `${cls}]`;
      i = j;
    } else re += lit(ch);
  }
  return new RegExp(`${re}$`, 'su');
}

describe('structure-aware properties', () => {
  // Patterns built from the glob grammar (every piece valid), paths from a small alphabet, so that
  // matches and near-misses are frequent.
  const piece = fc.constantFrom('a', 'b', '.', '*', '?', '[ab]', '[^a]', '[a-c]', '\\*', '\\[', '**', '/', 'é', '-');
  const patternArb = fc.array(piece, { minLength: 1, maxLength: 8 }).map((a) => a.join(''));
  const segment = fc.constantFrom('a', 'b', 'ab', 'ba', '.a', '*', '[', 'é', 'aaa', 'c-d');
  const pathArb = fc.array(segment, { minLength: 1, maxLength: 5 }).map((a) => a.join('/'));

  it('compileGlob agrees with the regular-expression translation (patternmatcher semantics)', () => {
    fc.assert(
      fc.property(patternArb, pathArb, (pat, p) => {
        assert.equal(compileGlob(pat)(p), oracle(pat).test(p), `${pat} vs ${p}`);
      }),
      { numRuns: 5000 },
    );
  });

  it('hostile patterns match in linear time (no backtracking blow-up)', () => {
    // Before compileGlob, *a*a*a*a*a*a*a*b against 60 "a"s took 37 s and **/ seven times 6.6 s.
    const hostile = fc.tuple(fc.constantFrom('*a', '**/', '**', '*', 'a*', '?*'), fc.integer({ min: 4, max: 12 }), fc.constantFrom('b', 'x/y', '[^a]'));
    fc.assert(
      fc.property(hostile, fc.constantFrom('a', 'a/', 'aa/a'), fc.integer({ min: 20, max: 80 }), ([unit, times, tail], fill, len) => {
        const m = createMatcher(parseDockerignore(`${unit.repeat(times)}${tail}\n!${unit.repeat(times)}c`));
        const p = fill.repeat(len);
        const t = Date.now();
        m(p, false);
        m.canSkipDir(p);
        // A guard against a hang, not a speed test: the blow-up took seconds to minutes per path.
        assert.ok(Date.now() - t < 2000, `${unit}x${times}${tail} against ${p.length} chars took ${Date.now() - t} ms`);
      }),
      { numRuns: 200 },
    );
  });

  it('canSkipDir: an exception whose class matches `/` keeps the directory walked (fast-check counterexample)', () => {
    const m = matcher('a\n!a[^a][^a]');
    assert.equal(m('a', true), true);
    assert.equal(m('a/[', false), false, 'docker compiles [^a] into a regexp class, which matches /');
    assert.equal(m.canSkipDir('a'), false);
  });

  it('canSkipDir is sound: when it allows skipping an excluded directory, everything inside is excluded', () => {
    const line = fc.tuple(fc.boolean(), patternArb).map(([ex, pat]) => `${ex ? '!' : ''}${pat}`);
    fc.assert(
      fc.property(fc.array(line, { minLength: 1, maxLength: 5 }), pathArb, pathArb, (lines, dir, inside) => {
        let m: ReturnType<typeof matcher>;
        try {
          m = matcher(lines.join('\n'));
        } catch (e) {
          assert.ok(isBerthError(e, 'invalid_argument'), String(e));
          return;
        }
        if (m(dir, true) && m.canSkipDir(dir)) assert.equal(m(`${dir}/${inside}`, false), true, `${JSON.stringify(lines)}: ${dir} skipped but ${dir}/${inside} is included`);
      }),
      { numRuns: 5000 },
    );
  });

  it('arbitrary .dockerignore text only ever fails with invalid_argument', () => {
    const lineArb = fc.oneof(patternArb, fc.string({ maxLength: 12 }), fc.constantFrom('!', '# c', '[', '\\', '[]a]', '/', '!/', '..', '../x'));
    fc.assert(
      fc.property(fc.array(lineArb, { maxLength: 8 }), pathArb, (lines, p) => {
        try {
          const m = matcher(lines.join('\n'));
          assert.equal(typeof m(p, false), 'boolean');
          assert.equal(typeof m.canSkipDir(p), 'boolean');
        } catch (e) {
          assert.ok(isBerthError(e, 'invalid_argument'), String(e));
        }
      }),
      { numRuns: 3000 },
    );
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
