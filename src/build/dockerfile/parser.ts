/**
 * Dockerfile parser: text in, an AST of instruction nodes with line ranges out. No I/O, no variable
 * expansion (see instructions.ts). Follows BuildKit's parser (frontend/dockerfile/parser): parser
 * directives only at the very top, comments and empty lines allowed inside continuations, flags before
 * arguments, JSON ("exec") form that silently falls back to shell form when the text is not valid JSON,
 * and heredocs for RUN, COPY and ADD.
 */
import { BerthError } from '../../errors.js';
import { type EscapeChar, processWord, splitRawWords } from './expand.js';

/** A parser directive from the top of the file (`# syntax=...`, `# escape=...`, `# check=...`). */
export interface Directive {
  /** Lower-cased name. */
  name: 'syntax' | 'escape' | 'check';
  value: string;
  line: number;
}

/** A builder flag as written: `--from=build` is {name:'from', value:'build'}; `--link` has no value. */
export interface Flag {
  name: string;
  value?: string;
}

/** One heredoc of an instruction. `content` is raw: leading tabs are NOT yet stripped when `chomp`. */
export interface Heredoc {
  /** The delimiter word with quotes removed (`EOF` for `<<"EOF"`). */
  name: string;
  /** Every line up to the delimiter, each ending with "\n". */
  content: string;
  /** False when any part of the delimiter was quoted: the body is then taken literally. */
  expand: boolean;
  /** `<<-`: leading tabs are to be stripped from each body line (and allowed before the delimiter). */
  chomp: boolean;
}

export interface InstructionNode {
  /** Upper-cased instruction keyword. */
  keyword: string;
  flags: Flag[];
  /** The raw text after the flags (shell form), or the parsed list when `json`. */
  args: string | string[];
  /** True when args were a valid JSON array of strings (exec form). */
  json: boolean;
  heredocs: Heredoc[];
  /** 1-based first and last line, heredoc bodies included. */
  startLine: number;
  endLine: number;
  /** The logical line (continuations joined), without heredoc bodies. */
  original: string;
  /** For ONBUILD: the trigger instruction, parsed and validated. */
  trigger?: InstructionNode;
}

/** A non-fatal finding while parsing, in the shape of `lintDockerfile` results. */
export interface ParseWarning {
  line: number;
  rule: string;
  message: string;
}

export interface DockerfileAST {
  directives: Directive[];
  escape: EscapeChar;
  instructions: InstructionNode[];
  warnings: ParseWarning[];
}

export interface ParseOptions {
  /** Name used in error messages; default `Dockerfile`. */
  filename?: string;
}

/** Every instruction keyword the parser accepts. */
export const INSTRUCTIONS = [
  'ADD', 'ARG', 'CMD', 'COPY', 'ENTRYPOINT', 'ENV', 'EXPOSE', 'FROM', 'HEALTHCHECK', 'LABEL',
  'MAINTAINER', 'ONBUILD', 'RUN', 'SHELL', 'STOPSIGNAL', 'USER', 'VOLUME', 'WORKDIR',
] as const;
const INSTRUCTION_SET = new Set<string>(INSTRUCTIONS);
/** Instructions whose arguments may be a JSON array, and whether invalid JSON is still a word list. */
const MAYBE_JSON = new Set(['RUN', 'CMD', 'ENTRYPOINT', 'SHELL']);
const MAYBE_JSON_LIST = new Set(['ADD', 'COPY', 'VOLUME']);
const HEREDOC_INSTRUCTIONS = new Set(['ADD', 'COPY', 'RUN']);

const DIRECTIVE_RE = /^#[ \t]*([a-zA-Z][a-zA-Z0-9]*)[ \t]*=[ \t]*(.+?)[ \t]*$/;
const HEREDOC_RE = /^(\d*)<<(-?)([^<]*)$/;

/** A parse failure at a line: `invalid_argument` with message `Dockerfile:<line>: <what>`. */
export function parseErrorAt(filename: string, line: number, message: string): BerthError {
  return new BerthError('invalid_argument', `${filename}:${line}: ${message}`);
}

/**
 * Parses Dockerfile text. Guarantees: never does I/O, always terminates, and throws only BerthError
 * with code `invalid_argument` whose message starts with `Dockerfile:<line>:`: unknown instruction (with a
 * suggestion), bad or repeated parser directive, unterminated heredoc, JSON array with non-strings,
 * bad heredoc delimiter, bad ONBUILD trigger.
 */
