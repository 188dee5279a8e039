import { invalidArgument } from '../../errors.js';
import type { CliContext } from '../context.js';

/** inspect-style output: a JSON array by default, or each document through a Go template. */
export async function printJson(ctx: CliContext, format: string | undefined, docs: unknown[]): Promise<void> {
  if (!format || format === 'json') {
    ctx.out(JSON.stringify(docs, null, 4));
    return;
  }
  const { renderTemplate } = await import('../format.js');
  for (const d of docs) ctx.out(renderTemplate(format, d));
}

/** docker's `until=` accepts a timestamp or a duration ago (10m, 24h). */
export function parseUntil(v: string): number {
  const dur = /^(\d+)(s|m|h)$/.exec(v);
  if (dur) return Date.now() - Number(dur[1]) * { s: 1000, m: 60_000, h: 3_600_000 }[dur[2] as 's' | 'm' | 'h'];
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw invalidArgument(`invalid filter 'until=${v}': use a timestamp or a duration such as 24h`);
  return t;
}

/** `--filter k=v` flags into a map, validating keys as docker does. */
export function parseFilterFlags(flags: string[], allowed: string[]): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const f of flags) {
    const eq = f.indexOf('=');
    if (eq <= 0) throw invalidArgument(`bad format of filter (expected name=value)`);
    const k = f.slice(0, eq).toLowerCase();
    if (!allowed.includes(k)) throw invalidArgument(`invalid filter '${k}'`);
    m.set(k, [...(m.get(k) ?? []), f.slice(eq + 1)]);
  }
  return m;
}

/** Go's time.Time.String(), which docker prints in CreatedAt columns. */
export function goTime(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000 UTC`;
}
