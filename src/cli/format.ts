/**
 * docker's `--format`: a Go text/template interpreter (the subset scripts use with docker) plus docker's
 * table/json conventions and its tabwriter layout.
 *
 * Supported template language: text, `{{/* comments *\/}}`, `{{- ` / ` -}}` trimming, `.`, `.A.B`, `$`,
 * `$x.A`, `(pipeline).A`, string/raw-string/number/char/bool/nil literals, pipelines `a | f b`,
 * `$x := p`, `$x = p`, `if`/`else if`/`else`/`end`, `with`/`else with`, `range` over lists, maps (sorted
 * keys) and integers with `$i, $v :=`, `break`, `continue`; Go's builtins `and or not len index slice
 * eq ne lt le gt ge print printf println`; docker's `json split join title lower upper pad truncate`.
 * Object values whose field is a function are called as methods (`{{.Label "k"}}`).
 * Not supported: `define`, `template`, `block`, `call`, `html`, `js`, `urlquery`.
 *
 * Every failure is a BerthError('invalid_argument') worded as Go/docker word it: parse errors as
 * `template parsing error: template: :1: ...`, execution errors as
 * `template: :1:2: executing "" at <.Foo>: can't evaluate field Foo in type ...`.
 */
import { BerthError } from '../errors.js';

// ---------------------------------------------------------------------------------------------------------
// Public API

export interface RenderOptions {
  /**
   * Struct semantics: a missing field is an error, as for docker's typed row contexts. Without it, missing
   * keys print `<no value>` like a Go map (what `docker inspect -f` shows for unknown fields).
   */
  strict?: boolean;
  /** Type name used in strict "can't evaluate field X in type T" messages; default `row`. */
  typeName?: string;
}

/** A parsed template: parse once, execute per row. */
export interface Template {
  /** Renders `data`. Fails with `invalid_argument` on execution errors. */
  execute(data: unknown, opts?: RenderOptions): string;
}

/** Parses Go template text (no docker preprocessing). Fails with `invalid_argument` on syntax errors. */
export function parseTemplate(src: string): Template {
  const tree = new Parser(src).parse();
  return {
    execute: (data, opts = {}) => new Exec(src, data, opts, BUILTINS).run(tree),
  };
}

/** Renders one document, as `docker inspect --format` does (no `\t` escape processing, no newline added). */
export function renderTemplate(format: string, data: unknown, opts?: RenderOptions): string {
  return parseTemplate(format).execute(data, opts);
}

export interface FormatRowsOptions {
  /** The table used for no `--format` and for `--format table`, e.g. "table {{.Repository}}\t{{.Tag}}". */
  defaultTable: string;
  /** Column headers by field, e.g. { ID: 'IMAGE ID' }. Unlisted fields get their name split at case changes and uppercased. */
  headers: Record<string, string>;
  /** `-q`: print `{{.<quietField>}}` per row, unless a custom non-table `--format` was given (docker images' rule). */
  quiet?: boolean;
  /** Field printed by `quiet`; default `ID`. */
  quietField?: string;
  /** Type name for "can't evaluate field" errors, e.g. `*formatter.imageContext`. */
  typeName?: string;
}

/**
 * The text a list command prints, with docker's rules (cli/command/formatter):
 * - no format or `table`: `defaultTable`; `json`: `{{json .}}` per line (keys sorted, `<>&` escaped,
 *   as docker's row contexts marshal);
 * - `table <tpl>`: a header row (the template run on the headers), then one row per item, aligned like
 *   Go's tabwriter.NewWriter(out, 10, 1, 3, ' ', 0); a header is printed even with no rows;
 * - any other template: one line per row, never aligned.
 * Literal `\t` and `\n` in the format become tab and newline, and surrounding spaces are trimmed, before
 * parsing. Rows are treated as structs: a missing field fails with `invalid_argument`.
 * The result ends with a newline unless empty.
 */
export function formatRows(format: string | undefined, rows: Record<string, unknown>[], opts: FormatRowsOptions): string {
  let f = format ?? '';
  const custom = f !== '' && f !== 'table' && !f.startsWith('table');
  if (opts.quiet && !custom) f = `{{.${opts.quietField ?? 'ID'}}}`;
  else if (f === '' || f === 'table') f = opts.defaultTable;
  else if (f.trim() === 'json') f = '{{json .}}';
  const table = f.startsWith('table');
  const body = (table ? f.slice('table'.length) : f).replace(/^ +| +$/g, '').replaceAll('\\t', '\t').replaceAll('\\n', '\n');
  const tree = new Parser(body).parse();
  const ropts: RenderOptions = { strict: true };
  if (opts.typeName !== undefined) ropts.typeName = opts.typeName;
  let out = '';
  for (const row of rows) out += `${new Exec(body, asGoMap(row), ropts, BUILTINS).run(tree)}\n`;
  if (!table) return out;
  const headers: Record<string, string> = {};
  for (const k of Object.keys(rows[0] ?? {})) headers[k] = k.replace(/([a-z0-9])([A-Z])/g, '$1 $2').toUpperCase();
  Object.assign(headers, opts.headers);
  // docker ignores errors while rendering the header; keep what was produced.
  const header = new Exec(body, headers, {}, HEADER_FUNCS).run(tree, true);
  return alignColumns(`${header}\n${out}`);
}

/**
 * Go's text/tabwriter with docker's settings (minwidth 10, tabwidth 1, padding 3, pad ' ', no flags):
 * tab-terminated cells form columns, a column is as wide as its widest cell plus 3 (at least 10), and the
 * last cell of a line is never padded. Widths count code points, as tabwriter counts runes.
 */