export function parseDockerfile(text: string, opts: ParseOptions = {}): DockerfileAST {
  const filename = opts.filename ?? 'Dockerfile';
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  const directives: Directive[] = [];
  const warnings: ParseWarning[] = [];
  const instructions: InstructionNode[] = [];
  let escapeChar: EscapeChar = '\\';
  let directivesDone = false;
  const fail = (line: number, msg: string) => parseErrorAt(filename, line, msg);

  const parseDirective = (raw: string, lineNo: number): void => {
    const m = DIRECTIVE_RE.exec(raw);
    if (!m) {
      directivesDone = true;
      return;
    }
    const name = m[1].toLowerCase();
    if (name !== 'syntax' && name !== 'escape' && name !== 'check') {
      // Unknown directives are comments, and end the directive section (as BuildKit).
      directivesDone = true;
      return;
    }
    if (directives.some((d) => d.name === name)) throw fail(lineNo, `only one ${name} parser directive can be used`);
    const value = m[2];
    if (name === 'escape') {
      if (value !== '\\' && value !== '`') throw fail(lineNo, `invalid escape token '${value}' does not match \` or \\`);
      escapeChar = value;
    }
    directives.push({ name, value, line: lineNo });
  };

  let i = 0;
  while (i < lines.length) {
    const raw = lines[i];
    const lineNo = ++i;
    if (!directivesDone) parseDirective(raw, lineNo);
    if (isComment(raw)) continue;
    const first = trimContinuation(raw.replace(/^\s+/, ''), escapeChar);
    if (first.end && first.line.trim() === '') continue;
    let line = first.line;
    let end = first.end;
    while (!end && i < lines.length) {
      const next = lines[i];
      const nextNo = ++i;
      if (isComment(next)) continue;
      if (next.trim() === '') {
        warnings.push({ line: nextNo, rule: 'NoEmptyContinuation', message: 'Empty continuation line' });
        continue;
      }
      const c = trimContinuation(next, escapeChar);
      line += c.line;
      end = c.end;
    }
    const node = parseLine(line, lineNo, i, fail);
    if (HEREDOC_INSTRUCTIONS.has(node.keyword) && !node.json) {
      for (const doc of heredocsFromLine(line, lineNo, fail)) {
        let terminated = false;
        let content = '';
        while (i < lines.length) {
          const body = lines[i++];
          const candidate = doc.chomp ? body.replace(/^\t+/, '') : body;
          if (candidate === doc.name) {
            terminated = true;
            break;
          }
          content += `${body}\n`;
        }
        if (!terminated) throw fail(lineNo, `unterminated heredoc ${doc.name} (expected a line "${doc.name}")`);
        node.heredocs.push({ ...doc, content });
      }
      node.endLine = i;
    }
    instructions.push(node);
  }
  return { directives, escape: escapeChar, instructions, warnings };
}

function isComment(raw: string): boolean {
  return /^\s*#/.test(raw);
}

function trimContinuation(line: string, escapeChar: EscapeChar): { line: string; end: boolean } {
  const re = escapeChar === '\\' ? /\\[ \t]*$/ : /`[ \t]*$/;
  const m = re.exec(line);
  return m ? { line: line.slice(0, m.index), end: false } : { line, end: true };
}

/** Builds a node from one logical line (also used for ONBUILD triggers). */
function parseLine(
  line: string,
  startLine: number,
  endLine: number,
  fail: (line: number, msg: string) => BerthError,
): InstructionNode {
  const trimmed = line.trim();
  const m = /^(\S+)(?:\s+([\s\S]*))?$/.exec(trimmed);
  const word = m?.[1] ?? '';
  const rest = m?.[2] ?? '';
  const keyword = word.toUpperCase();
  if (!INSTRUCTION_SET.has(keyword)) {
    const s = suggestInstruction(word);
    throw fail(startLine, `unknown instruction: ${word}${s ? ` (did you mean ${s}?)` : ''}`);
  }
  const { args: argText, flags: rawFlags } = extractBuilderFlags(rest);
  const flags: Flag[] = rawFlags.map((f) => {
    if (!f.startsWith('--')) throw fail(startLine, `arg should start with -- : ${f}`);
    const eq = f.indexOf('=');
    return eq < 0 ? { name: f.slice(2) } : { name: f.slice(2, eq), value: f.slice(eq + 1) };
  });
  const text = argText.trim();
  const node: InstructionNode = {
    keyword,
    flags,
    args: text,
    json: false,
    heredocs: [],
    startLine,
    endLine,
    original: trimmed,
  };
  if (MAYBE_JSON.has(keyword) || MAYBE_JSON_LIST.has(keyword)) {
    const json = parseJSONArray(text);
    if (json === 'not-strings') {
      throw fail(startLine, 'when using JSON array syntax, arrays must be comprised of strings only');
    }
    if (json) {
      node.args = json;
      node.json = true;
    }
  }
  if (keyword === 'ONBUILD') {
    if (text === '') throw fail(startLine, 'ONBUILD requires at least one argument');
    const trigger = parseLine(text, startLine, endLine, fail);
    if (trigger.keyword === 'ONBUILD') throw fail(startLine, "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
    if (trigger.keyword === 'FROM' || trigger.keyword === 'MAINTAINER') {
      throw fail(startLine, `${trigger.keyword} isn't allowed as an ONBUILD trigger`);
    }
    node.trigger = trigger;
  }
  return node;
}

