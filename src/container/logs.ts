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

/** Follows the file from `offset`, calling `emit` per entry, until `stopped()` says the writer is gone. */
export async function followLog(
  file: string,
  offset: number,
  emit: (l: LogLine) => void,
  stopped: () => boolean,
  signal?: AbortSignal,
): Promise<void> {
  let pos = offset;
  let rest = '';
  let pending: LogLine[] = [];
  let ino: number | undefined;
  const buf = Buffer.alloc(64 * 1024);
  const drain = (fd: number) => {
    for (;;) {
      const n = fs.readSync(fd, buf, 0, buf.length, pos);
      if (n <= 0) break;
      pos += n;
      rest += buf.subarray(0, n).toString('utf8');
      pending = [];
      rest = parseChunk(rest, pending);
      for (const l of pending) emit(l);
    }
  };
  for (;;) {
    if (signal?.aborted) return;
    const wasStopped = stopped();
    let fd: number;
    try {
      fd = fs.openSync(file, 'r');
    } catch {
      return;
    }
    try {
      const st = fs.fstatSync(fd);
      if (ino !== undefined && st.ino !== ino) {
        // Rotated (max-file): what was written to the old file since the last read is in
        // `<file>.1` now; read it to the end before going on with the new file from its start.
        try {
          const oldFd = fs.openSync(`${file}.1`, 'r');
          try {
            if (fs.fstatSync(oldFd).ino === ino) drain(oldFd);
          } finally {
            fs.closeSync(oldFd);
          }
        } catch {
          /* rotated further away: those lines are gone, as with docker */
        }
        pos = 0;
      } else if (st.size < pos) pos = 0; // truncated by conmon's size cap
      ino = st.ino;
      drain(fd);
    } finally {
      fs.closeSync(fd);
    }
    if (wasStopped) return; // the read above came after the writer stopped: nothing more will come
    await new Promise((r) => setTimeout(r, 100));
  }
}

export function logSize(file: string): number {
  try {
    return fs.statSync(file).size;
  } catch {
    return 0;
  }
}
