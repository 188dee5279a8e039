// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the strings are Dockerfile text, not templates
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isBerthError } from '../../errors.js';
import { type ExpandOptions, compileGlob, expandWord, processWord, splitRawWords, splitWords } from './expand.js';

const ENV = { PWD: '/home', EMPTY: '', A: 'xyz', B: 'xyzy', S: '1 2', P: 'foo/bar/boo', U: 'héllo' };

describe('expandWord', () => {
  // [input, expected] — expected `Error: <substring>` means it must fail with that message.
  const table: [string, string][] = [
    ['hello', 'hello'],
    ["he'll'o", 'hello'],
    ["he'llo", "Error: matching single-quote"],
    ["he\\'llo", "he'llo"],
    ["he\\\\'llo", 'Error: matching single-quote'],
    ['abc\\\\def', 'abc\\def'],
    ['abc\\def', 'abcdef'],
    ['"abc\\\\def"', 'abc\\def'],
    ['"abc\\def"', 'abc\\def'],
    ["'abc\\\\def'", 'abc\\\\def'],
    ['"hel\'lo"', "hel'lo"],
    ['"hel\\"lo"', 'hel"lo'],
    ["'hel\\'", 'hel\\'],
    ['"unterminated', 'Error: matching double-quote'],
    ['trailing\\', 'trailing'],
    ['$PWD', '/home'],
    ['\\$PWD', '$PWD'],
    ['"\\$PWD"', '$PWD'],
    ["'$PWD'", '$PWD'],
    ['"$PWD"', '/home'],
    ['${PWD}', '/home'],
    ['${PWD}x', '/homex'],
    ['$PWDx', ''],
    ['${PWD:-xyz}', '/home'],
    ['${NOPE:-xyz}', 'xyz'],
    ['${NOPE:-"x y"}', 'x y'],
    ['${NOPE:-${PWD}}', '/home'],
    ['${EMPTY:-def}', 'def'],
    ['${EMPTY-def}', ''],
    ['${NOPE-def}', 'def'],
    ['${PWD:+alt}', 'alt'],
    ['${EMPTY:+alt}', ''],
    ['${EMPTY+alt}', 'alt'],
    ['${NOPE+alt}', ''],
    ['${NOPE:?}', 'Error: NOPE: is not allowed to be unset'],
    ['${EMPTY:?}', 'Error: EMPTY: is not allowed to be empty'],
    ['${EMPTY:?custom msg}', 'Error: EMPTY: custom msg'],
    ['${EMPTY?}', ''],
    ['${NOPE?must be set}', 'Error: NOPE: must be set'],
    ['${PWD:?}', '/home'],
    ['$', '$'],
    ['a$', 'a$'],
    ['$.', '$.'],
    ['$1', ''],
    ['$12x', 'x'],
    ['${}', 'Error: bad substitution'],
    ['${:}', 'Error: bad substitution'],
    ['${{A}', 'Error: bad substitution'],
    ['${A', "Error: missing '}'"],
    ['${A:-b', "Error: missing '}'"],
    ['${A:=b}', 'Error: unsupported modifier (:=)'],
    ['${A:#b}', 'Error: unsupported modifier (:#)'],
    ['${A^}', 'Error: unsupported modifier (^)'],
    ['${A#x}', 'yz'],
    ['${A#*}', 'xyz'],
    ['${A##*}', ''],
    ['${A#?}', 'yz'],
    ['${A#q}', 'xyz'],
    ['${A%z}', 'xy'],
    ['${B%y*}', 'xyz'],
    ['${B%%y*}', 'x'],
    ['${P#*/}', 'bar/boo'],
    ['${P##*/}', 'boo'],
    ['${P%/*}', 'foo/bar'],
    ['${P%%/*}', 'foo'],
    ['${A#[wx]}', 'yz'],
    ['${A#[!x]}', 'xyz'],
    ['${A#\\*}', 'xyz'],
    ['${U#h?}', 'llo'],
    ['${P/o/0}', 'f0o/bar/boo'],
    ['${P//o/0}', 'f00/bar/b00'],
    ['${P//[fb]/_}', '_oo/_ar/_oo'],
    ['${P/*\\//}', 'boo'],
    ['${P/nomatch/x}', 'foo/bar/boo'],
    ['${P/o', "Error: missing '/'"],
    ['${P/o/0', "Error: missing '}'"],
    ['${NOPE/a/b}', ''],
    ['${A:-x}${B}', 'xyzxyzy'],
  ];
  for (const [input, want] of table) {
    it(`${input} -> ${want}`, () => {
      if (want.startsWith('Error: ')) {
        assert.throws(
          () => expandWord(input, ENV),
          (e: unknown) => isBerthError(e, 'invalid_argument') && e.message.includes(want.slice(7)),
        );
      } else {
        assert.equal(expandWord(input, ENV), want);
      }
    });
  }

  it('uses the backtick escape when told', () => {
    const bt: ExpandOptions = { escape: '`' };
    assert.equal(expandWord('c:\\path\\$PWD', ENV, bt), 'c:\\path\\/home');
    assert.equal(expandWord('a`$PWD', ENV, bt), 'a$PWD');
    assert.equal(expandWord('"a`"b"', ENV, bt), 'a"b');
  });

  it('keeps quotes with rawQuotes (heredoc bodies)', () => {
    assert.equal(expandWord(`say "$PWD" 'and $PWD'`, ENV, { rawQuotes: true }), `say "/home" 'and /home'`.replace("'and /home'", "'and $PWD'"));
  });

  it('leaves unset references as written with skipUnset', () => {
    assert.equal(expandWord('$NOPE ${NOPE} ${NOPE:-d} ${NOPE/a/b} $PWD', ENV, { skipUnset: true }), '$NOPE ${NOPE} ${NOPE:-d} ${NOPE/a/b} /home');
  });

  it('accepts a Map', () => {
    assert.equal(expandWord('$X', new Map([['X', 'map']])), 'map');
  });
});

