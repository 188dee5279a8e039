/**
 * A small docker-shaped flag parser: `-abc` bundles, `--flag=value`, `--flag value`, repeatable flags,
 * `--` and, for run/exec-style commands, parsing that stops at the first positional argument.
 * Kept dependency-free because it runs on every start.
 */
import { BerthError } from '../errors.js';

export type FlagType = 'bool' | 'string' | 'list' | 'int';

export interface FlagSpec {
  name: string;
  short?: string;
  type: FlagType;
  description: string;
  /** Shown in help as the value placeholder. */
  value?: string;
  default?: string | number | boolean;
  hidden?: boolean;
}

export interface ParsedArgs {
  flags: Record<string, string | number | boolean | string[] | undefined>;
  args: string[];
}

export class UsageError extends BerthError {
  constructor(message: string) {
    super('invalid_argument', message);
    this.name = 'UsageError';
  }
}

export function parseArgs(argv: string[], specs: FlagSpec[], opts: { interspersed?: boolean } = {}): ParsedArgs {
  const interspersed = opts.interspersed ?? true;
  const byLong = new Map<string, FlagSpec>();
  const byShort = new Map<string, FlagSpec>();
  for (const s of specs) {
    byLong.set(s.name, s);
    if (s.short) byShort.set(s.short, s);
  }
  const flags: ParsedArgs['flags'] = {};
  for (const s of specs) {
    if (s.type === 'list') flags[s.name] = [];
    else if (s.default !== undefined) flags[s.name] = s.default;
    else if (s.type === 'bool') flags[s.name] = false;
  }
  const args: string[] = [];
  const set = (spec: FlagSpec, raw: string | undefined, shown: string): void => {
    switch (spec.type) {
      case 'bool':
        if (raw === undefined || raw === 'true') flags[spec.name] = true;
        else if (raw === 'false') flags[spec.name] = false;
        else throw new UsageError(`invalid argument "${raw}" for "${shown}" flag: strconv.ParseBool: parsing "${raw}": invalid syntax`);
        return;
      case 'int': {
        if (raw === undefined || !/^-?\d+$/.test(raw))
          throw new UsageError(`invalid argument "${raw ?? ''}" for "${shown}" flag: strconv.ParseInt: parsing "${raw ?? ''}": invalid syntax`);
        flags[spec.name] = Number(raw);
        return;
      }
      case 'list':
        (flags[spec.name] as string[]).push(raw as string);
        return;
      default:
        flags[spec.name] = raw;
    }
  };
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--') {
      i++;
      break;
    }
    if (a.startsWith('--') && a.length > 2) {
      const eq = a.indexOf('=');
      const name = eq >= 0 ? a.slice(2, eq) : a.slice(2);
      const spec = byLong.get(name);
      if (!spec) throw new UsageError(`unknown flag: --${name}`);
      let raw: string | undefined = eq >= 0 ? a.slice(eq + 1) : undefined;
      if (raw === undefined && spec.type !== 'bool') {
        if (i + 1 >= argv.length) throw new UsageError(`flag needs an argument: --${name}`);
        raw = argv[++i];
      }
      set(spec, raw, `--${name}`);
      continue;
    }
    if (a.startsWith('-') && a.length > 1) {
      // bundle: -it, -p80:80, -e=A
      for (let j = 1; j < a.length; j++) {
        const c = a[j] as string;
        const spec = byShort.get(c);
        if (!spec) throw new UsageError(`unknown shorthand flag: '${c}' in ${a}`);
        if (spec.type === 'bool') {
          if (a[j + 1] === '=') {
            set(spec, a.slice(j + 2), `-${c}`);
            break;
          }
          set(spec, undefined, `-${c}`);
          continue;
        }
        let raw = a.slice(j + 1);
        if (raw.startsWith('=')) raw = raw.slice(1);
        if (raw === '') {
          if (i + 1 >= argv.length) throw new UsageError(`flag needs an argument: '${c}' in -${c}`);
          raw = argv[++i] as string;
        }
        set(spec, raw, `-${c}, --${spec.name}`);
        break;
      }
      continue;
    }
    args.push(a);
    if (!interspersed) {
      i++;
      break;
    }
  }
  for (; i < argv.length; i++) args.push(argv[i] as string);
  return { flags, args };
}

export function str(p: ParsedArgs, name: string): string | undefined {
  const v = p.flags[name];
  return typeof v === 'string' ? v : undefined;
}
export function bool(p: ParsedArgs, name: string): boolean {
  return p.flags[name] === true;
}
export function list(p: ParsedArgs, name: string): string[] {
  const v = p.flags[name];
  return Array.isArray(v) ? v : [];
}
export function int(p: ParsedArgs, name: string): number | undefined {
  const v = p.flags[name];
  return typeof v === 'number' ? v : undefined;
}

/** Repeated KEY=VALUE flags (`--label`, `--opt`) as a map; a bare KEY maps to ''. */
export function keyValues(values: string[], what: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values) {
    const eq = v.indexOf('=');
    if (eq === 0) throw new BerthError('invalid_argument', `invalid ${what} "${v}": use key=value`);
    out[eq < 0 ? v : v.slice(0, eq)] = eq < 0 ? '' : v.slice(eq + 1);
  }
  return out;
}

/** `cp`'s CONTAINER:PATH operand as [container, path]; undefined for a local path or '-'. */
export function parseCpArg(s: string): [string, string] | undefined {
  if (s.startsWith('/') || s.startsWith('.') || s === '-') return undefined;
  const i = s.indexOf(':');
  return i > 0 ? [s.slice(0, i), s.slice(i + 1)] : undefined;
}
