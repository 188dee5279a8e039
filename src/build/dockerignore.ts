/**
 * `.dockerignore` with Docker's exact rules (moby/patternmatcher + ignorefile): one pattern per line,
 * `#` comments only at the start of a line, patterns cleaned like Go's filepath.Clean with a leading `/`
 * dropped, `*` and `?` never cross `/`, `**` spans any number of directories, `[...]` classes, `\`
 * escapes, `!` exceptions, the last matching pattern wins, and a pattern matching a parent directory
 * matches everything below it.
 *
 * Pure: no I/O. The context walker asks `matcher(path, isDir)` for every entry and, for an excluded
 * directory, `matcher.canSkipDir(path)` to know whether an exception may re-include something inside.
 */
import { BerthError } from '../errors.js';

export interface IgnorePattern {
  /** The cleaned pattern, without `!`. */
  pattern: string;
  /** `!pattern`: re-includes what earlier patterns excluded. */
  exclusion: boolean;
  /** 1-based line in the .dockerignore (0 when built from a list). */
  line: number;
}

/** True when the path is excluded from the build context. */
export interface IgnoreMatcher {
  (relPath: string, isDir: boolean): boolean;
  /**
   * For a directory the matcher excluded: true when nothing inside can be re-included by an exception,
   * so the walker may skip it entirely. When false the walker must descend (and keep only re-included
   * entries, plus the directories leading to them).
   */
  canSkipDir(relDir: string): boolean;
  readonly patterns: readonly IgnorePattern[];
}

/** Go's path.Clean for slash-separated paths. */
export function cleanPath(p: string): string {
  if (p === '') return '.';
  const rooted = p.startsWith('/');
  const out: string[] = [];
  for (const part of p.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length > 0 && out[out.length - 1] !== '..') out.pop();
      else if (!rooted) out.push('..');
      continue;
    }
    out.push(part);
  }
  const joined = out.join('/');
  if (rooted) return `/${joined}`;
  return joined === '' ? '.' : joined;
}

/**
 * Parses .dockerignore text (ignorefile.ReadAll): strips a BOM, skips lines starting with `#` and blank
 * lines, trims spaces, cleans each pattern and drops a leading `/`. Fails with `invalid_argument` naming
 * the line for `!` alone or a malformed pattern (unterminated `[`, trailing `\`).
 */
export function parseDockerignore(text: string): IgnorePattern[] {
  const out: IgnorePattern[] = [];
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  lines.forEach((raw, i) => {
    if (raw.startsWith('#')) return;
    let p = raw.trim();
    if (p === '') return;
    const exclusion = p.startsWith('!');
    if (exclusion) p = p.slice(1).trim();
    if (p.length > 0) {
      p = cleanPath(p);
      if (p.length > 1 && p.startsWith('/')) p = p.slice(1);
    }
    out.push(checkPattern({ pattern: p, exclusion, line: i + 1 }));
  });
  return out;
}

function checkPattern(p: IgnorePattern): IgnorePattern {
  const where = p.line > 0 ? `.dockerignore:${p.line}: ` : '';
  if (p.exclusion && p.pattern === '') throw new BerthError('invalid_argument', `${where}illegal exclusion pattern: "!"`);
  const err = patternSyntaxError(p.pattern);
  if (err) throw new BerthError('invalid_argument', `${where}syntax error in pattern ${JSON.stringify(p.pattern)}: ${err}`);
  return p;
}

