/**
 * Shell-word processing for Dockerfile instructions, with the semantics of BuildKit's shell lexer
 * (frontend/dockerfile/shell): `$v`, `${v}`, `${v:-x}`, `${v-x}`, `${v:+x}`, `${v+x}`, `${v:?msg}`,
 * `${v?msg}`, `${v#p}`, `${v##p}`, `${v%p}`, `${v%%p}`, `${v/p/r}`, `${v//p/r}`, single and double
 * quotes, and escapes with the Dockerfile's escape character.
 *
 * Pure string work: no I/O. Every loop consumes at least one character, so processing always terminates.
 */
import { BerthError } from '../../errors.js';

/** The escape character of a Dockerfile (`# escape=` directive). */
export type EscapeChar = '\\' | '`';

/** Variables visible to an expansion. A Map or a plain record; names are case-sensitive. */
export type EnvSource = ReadonlyMap<string, string> | Readonly<Record<string, string>>;

export interface ExpandOptions {
  /** Escape character; default `\`. */
  escape?: EscapeChar;
  /** Keep quote characters in the result while still expanding inside double quotes (heredoc bodies). */
  rawQuotes?: boolean;
  /** Leave references to unset variables as written (`$x`, `${x:-y}`) instead of expanding to ''. */
  skipUnset?: boolean;
}

/** Everything one pass over a word produced. */
export interface ExpandResult {
  /** The word with quotes removed and variables expanded (spaces kept). */
  value: string;
  /** The word split as a shell would: unquoted whitespace (also inside expansions) separates words. */
  words: string[];
  /** Variables the word referenced that were set, in first-use order (the build cache keys on these). */
  referenced: string[];
  /** Variables the word referenced that were not set, in first-use order. */
  unset: string[];
}

const EOF = '';

function lookup(env: EnvSource, name: string): string | undefined {
  if (env instanceof Map) return env.get(name);
  const rec = env as Readonly<Record<string, string>>;
  return Object.hasOwn(rec, name) ? rec[name] : undefined;
}

/** Accumulates words the way BuildKit's wordsStruct does: spaces split only when they are "unquoted". */
class Words {
  words: string[] = [];
  word = '';
  inWord = false;
  addChar(ch: string): void {
    if (isSpace(ch)) {
      if (this.inWord && this.word.length > 0) {
        this.words.push(this.word);
        this.word = '';
        this.inWord = false;
      }
    } else {
      this.addRawChar(ch);
    }
  }
  addRawChar(ch: string): void {
    this.word += ch;
    this.inWord = true;
  }
  addString(s: string): void {
    for (const ch of s) this.addChar(ch);
  }
  addRawString(s: string): void {
    this.word += s;
    this.inWord = true;
  }
  finish(): string[] {
    if (this.word.length > 0) {
      this.words.push(this.word);
      this.word = '';
      this.inWord = false;
    }
    return this.words;
  }
}

const isSpace = (ch: string): boolean => /^\s$/u.test(ch);
const isDigit = (ch: string): boolean => ch >= '0' && ch <= '9';
const isNameChar = (ch: string): boolean => /^[\p{L}\p{Nd}_]$/u.test(ch);
const SPECIAL_PARAMS = new Set(['@', '*', '#', '?', '-', '$', '!', '0']);

class SyntaxError_ extends Error {}

class Lexer {
  private readonly chars: string[];
  private pos = 0;
  readonly referenced = new Set<string>();
  readonly unset = new Set<string>();
  constructor(
    text: string,
    private readonly env: EnvSource,
    private readonly escapeChar: string,
    private readonly rawQuotes: boolean,
    private readonly skipUnset: boolean,
  ) {
    this.chars = Array.from(text);
  }

  private peek(): string {
    return this.pos < this.chars.length ? this.chars[this.pos] : EOF;
  }
  private next(): string {
    return this.pos < this.chars.length ? this.chars[this.pos++] : EOF;
  }

  private getEnv(name: string): string | undefined {
    const v = lookup(this.env, name);
    if (v === undefined) this.unset.add(name);
    else this.referenced.add(name);
    return v;
  }