/**
 * BuildKit's `parseJSON`: a JSON array of strings, undefined when the text is not a JSON array
 * (the caller falls back to shell form), 'not-strings' when it is an array with other values.
 */
export function parseJSONArray(text: string): string[] | undefined | 'not-strings' {
  if (!text.startsWith('[')) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!Array.isArray(v)) return undefined;
  if (!v.every((x) => typeof x === 'string')) return 'not-strings';
  return v as string[];
}

/**
 * Splits leading `--flag[=value]` words off an instruction's text, as BuildKit's extractBuilderFlags:
 * quotes group and are removed, `\` escapes the next character, a bare `--` ends the flags.
 */
export function extractBuilderFlags(line: string): { flags: string[]; args: string } {
  const flags: string[] = [];
  let phase: 'spaces' | 'word' | 'quote' = 'spaces';
  let word = '';
  let quote = '';
  let blankOK = false;
  const isSp = (c: string) => /\s/.test(c);
  for (let pos = 0; pos <= line.length; pos++) {
    const end = pos === line.length;
    let ch = end ? '' : line[pos];
    if (phase === 'spaces') {
      if (end) break;
      if (isSp(ch)) continue;
      if (ch !== '-' || line[pos + 1] !== '-') return { flags, args: line.slice(pos) };
      phase = 'word';
    }
    if (end) {
      if (word !== '--' && (blankOK || word.length > 0)) flags.push(word);
      break;
    }
    if (phase === 'word') {
      if (isSp(ch)) {
        phase = 'spaces';
        if (word === '--') return { flags, args: line.slice(pos) };
        if (blankOK || word.length > 0) flags.push(word);
        word = '';
        blankOK = false;
        continue;
      }
      if (ch === "'" || ch === '"') {
        quote = ch;
        blankOK = true;
        phase = 'quote';
        continue;
      }
      if (ch === '\\') {
        if (pos + 1 === line.length) continue;
        ch = line[++pos];
      }
      word += ch;
      continue;
    }
    // phase === 'quote'
    if (ch === quote) {
      phase = 'word';
      continue;
    }
    if (ch === '\\') {
      if (pos + 1 === line.length) {
        phase = 'word';
        continue;
      }
      ch = line[++pos];
    }
    word += ch;
  }
  return { flags, args: '' };
}

/** Heredoc delimiters named on a line (`<<EOF`, `<<-EOF`, `<<"EOF"`, `3<<EOF`), in order. */
function heredocsFromLine(
  line: string,
  lineNo: number,
  fail: (line: number, msg: string) => BerthError,
): Omit<Heredoc, 'content'>[] {
  const docs: Omit<Heredoc, 'content'>[] = [];
  for (const w of splitRawWords(line, '\\')) {
    const m = HEREDOC_RE.exec(w);
    if (!m || m[3] === '') continue;
    let plain: string[];
    let raw: string[];
    try {
      plain = processWord(m[3], {}, { skipUnset: true }).words;
      raw = processWord(m[3], {}, { skipUnset: true, rawQuotes: true }).words;
    } catch (e) {
      throw fail(lineNo, `invalid heredoc delimiter ${m[3]}: ${(e as Error).message}`);
    }
    if (plain.length !== 1 || raw.length !== 1) continue;
    const quotes = (s: string) => s.split('').filter((c) => c === '"' || c === "'").length;
    docs.push({ name: plain[0], expand: quotes(plain[0]) === quotes(raw[0]), chomp: m[2] === '-' });
  }
  return docs;
}

/** Strips leading tabs from every line of a `<<-` heredoc body. */
export function chompHeredocContent(content: string): string {
  return content.replace(/^\t+/gm, '');
}

function suggestInstruction(word: string): string | undefined {
  const w = word.toUpperCase();
  let best: string | undefined;
  let bestD = Number.POSITIVE_INFINITY;
  for (const k of INSTRUCTIONS) {
    const d = editDistance(w, k);
    if (d < bestD) {
      bestD = d;
      best = k;
    }
  }
  // A suggestion only when the typo is small relative to the word (BuildKit's suggest package is similar).
  return best !== undefined && bestD <= Math.max(1, Math.floor(best.length / 3)) ? best : undefined;
}

/** Optimal string alignment distance: insertions, deletions, substitutions and adjacent swaps. */
function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 3) return Number.POSITIVE_INFINITY;
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}