/** filepath.Match's syntax check: classes must close and be non-empty, `\` must escape something. */
function patternSyntaxError(p: string): string | undefined {
  const c = Array.from(p);
  for (let i = 0; i < c.length; i++) {
    if (c[i] === '\\') {
      if (i + 1 >= c.length) return 'trailing backslash';
      i++;
    } else if (c[i] === '[') {
      let j = i + 1;
      if (c[j] === '^') j++;
      let n = 0;
      for (;;) {
        if (j >= c.length) return 'unterminated [';
        if (c[j] === ']' && n > 0) break;
        if (c[j] === ']' || c[j] === '-') return `unexpected ${c[j]} in character class`;
        if (c[j] === '\\') j++;
        if (j >= c.length) return 'unterminated [';
        j++;
        if (c[j] === '-') {
          j++;
          if (c[j] === '\\') j++;
          if (j >= c.length || c[j] === ']') return 'bad range in character class';
          j++;
        }
        n++;
      }
      i = j;
    }
  }
  return undefined;
}

const REGEX_SPECIAL = new Set(['.', '+', '(', ')', '|', '{', '}', '$', '^', '*', '?', '[', ']', '\\', '/']);
const reLit = (ch: string): string => (REGEX_SPECIAL.has(ch) ? `\\${ch}` : ch);

/** One element of a compiled pattern. */
type GlobToken =
  | { t: 'lit'; ch: string }
  /** `?`: one character but `/`. */
  | { t: 'any' }
  | { t: 'class'; re: RegExp }
  /** `*`: any run of characters without `/`. */
  | { t: 'star' }
  /** `**` (and `**` + `/`) not at the end: any number of whole directories, even none (`(?:.*\/)?`). */
  | { t: 'dirs' }
  /** `**` at the end: everything (`.*`). */
  | { t: 'rest' };

/**
 * Compiles a cleaned pattern to a matcher of whole paths, with patternmatcher's meaning (it turns
 * patterns into Go regular expressions, which match in linear time). The match simulates the
 * pattern's automaton over the path's code points: O(path x pattern), whatever the pattern. (A
 * JavaScript RegExp backtracks: `*a*a*a*a*a*a*a*b` against 60 `a`s took 37 s, and a hostile
 * .dockerignore could hang a build.)
 */
export function compileGlob(pattern: string): (path: string) => boolean {
  const c = Array.from(pattern);
  const toks: GlobToken[] = [];
  for (let i = 0; i < c.length; i++) {
    const ch = c[i] as string;
    if (ch === '*') {
      if (c[i + 1] === '*') {
        i++;
        if (c[i + 1] === '/') i++;
        toks.push(i + 1 >= c.length ? { t: 'rest' } : { t: 'dirs' });
      } else toks.push({ t: 'star' });
    } else if (ch === '?') toks.push({ t: 'any' });
    else if (ch === '\\') {
      toks.push({ t: 'lit', ch: i + 1 < c.length ? (c[++i] as string) : '\\' });
    } else if (ch === '[') {
      // Copy the class (validated by patternSyntaxError), escaping what is special in JS classes.
      let cls = '[';
      let j = i + 1;
      if (c[j] === '^') {
        cls += '^';
        j++;
      }
      for (let first = true; j < c.length && !(c[j] === ']' && !first); j++, first = false) {
        if (c[j] === '\\' && j + 1 < c.length) {
          j++;
          cls += c[j] === '-' ? '\\-' : reLit(c[j] as string);
        } else if (c[j] === '-') cls += '-';
        else cls += reLit(c[j] as string);
      }
      toks.push({ t: 'class', re: new RegExp(`^${cls}]$`, 'su') });
      i = j;
    } else toks.push({ t: 'lit', ch });
  }
  const n = toks.length;
  // States: 2k = about to match token k; 2k+1 = inside a `dirs` token k, owing a `/`. 2n = accept.
  const close = (set: Set<number>): Set<number> => {
    const stack = [...set];
    while (stack.length) {
      const st = stack.pop() as number;
      if (st % 2 === 1 || st === 2 * n) continue;
      const tok = toks[st / 2] as GlobToken;
      // star, dirs and rest can all match nothing.
      if ((tok.t === 'star' || tok.t === 'dirs' || tok.t === 'rest') && !set.has(st + 2)) {
        set.add(st + 2);
        stack.push(st + 2);
      }
    }
    return set;
  };
  return (path: string): boolean => {
    let cur = close(new Set([0]));
    for (const ch of path) {
      const next = new Set<number>();
      for (const st of cur) {
        if (st === 2 * n) continue;
        const k = Math.floor(st / 2);
        const tok = toks[k] as GlobToken;
        if (st % 2 === 1 || tok.t === 'dirs') {
          // Inside (?:.*/): any character continues it; a `/` may also end it.
          next.add(2 * k + 1);
          if (ch === '/') next.add(2 * k + 2);
          continue;
        }
        switch (tok.t) {
          case 'lit':
            if (ch === tok.ch) next.add(st + 2);
            break;
          case 'any':
            if (ch !== '/') next.add(st + 2);
            break;
          case 'class':
            if (tok.re.test(ch)) next.add(st + 2);
            break;
          case 'star':
            if (ch !== '/') next.add(st);
            break;
          case 'rest':
            next.add(st);
            break;
        }
      }
      if (next.size === 0) return false;
      cur = close(next);
    }
    return cur.has(2 * n);
  };
}

