/**
 * Renders the engine's progress events (engine/progress.ts) as docker's CLI does: on a terminal,
 * one live line per layer id with a bar, rewritten in place with cursor movements; otherwise plain
 * lines, one per status change, without byte counts.
 */
import type { ProgressEvent, ProgressSink } from '../engine/progress.js';
import { humanSize } from '../util/human.js';

export interface ProgressRenderer {
  sink: ProgressSink;
  /** Ends live rendering (the cursor is left below the last line). */
  done(): void;
}

const BAR_WIDTH = 50;
const LIVE_ONLY = new Set(['Downloading', 'Extracting', 'Pushing']);

/** docker's progress bar: "[=====>      ]  1.2MB/3.4MB". */
export function progressBar(current: number, total: number): string {
  if (total <= 0) return current > 0 ? humanSize(current) : '';
  const filled = Math.min(BAR_WIDTH, Math.floor((current / total) * BAR_WIDTH));
  const bar = filled >= BAR_WIDTH ? '='.repeat(BAR_WIDTH) : `${'='.repeat(filled)}>${' '.repeat(BAR_WIDTH - filled - 1)}`;
  return `[${bar}]  ${humanSize(current)}/${humanSize(total)}`;
}

/** The text of one event: "a1b2c3d4e5f6: Downloading [==>   ]  1MB/2MB" (the bar only when `live`). */
export function eventText(e: ProgressEvent, live: boolean): string {
  let s = e.id !== undefined ? `${e.id}: ${e.status}` : e.status;
  const d = e.progressDetail;
  if (live && d?.total !== undefined && d.current !== undefined) s += ` ${progressBar(d.current, d.total)}`;
  return s;
}

export function progressRenderer(out: NodeJS.WritableStream & { isTTY?: boolean; columns?: number }, opts: { tty?: boolean } = {}): ProgressRenderer {
  const tty = opts.tty ?? out.isTTY === true;
  if (!tty) {
    const last = new Map<string, string>();
    return {
      sink: (e) => {
        if (!e.status) return;
        if (e.id !== undefined) {
          if (LIVE_ONLY.has(e.status) && e.progressDetail?.total !== undefined) return;
          if (last.get(e.id) === e.status) return;
          last.set(e.id, e.status);
        }
        out.write(`${eventText(e, false)}\n`);
      },
      done: () => undefined,
    };
  }
  const lineOf = new Map<string, number>();
  let lines = 0;
  const fit = (s: string) => {
    const w = (out.columns && out.columns > 20 ? out.columns : 80) - 1;
    return s.length > w ? s.slice(0, w) : s;
  };
  return {
    sink: (e) => {
      if (!e.status) return;
      const text = fit(eventText(e, true));
      const at = e.id !== undefined ? lineOf.get(e.id) : undefined;
      if (e.id === undefined || at === undefined) {
        if (e.id !== undefined) lineOf.set(e.id, lines);
        out.write(`${text}\n`);
        lines++;
        return;
      }
      const up = lines - at;
      out.write(`\x1b[${up}A\r\x1b[2K${text}\x1b[${up}B\r`);
    },
    done: () => undefined,
  };
}