export function alignColumns(text: string, minwidth = 10, padding = 3): string {
  const lines = text.split(/\n|\f/).map((l) => l.split(/\t|\v/));
  const width = (s: string) => {
    let n = 0;
    for (const _ of s) n++;
    return n;
  };
  const widths: number[] = [];
  const out: string[] = [];
  const write = (from: number, to: number) => {
    for (let i = from; i < to; i++) {
      const cells = lines[i] as string[];
      let s = '';
      cells.forEach((c, j) => {
        s += c;
        if (j < widths.length) s += ' '.repeat(Math.max(0, (widths[j] as number) - width(c)));
      });
      out.push(s);
    }
  };
  // tabwriter's recursive block formatting: a column block is a run of lines having a cell in that column.
  const format = (line0: number, line1: number): void => {
    const column = widths.length;
    let start = line0;
    for (let th = line0; th < line1; th++) {
      if (column >= (lines[th] as string[]).length - 1) continue;
      write(start, th);
      start = th;
      let w = minwidth;
      for (; th < line1; th++) {
        const cells = lines[th] as string[];
        if (column >= cells.length - 1) break;
        w = Math.max(w, width(cells[column] as string) + padding);
      }
      widths.push(w);
      format(start, th);
      widths.pop();
      start = th;
    }
    write(start, line1);
  };
  format(0, lines.length);
  return out.join('\n');
}

// ---------------------------------------------------------------------------------------------------------
// Values

/** Marks a row as a Go map: `json` sorts its keys and escapes `<>&`, as docker's MarshalJSON of a row does. */
const GO_MAP = Symbol('berth.goMap');

function asGoMap(row: Record<string, unknown>): Record<string, unknown> {
  const copy = { ...row };
  Object.defineProperty(copy, GO_MAP, { value: true, enumerable: false });
  return copy;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Map);
}

function goType(v: unknown): string {
  if (v === undefined || v === null) return 'interface {}';
  if (typeof v === 'string') return 'string';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'float64';
  if (typeof v === 'bigint') return 'int64';
  if (Array.isArray(v)) return '[]interface {}';
  if (typeof v === 'function') return 'func';
  return 'map[string]interface {}';
}

