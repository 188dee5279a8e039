import { invalidArgument } from '../../errors.js';
import type { CliContext } from '../context.js';
import { renderTemplate } from '../format.js';

/** inspect-style output: a JSON array by default, or each document through a Go template. */
export function printJson(ctx: CliContext, format: string | undefined, docs: unknown[]): void {
  if (!format || format === 'json') {
    ctx.out(JSON.stringify(docs, null, 4));
    return;
  }
  for (const d of docs) ctx.out(renderTemplate(format, d));
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