describe('splitWords', () => {
  const table: [string, string[]][] = [
    ['a b  c', ['a', 'b', 'c']],
    ['a "b c"', ['a', 'b c']],
    ["a 'b c'", ['a', 'b c']],
    ['a\\ b', ['a b']],
    ['$S', ['1', '2']],
    ['"$S"', ['1 2']],
    ['x$S', ['x1', '2']],
    ['a""b', ['ab']],
    ['""', []],
    ["'' x", ['x']],
    ['  lead trail  ', ['lead', 'trail']],
  ];
  for (const [input, want] of table) {
    it(`${input} -> ${JSON.stringify(want)}`, () => assert.deepEqual(splitWords(input, ENV), want));
  }
});

describe('processWord', () => {
  it('reports the variables a word used, set and unset, in order', () => {
    const r = processWord('$PWD ${NOPE:-$A} "$EMPTY" ${A}', ENV);
    assert.deepEqual(r.referenced, ['PWD', 'A', 'EMPTY']);
    assert.deepEqual(r.unset, ['NOPE']);
  });
  it('names the word in errors', () => {
    assert.throws(() => processWord('x${A', ENV), { message: `failed to process "x\${A": syntax error: missing '}'` });
  });
});

describe('splitRawWords', () => {
  it('keeps quotes and escapes, splits on unquoted spaces', () => {
    assert.deepEqual(splitRawWords('a="x y" b=\'c d\' e=f\\ g  h'), ['a="x y"', "b='c d'", 'e=f\\ g', 'h']);
    assert.deepEqual(splitRawWords('   '), []);
    assert.deepEqual(splitRawWords('a=b\\'), ['a=b']);
    assert.deepEqual(splitRawWords('a="b \\" c"'), ['a="b \\" c"']);
    assert.deepEqual(splitRawWords('a=`"b c`" d', '`'), ['a=`"b', 'c`"', 'd']);
  });
});

describe('compileGlob', () => {
  const m = (p: string, s: string) => {
    const chars = Array.from(s);
    return compileGlob(p)(chars, 0, chars.length);
  };
  it('matches shell patterns', () => {
    assert.ok(m('*', ''));
    assert.ok(m('a*c', 'abbbc'));
    assert.ok(!m('a*c', 'abbb'));
    assert.ok(m('a?c', 'abc'));
    assert.ok(m('[a-c]x', 'bx'));
    assert.ok(!m('[!a-c]x', 'bx'));
    assert.ok(m('[]]', ']'));
    assert.ok(m('\\*', '*'));
    assert.ok(!m('\\*', 'a'));
    assert.ok(m('[', '['));
  });
  it('is fast on hostile patterns', () => {
    const s = 'a'.repeat(2000);
    const t = Date.now();
    assert.ok(!m('*a*a*a*a*a*a*a*b', s));
    assert.ok(Date.now() - t < 1000);
  });
});

describe('expansion properties', () => {
  it('terminates on random words and fails only with BerthError', () => {
    const alphabet = fc.constantFrom('$', '{', '}', ':', '-', '+', '?', '#', '%', '/', '"', "'", '\\', '`', 'a', 'A', '1', ' ', '*', '[', ']', '!', 'é');
    fc.assert(
      fc.property(fc.array(alphabet, { maxLength: 40 }).map((a) => a.join('')), fc.boolean(), fc.boolean(), (w, bt, skip) => {
        try {
          const r = processWord(w, { a: 'aa', A: 'x y' }, { escape: bt ? '`' : '\\', skipUnset: skip });
          assert.equal(typeof r.value, 'string');
        } catch (e) {
          assert.ok(isBerthError(e, 'invalid_argument'), String(e));
        }
      }),
      { numRuns: 3000 },
    );
  });
  it('expands plain words without specials to themselves', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[a-zA-Z0-9_./-]*$/), (w) => expandWord(w, ENV) === w),
    );
  });
});