  /** Processes until `stop` (consumed) or the end; `stop` of EOF means "the whole input". */
  processStopOn(stop: string, rawEscapes: boolean): { value: string; words: string[] } {
    let result = '';
    const words = new Words();
    while (this.peek() !== EOF) {
      const ch = this.peek();
      if (stop !== EOF && ch === stop) {
        this.next();
        return { value: result, words: words.finish() };
      }
      if (ch === "'" || ch === '"' || ch === '$') {
        const tmp = ch === "'" ? this.singleQuote() : ch === '"' ? this.doubleQuote() : this.dollar();
        result += tmp;
        if (ch === '$') words.addString(tmp);
        else words.addRawString(tmp);
        continue;
      }
      let c = this.next();
      if (c === this.escapeChar) {
        if (rawEscapes) {
          words.addRawChar(c);
          result += c;
        }
        // The escape character escapes the next one; at the very end it is dropped.
        c = this.next();
        if (c === EOF) break;
        words.addRawChar(c);
      } else {
        words.addChar(c);
      }
      result += c;
    }
    if (stop !== EOF) throw new SyntaxError_(`unexpected end of statement while looking for matching ${stop}`);
    return { value: result, words: words.finish() };
  }

  private singleQuote(): string {
    // Everything up to the next ' is literal; a ' cannot be escaped inside.
    let result = '';
    const open = this.next();
    if (this.rawQuotes) result += open;
    for (;;) {
      const c = this.next();
      if (c === EOF) throw new SyntaxError_('unexpected end of statement while looking for matching single-quote');
      if (c === "'") {
        if (this.rawQuotes) result += c;
        return result;
      }
      result += c;
    }
  }

  private doubleQuote(): string {
    // Literal except $ and the escape char, which escapes only " $ and itself (as sh does for \).
    let result = '';
    const open = this.next();
    if (this.rawQuotes) result += open;
    for (;;) {
      const p = this.peek();
      if (p === EOF) throw new SyntaxError_('unexpected end of statement while looking for matching double-quote');
      if (p === '"') {
        const c = this.next();
        if (this.rawQuotes) result += c;
        return result;
      }
      if (p === '$') {
        result += this.dollar();
        continue;
      }
      let c = this.next();
      if (c === this.escapeChar) {
        const n = this.peek();
        if (n === EOF) continue;
        if (n === '"' || n === '$' || n === this.escapeChar) c = this.next();
      }
      result += c;
    }
  }

  private name(): string {
    let name = '';
    while (this.peek() !== EOF) {
      const ch = this.peek();
      if (name.length === 0 && isDigit(ch)) {
        while (isDigit(this.peek())) name += this.next();
        return name;
      }
      if (name.length === 0 && SPECIAL_PARAMS.has(ch)) return this.next();
      if (!isNameChar(ch)) break;
      name += this.next();
    }
    return name;
  }

  private dollar(): string {
    this.next(); // $
    if (this.peek() !== '{') {
      const name = this.name();
      if (name === '') return '$';
      const v = this.getEnv(name);
      if (v === undefined && this.skipUnset) return `$${name}`;
      return v ?? '';
    }
    this.next(); // {
    const first = this.peek();
    if (first === EOF) throw new SyntaxError_("syntax error: missing '}'");
    if (first === '{' || first === '}' || first === ':') throw new SyntaxError_('syntax error: bad substitution');
    const name = this.name();
    let ch = this.next();
    let mod = ch;
    let nullIsUnset = false;
    switch (ch) {
      case '}': {
        const v = this.getEnv(name);
        if (v === undefined && this.skipUnset) return `\${${name}}`;
        return v ?? '';
      }
      case '/':
        return this.substitute(name);
      case ':':
        nullIsUnset = true;
        ch = this.next();
        mod += ch;
        if (!['+', '-', '?'].includes(ch)) throw new SyntaxError_(`unsupported modifier (${mod}) in substitution`);
        break;
      case '+':
      case '-':
      case '?':
      case '#':
      case '%':
        break;
      default:
        if (ch === EOF) throw new SyntaxError_("syntax error: missing '}'");
        throw new SyntaxError_(`unsupported modifier (${mod}) in substitution`);
    }
    const rawEscapes = ch === '#' || ch === '%';
    let word: string;
    try {
      word = this.processStopOn('}', rawEscapes).value;
    } catch (e) {
      if (this.peek() === EOF) throw new SyntaxError_("syntax error: missing '}'");
      throw e;
    }
    const value = this.getEnv(name);
    if (value === undefined && this.skipUnset) return `\${${name}${mod}${word}}`;
    const empty = value === undefined || (nullIsUnset && value === '');
    switch (ch) {
      case '-':
        return empty ? word : (value as string);
      case '+':
        return empty ? '' : word;
      case '?':
        if (value === undefined) throw new SyntaxError_(`${name}: ${word || 'is not allowed to be unset'}`);
        if (nullIsUnset && value === '') throw new SyntaxError_(`${name}: ${word || 'is not allowed to be empty'}`);
        return value;
      default: {
        // # and % (## and %% are greedy): trim the shortest/longest matching prefix/suffix.
        let pattern = word;
        let greedy = false;
        if (pattern.startsWith(ch)) {
          greedy = true;
          pattern = pattern.slice(1);
        }
        return ch === '#' ? trimPrefix(pattern, value ?? '', greedy) : trimSuffix(pattern, value ?? '', greedy);
      }
    }
  }