interface Compiled {
  p: IgnorePattern;
  match: (path: string) => boolean;
  /** Per-component matchers, for canSkipDir; undefined when the component contains `**` (or the pattern a class). */
  parts: (((path: string) => boolean) | undefined)[];
}

/**
 * Builds the matcher for a pattern list (MatchesOrParentMatches semantics). Paths are relative to the
 * context root, slash-separated; they are cleaned first and a leading `/` is ignored. The context root
 * itself (`.`) is never excluded.
 */
export function createMatcher(patterns: readonly IgnorePattern[]): IgnoreMatcher {
  const compiled: Compiled[] = patterns
    .filter((p) => p.pattern !== '')
    .map((p) => checkPattern({ ...p, pattern: cleanPath(p.pattern) }))
    .map((p) => ({
      p,
      match: compileGlob(p.pattern),
      // A character class may match `/` (docker compiles it into a regexp as written), so a pattern
      // with one can span components: per-component reasoning would be unsound, assume the worst.
      parts: p.pattern.includes('[') ? [undefined] : p.pattern.split('/').map((part) => (part.includes('**') ? undefined : compileGlob(part))),
    }));
  const hasExceptions = compiled.some((c) => c.p.exclusion);

  const normalize = (relPath: string): string => {
    let p = cleanPath(relPath);
    while (p.startsWith('/')) p = cleanPath(p.slice(1));
    return p;
  };

  const matches = (relPath: string): boolean => {
    const file = normalize(relPath);
    if (file === '.' || file === '') return false;
    const dirs = file.split('/');
    let matched = false;
    for (const c of compiled) {
      // An exclusion can only flip a match; an inclusion only a non-match.
      if (c.p.exclusion !== matched) continue;
      let m = c.match(file);
      for (let i = 1; !m && i < dirs.length; i++) m = c.match(dirs.slice(0, i).join('/'));
      if (m) matched = !c.p.exclusion;
    }
    return matched;
  };

  const canSkipDir = (relDir: string): boolean => {
    if (!hasExceptions) return true;
    const dirs = normalize(relDir).split('/');
    // Children can end up differently from the directory only through an exception that matches some
    // path strictly deeper than it (patterns matching the directory or a parent apply to children too).
    return !compiled.some((c) => {
      if (!c.p.exclusion) return false;
      for (let k = 0; k < c.parts.length; k++) {
        const part = c.parts[k];
        if (part === undefined) return true;
        if (k >= dirs.length) return true;
        if (!part(dirs[k] as string)) return false;
      }
      return false;
    });
  };

  const fn = ((relPath: string, _isDir: boolean) => matches(relPath)) as IgnoreMatcher;
  Object.defineProperty(fn, 'canSkipDir', { value: canSkipDir });
  Object.defineProperty(fn, 'patterns', { value: compiled.map((c) => c.p) });
  return fn;
}
