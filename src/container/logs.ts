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
  return readLogFrom(file, opts, false).lines;
}

/**
 * Where a follower goes on: the current log file, still open (so a rotation or removal after the
 * read loses nothing), and the byte after the last whole entry read from it.
 */
export interface LogCursor {
  fd: number;
  ino: number;
  pos: number;
}

/**
 * The entries as readLog gives them and, with `follow`, the cursor for followLog: the current file
 * is opened first and read to its end through that descriptor, so the follower starts exactly where
 * the read stopped (a line written in between is printed once, and a rotation in between is
 * followed through the rotated file).
 */
export function readLogFrom(file: string, opts: LogOptions, follow: boolean): { lines: LogLine[]; cursor?: LogCursor } {
  let fd: number | undefined;
  let ino = -1;
  try {
    fd = fs.openSync(file, 'r');
    ino = fs.fstatSync(fd).ino;
  } catch {
    fd = undefined; // no log yet, or removed
  }
  const lines: LogLine[] = [];
  let pos = 0;
  try {
    for (const f of logFiles(file).slice(0, -1)) {
      // A file rotated after the open above is the one we hold: read it once, last.
      const text = readUnless(f, ino);
      if (text !== undefined) parseChunk(text, lines);
    }
    if (fd !== undefined) {
      const buf = fs.readFileSync(fd);
      const rest = parseChunk(buf.toString('utf8'), lines);
      pos = buf.length - Buffer.byteLength(rest);
    }
  } catch (e) {
    if (fd !== undefined) fs.closeSync(fd);
    throw e;
  }
  let out = lines.filter((l) => (opts.since === undefined || l.ms >= opts.since) && (opts.until === undefined || l.ms <= opts.until));
  if (opts.tail !== undefined && opts.tail >= 0) out = opts.tail === 0 ? [] : out.slice(-opts.tail);
  if (fd === undefined) return { lines: out };
  if (!follow) {
    fs.closeSync(fd);
    return { lines: out };
  }
  return { lines: out, cursor: { fd, ino, pos } };
}

/** A file's text, unless it is the inode `skip` (or gone). */
function readUnless(f: string, skip: number): string | undefined {
  let fd: number;
  try {
    fd = fs.openSync(f, 'r');
  } catch {
    return undefined; // rotated away meanwhile
  }
  try {
    return fs.fstatSync(fd).ino === skip ? undefined : fs.readFileSync(fd, 'utf8');
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Follows the log from `cursor` (readLogFrom's; none when there was no file yet: from the start of
 * the file that appears), calling `emit` per entry, until `stopped()` says the writer is gone. The
 * file stays open between polls: what the writer put in it before the file was rotated away
 * (`max-file`, conmon's size cap) or removed with its container is still read to the end, then
 * the files rotated after it, oldest first, then the new file at the path.
 */
export async function followLog(
  file: string,
  cursor: LogCursor | undefined,
  emit: (l: LogLine) => void,
  stopped: () => boolean,
  signal?: AbortSignal,
): Promise<void> {
  let pos = cursor?.pos ?? 0;
  let rest = '';
  let fd: number | undefined = cursor?.fd;
  let ino = cursor?.ino ?? -1;
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
        // Rotated: finish the file we hold, then those rotated after it, then the new one.
        drain(fd);
        fs.closeSync(fd);
        fd = undefined;
        for (const newer of rotatedAfter(file, ino)) {
          pos = 0;
          try {
            drain(newer);
          } finally {
            fs.closeSync(newer);
          }
        }
        pos = 0;
      }
      if (fd === undefined && at) {
        try {
          fd = fs.openSync(file, 'r');
          ino = fs.fstatSync(fd).ino;
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

/**
 * Open descriptors of the rotated files newer than inode `ino`, oldest first: all of them when
 * `ino` is no longer among them (it was the oldest and got deleted).
 */
function rotatedAfter(file: string, ino: number): number[] {
  const fds: { fd: number; ino: number }[] = [];
  for (const f of logFiles(file).slice(0, -1)) {
    try {
      const fd = fs.openSync(f, 'r');
      fds.push({ fd, ino: fs.fstatSync(fd).ino });
    } catch {
      /* rotated away meanwhile */
    }
  }
  const at = fds.findIndex((x) => x.ino === ino);
  for (const x of fds.slice(0, at + 1)) fs.closeSync(x.fd);
  return fds.slice(at + 1).map((x) => x.fd);
}