  private substitute(name: string): string {
    const all = this.peek() === '/';
    if (all) this.next();
    let pattern: string;
    let replacement: string;
    try {
      pattern = this.processStopOn('/', true).value;
    } catch (e) {
      if (this.peek() === EOF) throw new SyntaxError_(`syntax error: missing '/' in \${}`);
      throw e;
    }
    try {
      replacement = this.processStopOn('}', false).value;
    } catch (e) {
      if (this.peek() === EOF) throw new SyntaxError_("syntax error: missing '}'");
      throw e;
    }
    const value = this.getEnv(name);
    if (value === undefined && this.skipUnset) return `\${${name}/${all ? '/' : ''}${pattern}/${replacement}}`;
    return replacePattern(value ?? '', compileGlob(pattern, this.escapeChar), replacement, all);
  }
}

// ---- shell glob patterns (for # % / modifiers) ----

type GlobToken = { kind: 'star' } | { kind: 'one' } | { kind: 'lit'; ch: string } | { kind: 'class'; test: (c: string) => boolean };

/** A compiled shell pattern: matches a whole array of code points. */
export type Glob = (chars: readonly string[], from: number, to: number) => boolean;

/**
 * Compiles a shell glob (`*`, `?`, `[...]` with `!`/`^` negation and ranges, escape char for literals)
 * into a matcher that runs in O(n*m) time (no backtracking regular expression).
 */
export function compileGlob(pattern: string, escapeChar: string = '\\'): Glob {
  const p = Array.from(pattern);
  const tokens: GlobToken[] = [];
  for (let i = 0; i < p.length; i++) {
    const c = p[i];
    if (c === '*') {
      if (tokens.at(-1)?.kind !== 'star') tokens.push({ kind: 'star' });
    } else if (c === '?') tokens.push({ kind: 'one' });
    else if (c === escapeChar && i + 1 < p.length) tokens.push({ kind: 'lit', ch: p[++i] });
    else if (c === '[') {
      const cls = parseClass(p, i + 1, escapeChar);
      if (cls) {
        tokens.push({ kind: 'class', test: cls.test });
        i = cls.end;
      } else tokens.push({ kind: 'lit', ch: c });
    } else tokens.push({ kind: 'lit', ch: c });
  }
  const single = (t: GlobToken, ch: string): boolean =>
    t.kind === 'one' || (t.kind === 'lit' && t.ch === ch) || (t.kind === 'class' && t.test(ch));
  return (s, from, to) => {
    // Classic wildcard matching with one backtrack point per star: linear in practice, O(n*m) worst case.
    let si = from;
    let ti = 0;
    let starT = -1;
    let starS = 0;
    while (si < to) {
      const t = tokens[ti];
      if (t && t.kind !== 'star' && single(t, s[si])) {
        si++;
        ti++;
      } else if (t && t.kind === 'star') {
        starT = ti++;
        starS = si;
      } else if (starT >= 0) {
        ti = starT + 1;
        si = ++starS;
      } else return false;
    }
    while (tokens[ti]?.kind === 'star') ti++;
    return ti === tokens.length;
  };
}

function parseClass(p: string[], start: number, escapeChar: string): { test: (c: string) => boolean; end: number } | undefined {
  let i = start;
  let negate = false;
  if (p[i] === '!' || p[i] === '^') {
    negate = true;
    i++;
  }
  const ranges: [string, string][] = [];
  let first = true;
  while (i < p.length) {
    let c = p[i];
    if (c === ']' && !first) {
      return { test: (ch) => ranges.some(([lo, hi]) => ch >= lo && ch <= hi) !== negate, end: i };
    }
    first = false;
    if (c === escapeChar && i + 1 < p.length) c = p[++i];
    if (p[i + 1] === '-' && i + 2 < p.length && p[i + 2] !== ']') {
      let hi = p[i + 2];
      i += 2;
      if (hi === escapeChar && i + 1 < p.length) hi = p[++i];
      ranges.push([c, hi]);
    } else ranges.push([c, c]);
    i++;
  }
  return undefined;
}