function sortedKeys(v: Record<string, unknown> | Map<unknown, unknown>): string[] {
  const keys = v instanceof Map ? [...v.keys()].map(String) : Object.keys(v);
  return keys.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

function getKey(v: Record<string, unknown> | Map<unknown, unknown>, k: string): unknown {
  return v instanceof Map ? v.get(k) : v[k];
}

function hasKey(v: Record<string, unknown> | Map<unknown, unknown>, k: string): boolean {
  return v instanceof Map ? v.has(k) : Object.hasOwn(v, k);
}

/** Go's template truth: false, 0, nil, no value, and empty strings, lists and maps are false. */
function truth(v: unknown): boolean {
  if (v === undefined || v === null) return false;
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number') return v !== 0;
  if (typeof v === 'bigint') return v !== 0n;
  if (typeof v === 'string' || Array.isArray(v)) return v.length > 0;
  if (v instanceof Map) return v.size > 0;
  if (typeof v === 'object') return Object.keys(v).length > 0;
  return true;
}

/** A float64 as Go's %v prints it: shortest digits, exponent form below 1e-4 or from 1e21 (ints print plainly). */
function goNumber(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (!Number.isFinite(n)) return n > 0 ? '+Inf' : '-Inf';
  if (Number.isInteger(n) && Math.abs(n) < 1e21) return n.toFixed(0);
  const [mant, e] = n.toExponential().split('e') as [string, string];
  const exp = Number(e);
  if (exp < -4 || exp >= 21) return `${mant}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  return String(n);
}

/** fmt's %v. `undefined` is Go's invalid value, printed by templates as `<no value>`. */
function sprintValue(v: unknown, top = true): string {
  if (v === undefined) return top ? '<no value>' : '<nil>';
  if (v === null) return '<nil>';
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return goNumber(v);
  if (typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (typeof v === 'function') return '<func>';
  if (Array.isArray(v)) return `[${v.map((x) => sprintValue(x, false)).join(' ')}]`;
  if (v instanceof Date) return v.toISOString();
  const m = v as Record<string, unknown> | Map<unknown, unknown>;
  return `map[${sortedKeys(m)
    .map((k) => `${k}:${sprintValue(getKey(m, k), false)}`)
    .join(' ')}]`;
}

function goQuote(s: string, escapeHtml: boolean): string {
  let q = JSON.stringify(s).replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
  if (escapeHtml) q = q.replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026');
  return q;
}

/**
 * encoding/json as docker's `json` template function uses it (SetEscapeHTML(false), no indentation).
 * Objects keep insertion order (they stand for Go structs); rows marked as Go maps are sorted and
 * HTML-escaped throughout, as json.Marshal does for them.
 */
function goJson(v: unknown, goMap = false): string {
  if (v === undefined || v === null || typeof v === 'function' || typeof v === 'symbol') return 'null';
  if (typeof v === 'string') return goQuote(v, goMap);
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new TemplateFail(`json: unsupported value: ${goNumber(v)}`);
    return JSON.stringify(v);
  }
  if (typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (Array.isArray(v)) return `[${v.map((x) => goJson(x, goMap)).join(',')}]`;
  if (v instanceof Date) return goQuote(v.toISOString(), goMap);
  const m = v as Record<string, unknown> | Map<unknown, unknown>;
  const sorted = goMap || m instanceof Map || (m as Record<symbol, unknown>)[GO_MAP] === true;
  const html = goMap || (m as Record<symbol, unknown>)[GO_MAP] === true;
  const keys = sorted ? sortedKeys(m) : Object.keys(m);
  const parts: string[] = [];
  for (const k of keys) {
    const x = getKey(m, k);
    if (x === undefined || typeof x === 'function') continue;
    parts.push(`${goQuote(k, html)}:${goJson(x, html)}`);
  }
  return `{${parts.join(',')}}`;
}

// ---------------------------------------------------------------------------------------------------------
// Lexer

type TokKind =
  | 'text'
  | 'ld'
  | 'rd'
  | 'field'
  | 'var'
  | 'ident'
  | 'string'
  | 'number'
  | 'dot'
  | 'pipe'
  | 'lparen'
  | 'rparen'
  | 'comma'
  | 'decl'
  | 'assign'
  | 'eof';

interface Tok {
  k: TokKind;
  v: string;
  pos: number;
  /** Whitespace precedes the token (field chains must be adjacent). */
  sp: boolean;
  /** Decoded value of string/number literals. */
  val?: unknown;
}

const isSpace = (c: string | undefined) => c === ' ' || c === '\t' || c === '\r' || c === '\n';
/** A letter, digit or underscore (Go's identifier characters); ASCII without the Unicode regex, whose first compile costs ~1 ms. */
const isAlnum = (c: string | undefined): boolean => {
  if (c === undefined) return false;
  const x = c.charCodeAt(0);
  if (x < 0x80) return (x >= 0x30 && x <= 0x39) || (x >= 0x41 && x <= 0x5a) || (x >= 0x61 && x <= 0x7a) || x === 0x5f;
  return /^[\p{L}\p{N}_]$/u.test(c);
};

function lineOf(src: string, pos: number): number {
  let n = 1;
  for (let i = 0; i < pos && i < src.length; i++) if (src[i] === '\n') n++;
  return n;
}

function parseError(src: string, pos: number, msg: string): BerthError {
  return new BerthError('invalid_argument', `template parsing error: template: :${lineOf(src, pos)}: ${msg}`, {
    hint: 'see https://docs.docker.com/config/formatting/ for the --format syntax',
  });
}

function lex(src: string): Tok[] {
  const toks: Tok[] = [];
  let i = 0;
  let trimNext = false;
  const n = src.length;
  const single: Record<string, TokKind> = { '|': 'pipe', '(': 'lparen', ')': 'rparen', ',': 'comma', '=': 'assign' };
  const push = (k: TokKind, v: string, pos: number, sp: boolean, val?: unknown) => {
    const t: Tok = { k, v, pos, sp };
    if (val !== undefined) t.val = val;
    toks.push(t);
  };
  while (i < n) {
    const j = src.indexOf('{{', i);
    let text = src.slice(i, j < 0 ? n : j);
    if (trimNext) text = text.replace(/^[ \t\r\n]+/, '');
    trimNext = false;
    if (j < 0) {
      if (text) push('text', text, i, false);
      break;
    }
    const trimLeft = src[j + 2] === '-' && isSpace(src[j + 3]);
    if (trimLeft) text = text.replace(/[ \t\r\n]+$/, '');
    if (text) push('text', text, i, false);
    i = j + 2 + (trimLeft ? 2 : 0);
    // comment: {{/* ... */}}
    let k = i;
    while (trimLeft && isSpace(src[k])) k++;
    if (src.startsWith('/*', k)) {
      const end = src.indexOf('*/', k + 2);
      if (end < 0) throw parseError(src, j, 'unclosed comment');
      i = end + 2;
      if (src.startsWith(' -}}', i)) {
        trimNext = true;
        i += 4;
      } else if (src.startsWith('}}', i)) i += 2;
      else throw parseError(src, j, 'comment ends before closing delimiter');
      continue;
    }
    push('ld', '{{', j, false);
    let parens = 0;
    for (;;) {
      const start = i;
      while (isSpace(src[i])) i++;
      const sp = i > start;
      if (i >= n) throw parseError(src, j, 'unclosed action');
      if (sp && src.startsWith('-}}', i)) {
        push('rd', '}}', i, sp);
        trimNext = true;
        i += 3;
        break;
      }
      if (src.startsWith('}}', i)) {
        if (parens > 0) throw parseError(src, i, 'unclosed left paren');
        push('rd', '}}', i, sp);
        i += 2;
        break;
      }
      const c = src[i] as string;
      const p = i;
      const kind = single[c];
      if (kind) {
        if (c === '(') parens++;
        if (c === ')' && --parens < 0) throw parseError(src, p, 'unexpected right paren');
        push(kind, c, p, sp);
        i++;
      } else if (c === ':' && src[i + 1] === '=') {
        push('decl', ':=', p, sp);
        i += 2;
      } else if (c === '"') {
        let e = i + 1;
        while (e < n && src[e] !== '"') {
          if (src[e] === '\\') e++;
          if (src[e] === '\n') break;
          e++;
        }
        if (e >= n || src[e] !== '"') throw parseError(src, p, 'unterminated quoted string');
        const raw = src.slice(i, e + 1);
        push('string', raw, p, sp, unquote(raw, src, p));
        i = e + 1;
      } else if (c === '`') {
        const e = src.indexOf('`', i + 1);
        if (e < 0) throw parseError(src, p, 'unterminated raw quoted string');
        push('string', src.slice(i, e + 1), p, sp, src.slice(i + 1, e));
        i = e + 1;
      } else if (c === "'") {
        const m = /^'(\\.|[^\\'])'/u.exec(src.slice(i));
        if (!m) throw parseError(src, p, 'unterminated character constant');
        const ch = m[1] as string;
        const s = ch.startsWith('\\') ? (unquote(`"${ch}"`, src, p) as string) : ch;
        push('number', m[0], p, sp, s.codePointAt(0));
        i += m[0].length;
      } else if (c === '$') {
        let e = i + 1;
        while (isAlnum(src[e])) e++;
        push('var', src.slice(i, e), p, sp);
        i = e;
      } else if (c === '.' && !/[0-9]/.test(src[i + 1] ?? '')) {
        let e = i + 1;
        while (isAlnum(src[e])) e++;
        push(e === i + 1 ? 'dot' : 'field', src.slice(i, e), p, sp);
        i = e;
      } else if (/[-+0-9.]/.test(c)) {
        const m = /^[-+]?(?:0[xX][0-9a-fA-F_]+|0[bB][01_]+|0[oO][0-7_]+|(?:[0-9_]+\.?[0-9_]*|\.[0-9_]+)(?:[eE][-+]?[0-9_]+)?)/.exec(src.slice(i));
        const v = m ? Number(m[0].replaceAll('_', '').replace(/^([-+]?)0[oO]/, '$10o')) : Number.NaN;
        if (!m || Number.isNaN(v) || isAlnum(src[i + m[0].length])) throw parseError(src, p, `bad number syntax: "${src.slice(i, i + (m?.[0].length ?? 1))}"`);
        push('number', m[0], p, sp, v);
        i += m[0].length;
      } else if (isAlnum(c)) {
        let e = i;
        while (isAlnum(src[e])) e++;
        push('ident', src.slice(i, e), p, sp);
        i = e;
      } else throw parseError(src, p, `unrecognized character in action: ${JSON.stringify(c)}`);
    }
  }
  toks.push({ k: 'eof', v: '', pos: n, sp: false });
  return toks;
}

