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

/** Converts a cleaned pattern to an anchored regular expression the way patternmatcher does. */
function toRegExp(pattern: string): RegExp {
  const c = Array.from(pattern);
  let re = '^';
  for (let i = 0; i < c.length; i++) {
    const ch = c[i];
    if (ch === '*') {
      if (c[i + 1] === '*') {
        i++;
        if (c[i + 1] === '/') i++;
        // `**` at the end matches everything; elsewhere any number of whole directories (even none).
        re += i + 1 >= c.length ? '.*' : '(?:.*/)?';
      } else re += '[^/]*';
    } else if (ch === '?') re += '[^/]';
    else if (ch === '\\') {
      if (i + 1 < c.length) re += reLit(c[++i]);
      else re += '\\\\';
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
          cls += c[j] === '-' ? '\\-' : reLit(c[j]);
        } else if (c[j] === '-') cls += '-';
        else cls += reLit(c[j]);
      }
      re += `${cls}]`;
      i = j;
    } else re += reLit(ch);
  }
  return new RegExp(`${re}$`, 'su');
}

interface Compiled {
  p: IgnorePattern;
  re: RegExp;
  /** Per-component regexes, for canSkipDir; undefined when the component contains `**`. */
  parts: (RegExp | undefined)[];
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
      re: toRegExp(p.pattern),
      parts: p.pattern.split('/').map((part) => (part.includes('**') ? undefined : toRegExp(part))),
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
      let m = c.re.test(file);
      for (let i = 1; !m && i < dirs.length; i++) m = c.re.test(dirs.slice(0, i).join('/'));
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
        if (!part.test(dirs[k])) return false;
      }
      return false;
    });
  };

  const fn = ((relPath: string, _isDir: boolean) => matches(relPath)) as IgnoreMatcher;
  Object.defineProperty(fn, 'canSkipDir', { value: canSkipDir });
  Object.defineProperty(fn, 'patterns', { value: compiled.map((c) => c.p) });
  return fn;
}
