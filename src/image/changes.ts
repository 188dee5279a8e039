/**
 * `--change` / `-c` instructions for import and commit: the Dockerfile instructions docker accepts there
 * (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR).
 */
import { invalidArgument } from '../errors.js';
import type { ContainerDefaults } from './oci.js';

const ALLOWED = new Set(['CMD', 'ENTRYPOINT', 'ENV', 'EXPOSE', 'LABEL', 'ONBUILD', 'STOPSIGNAL', 'USER', 'VOLUME', 'WORKDIR']);

function unquote(s: string): string {
  if (s.length >= 2 && ((s.startsWith('"') && s.endsWith('"')) || (s.startsWith("'") && s.endsWith("'")))) return s.slice(1, -1);
  return s;
}

/** Splits `a=b "c d"=e` into words, honouring double and single quotes and backslash escapes. */
export function splitWords(s: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quote = '';
  let has = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i] as string;
    if (quote) {
      if (c === quote) quote = '';
      else if (c === '\\' && quote === '"' && i + 1 < s.length) cur += s[++i];
      else cur += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      has = true;
    } else if (c === '\\' && i + 1 < s.length) {
      cur += s[++i];
      has = true;
    } else if (/\s/.test(c)) {
      if (has || cur) out.push(cur);
      cur = '';
      has = false;
    } else {
      cur += c;
      has = true;
    }
  }
  if (quote) throw invalidArgument(`unterminated quote in "${s}"`);
  if (has || cur) out.push(cur);
  return out;
}

function jsonOrShell(rest: string): string[] {
  const t = rest.trim();
  if (t.startsWith('[')) {
    try {
      const v = JSON.parse(t) as unknown;
      if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v as string[];
    } catch {
      /* shell form */
    }
  }
  return ['/bin/sh', '-c', t];
}

function keyValues(rest: string, instr: string): [string, string][] {
  const words = splitWords(rest);
  if (words.length === 0) throw invalidArgument(`${instr} requires at least one argument`);
  if (!(words[0] as string).includes('=')) {
    // legacy form: ENV key value with spaces
    const m = /^\s*(\S+)\s+(.*)$/s.exec(rest);
    if (!m) throw invalidArgument(`${instr} requires key=value pairs: ${rest}`);
    return [[m[1] as string, unquote((m[2] as string).trim())]];
  }
  return words.map((w) => {
    const eq = w.indexOf('=');
    if (eq <= 0) throw invalidArgument(`${instr} names can not be blank: ${w}`);
    return [w.slice(0, eq), w.slice(eq + 1)];
  });
}

export function applyChanges(cfg: ContainerDefaults, changes: string[]): ContainerDefaults {
  const out: ContainerDefaults = structuredClone(cfg);
  for (const change of changes) {
    const m = /^\s*(\w+)\s*(.*)$/s.exec(change);
    if (!m) throw invalidArgument(`invalid change "${change}"`);
    const instr = (m[1] as string).toUpperCase();
    const rest = m[2] as string;
    if (!ALLOWED.has(instr)) throw invalidArgument(`${instr} is not a valid change command`, { hint: `allowed: ${[...ALLOWED].join(', ')}` });
    switch (instr) {
      case 'CMD':
        out.Cmd = jsonOrShell(rest);
        break;
      case 'ENTRYPOINT':
        out.Entrypoint = jsonOrShell(rest);
        break;
      case 'ENV': {
        const env = [...(out.Env ?? [])];
        for (const [k, v] of keyValues(rest, 'ENV')) {
          const i = env.findIndex((e) => e.startsWith(`${k}=`));
          if (i >= 0) env[i] = `${k}=${v}`;
          else env.push(`${k}=${v}`);
        }
        out.Env = env;
        break;
      }
      case 'LABEL':
        out.Labels = { ...(out.Labels ?? {}) };
        for (const [k, v] of keyValues(rest, 'LABEL')) out.Labels[k] = v;
        break;
      case 'EXPOSE':
        out.ExposedPorts = { ...(out.ExposedPorts ?? {}) };
        for (const p of splitWords(rest)) out.ExposedPorts[p.includes('/') ? p : `${p}/tcp`] = {};
        break;
      case 'VOLUME': {
        out.Volumes = { ...(out.Volumes ?? {}) };
        const t = rest.trim();
        const vols = t.startsWith('[') ? (JSON.parse(t) as string[]) : splitWords(t);
        for (const v of vols) out.Volumes[v] = {};
        break;
      }
      case 'USER':
        out.User = rest.trim();
        break;
      case 'WORKDIR':
        out.WorkingDir = rest.trim();
        break;
      case 'STOPSIGNAL':
        out.StopSignal = rest.trim();
        break;
      case 'ONBUILD':
        out.OnBuild = [...(out.OnBuild ?? []), rest.trim()];
        break;
    }
  }
  return out;
}
