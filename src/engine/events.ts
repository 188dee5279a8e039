/**
 * Daemonless events: engine operations append one JSON line per event to <runroot>/events.jsonl
 * (O_APPEND writes of one line are atomic for the sizes used here), whoever does the work (CLI or
 * API service). Readers (`GET /events`, `berth events`) replay and tail the file.
 */
import fs from 'node:fs';
import path from 'node:path';

export interface EngineEvent {
  Type: 'container' | 'image' | 'volume' | 'network';
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  scope: 'local';
  time: number;
  timeNano: number;
}

export function eventsFile(runroot: string): string {
  return path.join(runroot, 'events.jsonl');
}

/** Records an event; never throws (an event log that cannot be written must not fail the operation). */
export function emitEvent(runroot: string, type: EngineEvent['Type'], action: string, id: string, attributes: Record<string, string> = {}): void {
  const now = Date.now();
  const ev: EngineEvent = { Type: type, Action: action, Actor: { ID: id, Attributes: attributes }, scope: 'local', time: Math.floor(now / 1000), timeNano: now * 1e6 };
  try {
    fs.mkdirSync(runroot, { recursive: true });
    fs.appendFileSync(eventsFile(runroot), `${JSON.stringify(ev)}\n`);
  } catch {
    /* best effort */
  }
}

export interface FollowEventsOptions {
  /** Epoch ms: replay from here (default: now, i.e. only new events). */
  since?: number;
  /** Epoch ms: stop after this time (default: follow until `signal`). */
  until?: number;
  /** docker's event filters: type, event, container, image, volume, network, label. */
  filters?: Map<string, string[]>;
  signal?: AbortSignal;
}

/** True when `e` passes docker's event filters (values of one key OR-ed, keys AND-ed). */
export function eventMatches(e: EngineEvent, filters: Map<string, string[]>): boolean {
  const t = filters.get('type');
  if (t && !t.includes(e.Type)) return false;
  const ev = filters.get('event');
  if (ev && !ev.includes(e.Action)) return false;
  for (const k of ['container', 'image', 'volume', 'network'] as const) {
    const f = filters.get(k);
    if (f && (e.Type !== k || !f.some((x) => e.Actor.ID.startsWith(x) || e.Actor.Attributes.name === x))) return false;
  }
  const labels = filters.get('label');
  if (labels && !labels.some((l) => {
    const eq = l.indexOf('=');
    return eq < 0 ? l in e.Actor.Attributes : e.Actor.Attributes[l.slice(0, eq)] === l.slice(eq + 1);
  }))
    return false;
  return true;
}

/** Replays the event log from `since` and tails it (every 200 ms) until `until` passes or `signal` aborts. */
export async function followEvents(runroot: string, o: FollowEventsOptions, onEvent: (e: EngineEvent) => void): Promise<void> {
  const file = eventsFile(runroot);
  const since = o.since ?? Date.now();
  const filters = o.filters ?? new Map<string, string[]>();
  let pos = 0;
  let rest = '';
  const drain = () => {
    let fd: number;
    try {
      fd = fs.openSync(file, 'r');
    } catch {
      return;
    }
    try {
      const buf = Buffer.alloc(64 * 1024);
      for (;;) {
        const n = fs.readSync(fd, buf, 0, buf.length, pos);
        if (n <= 0) break;
        pos += n;
        rest += buf.subarray(0, n).toString('utf8');
      }
    } finally {
      fs.closeSync(fd);
    }
    const lines = rest.split('\n');
    rest = lines.pop() ?? '';
    for (const l of lines) {
      if (!l) continue;
      let e: EngineEvent;
      try {
        e = JSON.parse(l) as EngineEvent;
      } catch {
        continue; // a torn line
      }
      const ms = e.timeNano / 1e6;
      if (ms < since || (o.until !== undefined && ms > o.until)) continue;
      if (eventMatches(e, filters)) onEvent(e);
    }
  };
  while (!o.signal?.aborted) {
    drain();
    if (o.until !== undefined && Date.now() > o.until) break;
    await new Promise((r) => setTimeout(r, 200));
  }
}