/** strconv.Unquote for a double-quoted Go string literal. */
function unquote(raw: string, src: string, pos: number): string {
  const simple: Record<string, string> = { a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '\\': '\\', '"': '"' };
  const digits: Record<string, [number, number]> = { x: [2, 16], u: [4, 16], U: [8, 16] };
  let out = '';
  for (let i = 1; i < raw.length - 1; i++) {
    const c = raw[i] as string;
    if (c !== '\\') {
      out += c;
      continue;
    }
    const e = raw[++i] as string;
    const d = digits[e] ?? (/[0-7]/.test(e) ? ([3, 8] as [number, number]) : undefined);
    if (simple[e] !== undefined) out += simple[e];
    else if (d) {
      const from = /[0-7]/.test(e) ? i : i + 1;
      const text = raw.slice(from, from + d[0]);
      const code = Number.parseInt(text, d[1]);
      if (text.length !== d[0] || !/^[0-9a-fA-F]+$/.test(text) || Number.isNaN(code) || code > 0x10ffff)
        throw parseError(src, pos, `invalid syntax: ${raw}`);
      out += String.fromCodePoint(code);
      i = from + d[0] - 1;
    } else throw parseError(src, pos, `invalid syntax: ${raw}`);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Parser

interface Pipe {
  decl: string[];
  assign: boolean;
  cmds: Cmd[];
  pos: number;
}
interface Cmd {
  args: Arg[];
  pos: number;
  src: string;
}
type Arg =
  | { k: 'field'; names: string[]; pos: number; src: string }
  | { k: 'var'; name: string; names: string[]; pos: number; src: string }
  | { k: 'func'; name: string; pos: number; src: string }
  | { k: 'lit'; value: unknown; pos: number; src: string }
  | { k: 'pipe'; pipe: Pipe; names: string[]; pos: number; src: string };
type TNode =
  | { k: 'text'; text: string }
  | { k: 'action'; pipe: Pipe; pos: number }
  | ControlNode
  | { k: 'break' | 'continue'; pos: number };

interface ControlNode {
  k: 'if' | 'with' | 'range';
  pipe: Pipe;
  list: TNode[];
  else: TNode[] | undefined;
  pos: number;
}

type FuncImpl = (args: unknown[], x: Exec) => unknown;
interface FuncDef {
  min: number;
  max: number;
  fn: FuncImpl;
}

type Term = { t: 'end' } | { t: 'else' } | { t: 'elseChain'; kind: 'if' | 'with' } | { t: 'eof' };

class Parser {
  private toks: Tok[];
  private p = 0;
  private vars: string[] = ['$'];
  private rangeDepth = 0;
  constructor(private readonly src: string) {
    this.toks = lex(src);
  }

  parse(): TNode[] {
    const { nodes, term } = this.list();
    if (term.t === 'end') throw this.err(this.prev().pos, 'unexpected {{end}}');
    if (term.t !== 'eof') throw this.err(this.prev().pos, 'unexpected {{else}}');
    return nodes;
  }

  private peek(o = 0): Tok {
    return this.toks[Math.min(this.p + o, this.toks.length - 1)] as Tok;
  }
  private next(): Tok {
    return this.toks[this.p++] as Tok;
  }
  private prev(): Tok {
    return this.toks[Math.max(0, this.p - 1)] as Tok;
  }
  private err(pos: number, msg: string): BerthError {
    return parseError(this.src, pos, msg);
  }
  private expect(k: TokKind, ctx: string): Tok {
    const t = this.next();
    if (t.k !== k) throw this.err(t.pos, t.k === 'eof' ? 'unexpected EOF' : `unexpected ${this.show(t)} in ${ctx}`);
    return t;
  }
  private show(t: Tok): string {
    return t.k === 'rd' ? '"}}"' : t.k === 'eof' ? 'EOF' : JSON.stringify(t.v);
  }

  private list(): { nodes: TNode[]; term: Term } {
    const nodes: TNode[] = [];
    for (;;) {
      const t = this.next();
      if (t.k === 'eof') return { nodes, term: { t: 'eof' } };
      if (t.k === 'text') {
        nodes.push({ k: 'text', text: t.v });
        continue;
      }
      // t is '{{'
      const kw = this.peek();
      if (kw.k === 'ident') {
        switch (kw.v) {
          case 'end':
            this.p++;
            this.expect('rd', 'end');
            return { nodes, term: { t: 'end' } };
          case 'else': {
            this.p++;
            const n2 = this.peek();
            if (n2.k === 'ident' && (n2.v === 'if' || n2.v === 'with')) {
              this.p++;
              return { nodes, term: { t: 'elseChain', kind: n2.v } };
            }
            this.expect('rd', 'else');
            return { nodes, term: { t: 'else' } };
          }
          case 'if':
          case 'with':
          case 'range':
            this.p++;
            nodes.push(this.control(kw.v, kw.pos));
            continue;
          case 'break':
          case 'continue':
            this.p++;
            if (this.rangeDepth === 0) throw this.err(kw.pos, `{{${kw.v}}} outside {{range}}`);
            this.expect('rd', kw.v);
            nodes.push({ k: kw.v, pos: kw.pos });
            continue;
          case 'define':
          case 'template':
          case 'block':
            throw this.err(kw.pos, `{{${kw.v}}} is not supported`);
          default:
        }
      }
      const pipe = this.pipeline(true, 'command', false);
      nodes.push({ k: 'action', pipe, pos: kw.pos });
    }
  }

  private control(kind: 'if' | 'with' | 'range', pos: number): TNode {
    const mark = this.vars.length;
    const pipe = this.pipeline(true, kind, kind === 'range');
    if (kind === 'range') this.rangeDepth++;
    const body = this.list();
    if (kind === 'range') this.rangeDepth--;
    let elseList: TNode[] | undefined;
    if (body.term.t === 'eof') throw this.err(this.src.length, 'unexpected EOF');
    if (body.term.t === 'else') {
      const e = this.list();
      if (e.term.t !== 'end') throw this.err(this.prev().pos, e.term.t === 'eof' ? 'unexpected EOF' : 'expected end; found {{else}}');
      elseList = e.nodes;
    } else if (body.term.t === 'elseChain') {
      if (body.term.kind !== kind) throw this.err(this.prev().pos, `unexpected {{else ${body.term.kind}}} in ${kind}`);
      elseList = [this.control(kind, this.prev().pos)];
    }
    this.vars.length = mark;
    return { k: kind, pipe, list: body.nodes, else: elseList, pos };
  }

  /** A pipeline up to `}}` (or `)` when nested). */
  private pipeline(top: boolean, ctx: string, twoVars: boolean): Pipe {
    const pos = this.peek().pos;
    const decl: string[] = [];
    let assign = false;
    // Declarations: $x := / $x = / $i, $v :=
    if (this.peek().k === 'var') {
      const look = this.peek(1);
      if (look.k === 'decl' || look.k === 'assign' || (look.k === 'comma' && twoVars)) {
        const v1 = this.next().v;
        decl.push(v1);
        if (this.peek().k === 'comma') {
          this.p++;
          const v2 = this.expect('var', 'range');
          decl.push(v2.v);
        }
        const op = this.next();
        if (op.k !== 'decl' && op.k !== 'assign') throw this.err(op.pos, `unexpected ${this.show(op)} in ${ctx}`);
        assign = op.k === 'assign';
        if (assign && decl.length > 1 && ctx !== 'range') throw this.err(op.pos, 'too many declarations');
        if (assign) for (const d of decl) this.checkVar(d, op.pos);
      }
    }
    const cmds: Cmd[] = [];
    for (;;) {
      cmds.push(this.command(ctx));
      const t = this.next();
      if (t.k === 'pipe') continue;
      if ((top && t.k === 'rd') || (!top && t.k === 'rparen')) break;
      throw this.err(t.pos, `unexpected ${this.show(t)} in ${ctx}`);
    }
    if (!assign) this.vars.push(...decl);
    for (const c of cmds.slice(1)) {
      const a = c.args[0] as Arg;
      if (a.k === 'lit' || (a.k === 'field' && a.names.length === 0))
        throw this.err(a.pos, `non executable command in pipeline stage ${cmds.indexOf(c) + 1}`);
    }
    return { decl, assign, cmds, pos };
  }

  private checkVar(name: string, pos: number): void {
    if (!this.vars.includes(name)) throw this.err(pos, `undefined variable "${name}"`);
  }

  private command(ctx: string): Cmd {
    const start = this.peek();
    const args: Arg[] = [];
    for (;;) {
      const t = this.peek();
      if (t.k === 'rd' || t.k === 'pipe' || t.k === 'rparen' || t.k === 'eof') break;
      if (args.length > 0 && !t.sp && t.k !== 'lparen') throw this.err(t.pos, `missing space? unexpected ${this.show(t)} in operand`);
      args.push(this.operand(ctx));
    }
    if (args.length === 0) throw this.err(start.pos, start.k === 'eof' ? 'unexpected EOF' : `missing value for ${ctx}`);
    const end = this.peek().pos;
    return { args, pos: start.pos, src: this.src.slice(start.pos, end).trimEnd() };
  }

  private operand(ctx: string): Arg {
    const t = this.next();
    let a: Arg;
    switch (t.k) {
      case 'field':
        a = { k: 'field', names: [t.v.slice(1)], pos: t.pos, src: t.v };
        break;
      case 'dot':
        a = { k: 'field', names: [], pos: t.pos, src: '.' };
        break;
      case 'var':
        this.checkVar(t.v, t.pos);
        a = { k: 'var', name: t.v, names: [], pos: t.pos, src: t.v };
        break;
      case 'string':
      case 'number':
        a = { k: 'lit', value: t.val, pos: t.pos, src: t.v };
        break;
      case 'lparen': {
        const pipe = this.pipeline(false, 'parenthesized pipeline', false);
        a = { k: 'pipe', pipe, names: [], pos: t.pos, src: this.src.slice(t.pos, this.prev().pos + 1) };
        break;
      }
      case 'ident':
        if (t.v === 'true' || t.v === 'false') a = { k: 'lit', value: t.v === 'true', pos: t.pos, src: t.v };
        else if (t.v === 'nil') a = { k: 'lit', value: null, pos: t.pos, src: t.v };
        else if (BUILTINS[t.v]) a = { k: 'func', name: t.v, pos: t.pos, src: t.v };
        else throw this.err(t.pos, `function "${t.v}" not defined`);
        break;
      default:
        throw this.err(t.pos, t.k === 'eof' ? 'unexpected EOF' : `unexpected ${this.show(t)} in ${ctx}`);
    }
    // Field chains: `.A.B`, `$x.A`, `(p).A` are adjacent field tokens.
    while (this.peek().k === 'field' && !this.peek().sp) {
      const f = this.next();
      if (a.k === 'lit' || a.k === 'func') throw this.err(f.pos, `unexpected ${this.show(f)} in operand`);
      a.names.push(f.v.slice(1));
      a.src += f.v;
    }
    return a;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Execution

/** An execution failure before it gets its Go-style location prefix. */
class TemplateFail extends Error {}
class BreakSignal {}
class ContinueSignal {}

class Exec {
  private out: string[] = [];
  private vars: { name: string; value: unknown }[];
  private at: { pos: number; src: string } = { pos: 0, src: '' };
  constructor(
    private readonly src: string,
    data: unknown,
    private readonly opts: RenderOptions,
    readonly funcs: Record<string, FuncDef>,
  ) {
    this.vars = [{ name: '$', value: data }];
  }

  /** Runs the tree; with `partial`, an execution error ends the output instead of failing (docker headers). */
  run(tree: TNode[], partial = false): string {
    try {
      this.walk(this.vars[0]?.value, tree);
    } catch (e) {
      if (partial) return this.out.join('');
      if (e instanceof TemplateFail) {
        const { pos, src } = this.at;
        const before = this.src.slice(0, pos);
        const col = pos - before.lastIndexOf('\n') - 1;
        throw new BerthError('invalid_argument', `template: :${lineOf(this.src, pos)}:${col}: executing "" at <${src}>: ${e.message}`, {
          cause: e,
        });
      }
      throw e;
    }
    return this.out.join('');
  }

  private walk(dot: unknown, nodes: TNode[]): void {
    for (const n of nodes) {
      switch (n.k) {
        case 'text':
          this.out.push(n.text);
          break;
        case 'action': {
          const v = this.pipeline(dot, n.pipe);
          if (n.pipe.decl.length === 0) this.out.push(sprintValue(v));
          break;
        }
        case 'if':
        case 'with': {
          const mark = this.vars.length;
          const v = this.pipeline(dot, n.pipe);
          if (truth(v)) this.walk(n.k === 'with' ? v : dot, n.list);
          else if (n.else) this.walk(dot, n.else);
          this.vars.length = mark;
          break;
        }
        case 'range':
          this.range(dot, n);
          break;
        case 'break':
          throw new BreakSignal();
        case 'continue':
          throw new ContinueSignal();
      }
    }
  }

  private range(dot: unknown, n: ControlNode): void {
    const mark = this.vars.length;
    const v = this.pipeline(dot, n.pipe);
    const items: [unknown, unknown][] = [];
    if (Array.isArray(v)) for (const [i, x] of v.entries()) items.push([i, x]);
    else if (v instanceof Map || isObject(v)) for (const k of sortedKeys(v)) items.push([k, getKey(v, k)]);
    else if (typeof v === 'number' && Number.isInteger(v)) {
      if (n.pipe.decl.length > 1) this.fail(n.pipe.cmds[0] as Cmd, `can't use ${v} to iterate over more than one variable`);
      for (let i = 0; i < v; i++) items.push([i, i]);
    } else if (v !== undefined && v !== null) this.fail(n.pipe.cmds[0] as Cmd, `range can't iterate over ${sprintValue(v)}`);
    const setVar = (name: string, value: unknown) => {
      for (let i = this.vars.length - 1; i >= 0; i--)
        if ((this.vars[i] as { name: string }).name === name) return void ((this.vars[i] as { value: unknown }).value = value);
    };
    const [d1, d2] = n.pipe.decl;
    for (const [key, elem] of items) {
      const inner = this.vars.length;
      if (d2 !== undefined) {
        setVar(d1 as string, key);
        setVar(d2, elem);
      } else if (d1 !== undefined) setVar(d1, elem);
      try {
        this.walk(elem, n.list);
      } catch (e) {
        if (e instanceof BreakSignal) break;
        if (!(e instanceof ContinueSignal)) throw e;
      } finally {
        this.vars.length = inner;
      }
    }
    if (items.length === 0 && n.else) this.walk(dot, n.else);
    this.vars.length = mark;
  }

  private fail(node: { pos: number; src: string }, msg: string): never {
    this.at = node;
    throw new TemplateFail(msg);
  }

  private pipeline(dot: unknown, pipe: Pipe): unknown {
    let v: unknown;
    let first = true;
    for (const c of pipe.cmds) {
      v = this.command(dot, c, first ? undefined : [v]);
      first = false;
    }
    if (pipe.assign) {
      for (let i = this.vars.length - 1; i >= 0; i--) {
        const slot = this.vars[i] as { name: string; value: unknown };
        if (slot.name === pipe.decl[0]) {
          slot.value = v;
          break;
        }
      }
    } else for (const d of pipe.decl) this.vars.push({ name: d, value: v });
    return v;
  }

  private command(dot: unknown, cmd: Cmd, final: [unknown] | undefined): unknown {
    const [first, ...rest] = cmd.args as [Arg, ...Arg[]];
    switch (first.k) {
      case 'func':
        return this.call(dot, first.name, cmd, rest, final);
      case 'lit':
        if (rest.length || final) this.fail(cmd, `can't give argument to non-function ${first.src}`);
        return first.value;
      case 'field':
        return this.chain(dot, first.names, first, dot, rest, final);
      case 'var':
        return this.chain(this.lookup(first.name), first.names, first, dot, rest, final);
      case 'pipe':
        return this.chain(this.pipeline(dot, first.pipe), first.names, first, dot, rest, final);
    }
  }

  private lookup(name: string): unknown {
    for (let i = this.vars.length - 1; i >= 0; i--) {
      const slot = this.vars[i] as { name: string; value: unknown };
      if (slot.name === name) return slot.value;
    }
    return undefined;
  }

  private arg(dot: unknown, a: Arg): unknown {
    switch (a.k) {
      case 'lit':
        return a.value;
      case 'func':
        return this.call(dot, a.name, { args: [a], pos: a.pos, src: a.src }, [], undefined);
      case 'field':
        return this.chain(dot, a.names, a, dot, [], undefined);
      case 'var':
        return this.chain(this.lookup(a.name), a.names, a, dot, [], undefined);
      case 'pipe':
        return this.chain(this.pipeline(dot, a.pipe), a.names, a, dot, [], undefined);
    }
  }

  private chain(recv: unknown, names: string[], node: Arg, dot: unknown, args: Arg[], final: [unknown] | undefined): unknown {
    if (names.length === 0) {
      if (args.length || final) this.fail(node, `can't give argument to non-function ${node.src}`);
      return recv;
    }
    let v = recv;
    names.forEach((name, i) => {
      const last = i === names.length - 1;
      v = this.field(v, name, node, dot, last ? args : [], last ? final : undefined);
    });
    return v;
  }

  private field(recv: unknown, name: string, node: Arg, dot: unknown, args: Arg[], final: [unknown] | undefined): unknown {
    if (recv === undefined) return undefined;
    if (recv === null) this.fail(node, `nil pointer evaluating interface {}.${name}`);
    if (recv instanceof Map || isObject(recv)) {
      if (hasKey(recv, name)) {
        const v = getKey(recv, name);
        if (typeof v === 'function') {
          const vals = args.map((a) => this.arg(dot, a));
          if (final) vals.push(final[0]);
          try {
            return (v as (...a: unknown[]) => unknown).apply(recv, vals);
          } catch (e) {
            this.fail(node, `error calling ${name}: ${(e as Error).message}`);
          }
        }
        if (args.length || final) this.fail(node, `${name} is not a method but has arguments`);
        return v;
      }
      if (this.opts.strict) this.fail(node, `can't evaluate field ${name} in type ${this.opts.typeName ?? 'row'}`);
      return undefined;
    }
    return this.fail(node, `can't evaluate field ${name} in type ${goType(recv)}`);
  }

  private call(dot: unknown, name: string, cmd: Cmd, args: Arg[], final: [unknown] | undefined): unknown {
    const def = this.funcs[name] as FuncDef;
    const n = args.length + (final ? 1 : 0);
    if (n < def.min || n > def.max) {
      const want = def.min === def.max ? String(def.min) : `at least ${def.min}`;
      this.fail(cmd, `wrong number of args for ${name}: want ${want} got ${n}`);
    }
    // and/or evaluate lazily, like Go 1.18+.
    if (name === 'and' || name === 'or') {
      let v: unknown;
      for (let i = 0; i < n; i++) {
        v = i < args.length ? this.arg(dot, args[i] as Arg) : (final as [unknown])[0];
        if (truth(v) !== (name === 'and')) return v;
      }
      return v;
    }
    const vals = args.map((a) => this.arg(dot, a));
    if (final) vals.push(final[0]);
    try {
      return def.fn(vals, this);
    } catch (e) {
      if (!(e instanceof TemplateFail)) throw e;
      this.fail(cmd, `error calling ${name}: ${e.message}`);
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Functions

function str(v: unknown): string {
  if (typeof v === 'string') return v;
  if (v === undefined) throw new TemplateFail('invalid value; expected string');
  throw new TemplateFail(`wrong type for value; expected string; got ${goType(v)}`);
}

function int(v: unknown): number {
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  throw new TemplateFail(`wrong type for value; expected int; got ${goType(v)}`);
}

function goLen(v: unknown): number {
  if (typeof v === 'string') return Buffer.byteLength(v);
  if (Array.isArray(v)) return v.length;
  if (v instanceof Map) return v.size;
  if (isObject(v)) return Object.keys(v).length;
  throw new TemplateFail(`len of type ${goType(v)}`);
}

function index(item: unknown, keys: unknown[]): unknown {
  let v = item;
  for (const k of keys) {
    if (Array.isArray(v) || typeof v === 'string') {
      const i = int(k);
      const len = Array.isArray(v) ? v.length : Buffer.byteLength(v);
      if (i < 0 || i >= len) throw new TemplateFail(`index out of range: ${i}`);
      v = Array.isArray(v) ? v[i] : Buffer.from(v)[i];
    } else if (v instanceof Map || isObject(v)) {
      // A missing key yields the zero value; docker's maps are map[string]string, so "".
      v = hasKey(v, String(k)) ? getKey(v, String(k)) : '';
    } else if (v === undefined || v === null) {
      return '';
    } else throw new TemplateFail(`can't index item of type ${goType(v)}`);
  }
  return v;
}

function compare(op: string, a: unknown, b: unknown): boolean {
  const kind = (x: unknown) => (typeof x === 'number' ? 'number' : typeof x === 'string' ? 'string' : typeof x === 'boolean' ? 'bool' : 'other');
  if (op === 'eq' || op === 'ne') {
    if (a === null || a === undefined || b === null || b === undefined) return (a ?? null) === (b ?? null) === (op === 'eq');
    if (kind(a) === 'other' || kind(b) === 'other') throw new TemplateFail('incompatible types for comparison');
    if (kind(a) !== kind(b)) throw new TemplateFail('incompatible types for comparison');
    return (a === b) === (op === 'eq');
  }
  if (kind(a) !== kind(b) || kind(a) === 'other' || kind(a) === 'bool') throw new TemplateFail('incompatible types for comparison');
  const x = a as number | string;
  const y = b as number | string;
  return op === 'lt' ? x < y : op === 'le' ? x <= y : op === 'gt' ? x > y : x >= y;
}

/** fmt.Sprint: spaces between operands when neither side is a string. */
function sprint(args: unknown[]): string {
  let s = '';
  args.forEach((a, i) => {
    if (i > 0 && typeof a !== 'string' && typeof args[i - 1] !== 'string') s += ' ';
    s += sprintValue(a, false);
  });
  return s;
}

/** Go's strconv 'e' exponent: at least two digits. */
function goExp(s: string): string {
  return s.replace(/e([-+])(\d)$/, 'e$10$2');
}

/** fmt %g with an explicit precision. */
function formatG(x: number, prec: number): string {
  if (x === 0) return '0';
  const p = Math.max(prec, 1);
  const [mant, e] = x.toExponential(p - 1).split('e') as [string, string];
  const exp = Number(e);
  if (exp < -4 || exp >= p) return goExp(`${mant.includes('.') ? mant.replace(/\.?0+$/, '') : mant}e${e}`);
  const f = x.toFixed(Math.max(0, p - 1 - exp));
  return f.includes('.') ? f.replace(/\.?0+$/, '') : f;
}

/** fmt.Sprintf for the verbs templates use: v s d q t x X f F e E g G c %, flags `-+ 0#`, width, precision. */
function sprintf(format: string, args: unknown[]): string {
  let ai = 0;
  const out = format.replace(/%([-+ 0#]*)(\d+|\*)?(?:\.(\d+|\*)?)?([a-zA-Z%])/g, (whole, flags: string, w?: string, pr?: string, verb?: string) => {
    if (verb === '%' && !flags && w === undefined) return '%';
    const width = w === '*' ? Number(args[ai++]) : w !== undefined ? Number(w) : undefined;
    const prec = pr === '*' ? Number(args[ai++]) : pr !== undefined ? Number(pr) : whole.includes('.') ? 0 : undefined;
    if (verb === '%') return '%';
    if (ai >= args.length) return `%!${verb}(MISSING)`;
    const a = args[ai++];
    const bad = () => `%!${verb}(${goType(a)}=${sprintValue(a, false)})`;
    let s: string;
    const num = typeof a === 'number';
    switch (verb) {
      case 'v':
        s = sprintValue(a, false);
        break;
      case 's':
        if (typeof a !== 'string' && !Array.isArray(a)) return bad();
        s = sprintValue(a, false);
        if (prec !== undefined) s = [...s].slice(0, prec).join('');
        break;
      case 'q':
        if (typeof a !== 'string') return bad();
        s = goQuote(a, false);
        break;
      case 'd':
        if (!num || !Number.isInteger(a)) return bad();
        s = (a < 0 ? '-' : flags.includes('+') ? '+' : flags.includes(' ') ? ' ' : '') + Math.abs(a).toFixed(0);
        break;
      case 't':
        if (typeof a !== 'boolean') return bad();
        s = String(a);
        break;
      case 'x':
      case 'X':
        if (typeof a === 'string') s = Buffer.from(a).toString('hex');
        else if (num && Number.isInteger(a)) s = (a < 0 ? '-' : '') + Math.abs(a).toString(16);
        else return bad();
        if (verb === 'X') s = s.toUpperCase();
        break;
      case 'f':
      case 'F':
      case 'e':
      case 'E':
      case 'g':
      case 'G': {
        if (!num) return bad();
        const v = verb.toLowerCase();
        s = v === 'f' ? a.toFixed(prec ?? 6) : v === 'e' ? goExp(a.toExponential(prec ?? 6)) : prec === undefined ? goNumber(a) : formatG(a, prec);
        if (a >= 0 && flags.includes('+')) s = `+${s}`;
        if (verb === 'E' || verb === 'G') s = s.toUpperCase();
        break;
      }
      case 'c':
        if (!num) return bad();
        s = String.fromCodePoint(a);
        break;
      default:
        return `%!${verb}(${goType(a)}=${sprintValue(a, false)})`;
    }
    const len = [...s].length;
    if (width !== undefined && len < width) {
      if (flags.includes('-')) s += ' '.repeat(width - len);
      else if (flags.includes('0') && num) s = s.startsWith('-') || s.startsWith('+') ? s[0] + '0'.repeat(width - len) + s.slice(1) : '0'.repeat(width - len) + s;
      else s = ' '.repeat(width - len) + s;
    }
    return s;
  });
  if (ai < args.length) return `${out}%!(EXTRA ${args.slice(ai).map((a) => `${goType(a)}=${sprintValue(a, false)}`).join(', ')})`;
  return out;
}

/** strings.Title: upper-cases letters that follow a separator. */
function title(s: string): string {
  let prevSep = true;
  let r = '';
  for (const c of s) {
    r += prevSep ? c.toUpperCase() : c;
    prevSep = (c.codePointAt(0) as number) <= 0x7f ? !/[A-Za-z0-9_]/.test(c) : !/[\p{L}\p{N}]/u.test(c) && /\s/u.test(c);
  }
  return r;
}

const fn = (min: number, max: number, f: FuncImpl): FuncDef => ({ min, max, fn: f });
const MANY = Number.POSITIVE_INFINITY;

const BUILTINS: Record<string, FuncDef> = {
  and: fn(1, MANY, () => undefined),
  or: fn(1, MANY, () => undefined),
  not: fn(1, 1, ([a]) => !truth(a)),
  len: fn(1, 1, ([a]) => goLen(a)),
  index: fn(1, MANY, ([a, ...k]) => index(a, k)),
  slice: fn(1, 3, ([a, i, j]) => {
    if (typeof a !== 'string' && !Array.isArray(a)) throw new TemplateFail(`can't slice item of type ${goType(a)}`);
    const len = typeof a === 'string' ? a.length : a.length;
    const from = i === undefined ? 0 : int(i);
    const to = j === undefined ? len : int(j);
    if (from < 0 || to > len || from > to) throw new TemplateFail(`index out of range: ${Math.max(from, to)}`);
    return a.slice(from, to);
  }),
  eq: fn(2, MANY, ([a, ...bs]) => bs.some((b) => compare('eq', a, b))),
  ne: fn(2, 2, ([a, b]) => compare('ne', a, b)),
  lt: fn(2, 2, ([a, b]) => compare('lt', a, b)),
  le: fn(2, 2, ([a, b]) => compare('le', a, b)),
  gt: fn(2, 2, ([a, b]) => compare('gt', a, b)),
  ge: fn(2, 2, ([a, b]) => compare('ge', a, b)),
  print: fn(0, MANY, (a) => sprint(a)),
  println: fn(0, MANY, (a) => `${a.map((x) => sprintValue(x, false)).join(' ')}\n`),
  printf: fn(1, MANY, ([f, ...a]) => sprintf(str(f), a)),
  // docker's additions (cli/templates)
  json: fn(1, 1, ([a]) => goJson(a)),
  split: fn(2, 2, ([s, sep]) => {
    const x = str(s);
    const p = str(sep);
    return p === '' ? [...x] : x.split(p);
  }),
  join: fn(2, 2, ([l, sep]) => {
    if (!Array.isArray(l) || !l.every((x) => typeof x === 'string')) throw new TemplateFail(`wrong type for value; expected []string; got ${goType(l)}`);
    return l.join(str(sep));
  }),
  title: fn(1, 1, ([s]) => title(str(s))),
  lower: fn(1, 1, ([s]) => str(s).toLowerCase()),
  upper: fn(1, 1, ([s]) => str(s).toUpperCase()),
  pad: fn(3, 3, ([s, a, b]) => (str(s) === '' ? '' : ' '.repeat(int(a)) + str(s) + ' '.repeat(int(b)))),
  truncate: fn(2, 2, ([s, n]) => {
    const x = str(s);
    return x.length < int(n) ? x : x.slice(0, int(n));
  }),
};

/** docker's HeaderFunctions: while rendering table headers its functions return their first argument. */
const HEADER_FUNCS: Record<string, FuncDef> = {
  ...BUILTINS,
  ...Object.fromEntries(
    ['json', 'split', 'join', 'title', 'lower', 'upper', 'pad', 'truncate'].map((k) => [
      k,
      { ...(BUILTINS[k] as FuncDef), fn: ([a]: unknown[]) => a },
    ]),
  ),
};

/** `port CONTAINER [PRIVATE_PORT[/PROTO]]` output from a container's port map (docker's lines). */
export function printPorts(out: (line: string) => void, container: string, m: Record<string, { HostIp: string; HostPort: string }[] | null>, want?: string): void {
  if (want) {
    const key = want.includes('/') ? want : `${want}/tcp`;
    const b = m[key];
    if (!b) throw new BerthError('not_found', `No public port '${key}' published for ${container}`);
    for (const x of b) out(joinHostPort(x.HostIp, x.HostPort));
    return;
  }
  for (const [k, v] of Object.entries(m)) for (const x of v ?? []) out(`${k} -> ${joinHostPort(x.HostIp, x.HostPort)}`);
}

/** Go's net.JoinHostPort, as docker prints bindings: an IPv6 host in brackets ([::]:8080). */
export function joinHostPort(host: string, port: string): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** `volume ls`'s table (local and remote). */
export const VOLUME_TABLE = {
  defaultTable: 'table {{.Driver}}\t{{.Name}}',
  headers: { Driver: 'DRIVER', Name: 'VOLUME NAME', Scope: 'SCOPE', Mountpoint: 'MOUNTPOINT', Labels: 'LABELS', Links: 'LINKS', Size: 'SIZE' },
  quietField: 'Name',
};