function trimPrefix(pattern: string, value: string, greedy: boolean): string {
  const glob = compileGlob(pattern);
  const s = Array.from(value);
  for (let k = 0; k <= s.length; k++) {
    const i = greedy ? s.length - k : k;
    if (glob(s, 0, i)) return s.slice(i).join('');
  }
  return value;
}

function trimSuffix(pattern: string, value: string, greedy: boolean): string {
  const glob = compileGlob(pattern);
  const s = Array.from(value);
  for (let k = 0; k <= s.length; k++) {
    const i = greedy ? k : s.length - k;
    if (glob(s, i, s.length)) return s.slice(0, i).join('');
  }
  return value;
}

/** Replaces the first (or every) leftmost-longest match of `glob` in `value`. */
function replacePattern(value: string, glob: Glob, replacement: string, all: boolean): string {
  const s = Array.from(value);
  let out = '';
  let i = 0;
  while (i <= s.length) {
    let end = -1;
    for (let j = s.length; j >= i; j--) {
      if (glob(s, i, j)) {
        end = j;
        break;
      }
    }
    if (end < 0) {
      if (i < s.length) out += s[i];
      i++;
      continue;
    }
    out += replacement;
    if (end === i) {
      // An empty match: keep the character and move on, as Go's ReplaceAllString does.
      if (i < s.length) out += s[i];
      i++;
    } else i = end;
    if (!all) return out + s.slice(i).join('');
  }
  return out;
}

/**
 * Processes one word: removes quotes, applies escapes, expands variables. Fails with `invalid_argument`
 * (BuildKit's wording, e.g. `failed to process "${a": syntax error: missing '}'`) on bad syntax or on
 * `${v:?msg}` with v unset or empty.
 */
export function processWord(word: string, env: EnvSource, opts: ExpandOptions = {}): ExpandResult {
  const lexer = new Lexer(word, env, opts.escape ?? '\\', opts.rawQuotes ?? false, opts.skipUnset ?? false);
  try {
    const { value, words } = lexer.processStopOn(EOF, false);
    return { value, words, referenced: [...lexer.referenced], unset: [...lexer.unset] };
  } catch (e) {
    if (e instanceof SyntaxError_) {
      throw new BerthError('invalid_argument', `failed to process ${JSON.stringify(word)}: ${e.message}`);
    }
    throw e;
  }
}

/** `processWord(...).value`: the expanded word as one string (used by ENV values, WORKDIR, COPY paths...). */
export function expandWord(word: string, env: EnvSource, opts: ExpandOptions = {}): string {
  return processWord(word, env, opts).value;
}

/** `processWord(...).words`: the expanded text split into words as a shell would (FROM, EXPOSE...). */
export function splitWords(text: string, env: EnvSource, opts: ExpandOptions = {}): string[] {
  return processWord(text, env, opts).words;
}

/**
 * Splits text on unquoted whitespace WITHOUT removing quotes or expanding (BuildKit's parser-level
 * `parseWords`): `a="x y" b=c` -> [`a="x y"`, `b=c`]. Used for `key=value` lists (ENV, LABEL, ARG) whose
 * values are then processed one by one. An unterminated quote runs to the end of the text; an escape
 * character at the very end is dropped.
 */
export function splitRawWords(text: string, escapeChar: EscapeChar = '\\'): string[] {
  const words: string[] = [];
  let word = '';
  let quote = '';
  let blank = true;
  const chars = Array.from(text);
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i];
    if (blank) {
      if (isSpace(ch)) continue;
      blank = false;
    }
    if (isSpace(ch) && quote === '') {
      words.push(word);
      word = '';
      blank = true;
      continue;
    }
    if (quote === '' && (ch === '"' || ch === "'")) quote = ch;
    else if (ch === quote) quote = '';
    if (ch === escapeChar && quote !== "'") {
      // An escape at the very end is dropped; otherwise it and the next character are kept as they are.
      if (i + 1 < chars.length) word += ch + chars[++i];
      continue;
    }
    word += ch;
  }
  if (!blank) words.push(word);
  return words;
}
