/** `berth events`: the engine's event log, replayed (--since) and followed, printed as docker prints events. */
import type { EngineEvent } from '../../engine/events.js';
import { invalidArgument } from '../../errors.js';
import { type ParsedArgs, list, str } from '../args.js';
import type { CliContext } from '../context.js';
import { renderTemplate } from '../format.js';
import { parseFilterFlags } from './common.js';

export const EVENT_FILTERS = ['type', 'event', 'container', 'image', 'volume', 'network', 'label'];

/** docker's line: `2026-11-27T21:00:00.123000000Z container create ID (image=busybox, name=web)`; or the --format template. */
export function printEvent(ctx: CliContext, format: string | undefined, e: EngineEvent): void {
  if (format) {
    ctx.out(renderTemplate(format, { ...e, Status: e.Action, ID: e.Actor.ID, From: e.Actor.Attributes.image ?? '' }));
    return;
  }
  const ns = BigInt(Math.round(e.timeNano));
  const secs = ns / 1_000_000_000n;
  const iso = new Date(Number(secs) * 1000).toISOString().replace(/\.\d{3}Z$/, '');
  const frac = String(ns % 1_000_000_000n).padStart(9, '0');
  const attrs = Object.keys(e.Actor.Attributes)
    .sort()
    .map((k) => `${k}=${e.Actor.Attributes[k]}`)
    .join(', ');
  ctx.out(`${iso}.${frac}Z ${e.Type} ${e.Action} ${e.Actor.ID}${attrs ? ` (${attrs})` : ''}`);
}

/** --since/--until: a Unix time, an RFC 3339 date or a duration ago (10m). */
export function eventTime(v: string | undefined, what: string): number | undefined {
  if (v === undefined || v === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v) * 1000;
  const rel = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(v);
  if (rel) return Date.now() - Number(rel[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[rel[2] as 'ms'];
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw invalidArgument(`invalid value for "${what}": ${v} (use a Unix time, a date or a duration such as 10m)`);
  return t;
}

export async function events(ctx: CliContext, p: ParsedArgs): Promise<number> {
  const filters = parseFilterFlags(list(p, 'filter'), EVENT_FILTERS);
  const engine = await ctx.engine();
  const { followEvents } = await import('../../engine/events.js');
  const ac = new AbortController();
  const stop = () => ac.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const o: import('../../engine/events.js').FollowEventsOptions = { filters, signal: ac.signal };
  const since = eventTime(str(p, 'since'), 'since');
  if (since !== undefined) o.since = since;
  const until = eventTime(str(p, 'until'), 'until');
  if (until !== undefined) o.until = until;
  const fmt = str(p, 'format');
  try {
    await followEvents(engine.paths.runroot, o, (e) => printEvent(ctx, fmt, e));
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
  return 0;
}
