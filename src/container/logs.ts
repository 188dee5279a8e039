/**
 * Reading a container's k8s-file log ("<RFC3339Nano> stdout|stderr F|P <text>"): tail, since/until,
 * and follow (polling the file until the container stops). Partial lines (P) are joined.
 */
import fs from 'node:fs';
import { logFiles } from './log-rotate.js';

export interface LogLine {
  time: string;
  ms: number;
  stream: 'stdout' | 'stderr';
  text: string;
  /** false when the line ended without a newline (a P chunk at the end). */
  newline: boolean;
}

export interface LogOptions {
  tail?: number;
  since?: number;
  until?: number;
}

export function parseLogLine(raw: string): LogLine | undefined {
  const a = raw.indexOf(' ');
  const b = raw.indexOf(' ', a + 1);
  const c = raw.indexOf(' ', b + 1);
  if (a < 0 || b < 0) return undefined;
  const time = raw.slice(0, a);
  const stream = raw.slice(a + 1, b) as 'stdout' | 'stderr';
  const tag = c < 0 ? raw.slice(b + 1) : raw.slice(b + 1, c);
  const text = c < 0 ? '' : raw.slice(c + 1);
  return { time, ms: Date.parse(time), stream, text, newline: tag.split(':')[0] !== 'P' };
}

/** Complete entries from a chunk of log text; returns the unparsed remainder. */
function parseChunk(text: string, out: LogLine[]): string {
  let start = 0;
  for (;;) {
    const nl = text.indexOf('\n', start);
    if (nl < 0) break;
    const l = parseLogLine(text.slice(start, nl));
    if (l) {
      const prev = out[out.length - 1];
      if (prev && !prev.newline && prev.stream === l.stream) {
        prev.text += l.text;
        prev.newline = l.newline;
      } else out.push(l);
    }
    start = nl + 1;
  }
  return text.slice(start);
}

/** The container's log entries, across its rotated files (`--log-opt max-file`) oldest first. */
export function readLog(file: string, opts: LogOptions = {}): LogLine[] {
  const lines: LogLine[] = [];
  for (const f of logFiles(file)) {
    let text = '';
    try {
      text = fs.readFileSync(f, 'utf8');
    } catch {
      continue; // rotated away meanwhile
    }
    parseChunk(text, lines);
  }
  let out = lines.filter((l) => (opts.since === undefined || l.ms >= opts.since) && (opts.until === undefined || l.ms <= opts.until));
  if (opts.tail !== undefined && opts.tail >= 0) out = opts.tail === 0 ? [] : out.slice(-opts.tail);
  return out;
}

/**
 * Follows the file from `offset`, calling `emit` per entry, until `stopped()` says the writer is
 * gone. The file stays open between polls: what the writer put in it before the file was rotated
 * away (`max-file`, conmon's size cap) or removed with its container is still read to the end.
 */
export async function followLog(
  file: string,
  offset: number,
  emit: (l: LogLine) => void,
  stopped: () => boolean,
  signal?: AbortSignal,
): Promise<void> {
  let pos = offset;
  let rest = '';
  let fd: number | undefined;
  let ino = 0;
  const buf = Buffer.alloc(64 * 1024);
  const drain = (from: number) => {
    for (;;) {
      const n = fs.readSync(from, buf, 0, buf.length, pos);
      if (n <= 0) break;
      pos += n;
      rest += buf.subarray(0, n).toString('utf8');
      const pending: LogLine[] = [];
      rest = parseChunk(rest, pending);
      for (const l of pending) emit(l);
    }
  };
  try {
    for (;;) {
      if (signal?.aborted) return;
      const wasStopped = stopped();
      let at: fs.Stats | undefined;
      try {
        at = fs.statSync(file);
      } catch {
        at = undefined; // removed with its container, or between a rename and its replacement
      }
      if (fd !== undefined && at && at.ino !== ino) {
        // A new file at the path: finish the one we hold, then go on with the new one from its start.
        drain(fd);
        fs.closeSync(fd);
        fd = undefined;
        pos = 0;
      }
      if (fd === undefined && at) {
        try {
          fd = fs.openSync(file, 'r');
          const st = fs.fstatSync(fd);
          ino = st.ino;
          if (st.size < pos) pos = 0;
        } catch {
          fd = undefined;
        }
      }
      if (fd === undefined) return;
      drain(fd);
      if (wasStopped) return; // the read above came after the writer stopped: nothing more will come
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

export function logSize(file: string): number {
  try {
    return fs.statSync(file).size;
  } catch {
    return 0;
  }
}
