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
