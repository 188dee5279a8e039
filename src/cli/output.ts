/**
 * Output for the CLI without Node's stdio streams. The first touch of process.stdout or
 * process.stderr builds a stream (and loads node:stream, 3-5 ms), which commands that print a line
 * or two do not need: their lines go to the descriptor with write(2). A command that takes the
 * stream itself (ctx.stdout: progress bars, tar streams, attach) switches that descriptor to the
 * stream for good, so everything it prints stays in order. A descriptor left non-blocking by another
 * process (EAGAIN) falls back to the stream, which queues; a reader that went away (EPIPE) drops the
 * output, as a docker CLI killed by SIGPIPE would.
 */
import fs from 'node:fs';

const streamed: Record<1 | 2, boolean> = { 1: false, 2: false };

/** process.stdout (1) or process.stderr (2); everything printed afterwards goes through it. */
export function stdioStream(fd: 1 | 2): NodeJS.WriteStream {
  streamed[fd] = true;
  return fd === 1 ? process.stdout : process.stderr;
}

/** Writes `text` to stdout (1) or stderr (2). */
export function writeStdio(fd: 1 | 2, text: string | Uint8Array): void {
  if (streamed[fd]) {
    stdioStream(fd).write(text);
    return;
  }
  let buf = typeof text === 'string' ? Buffer.from(text) : Buffer.from(text.buffer, text.byteOffset, text.byteLength);
  try {
    while (buf.length > 0) buf = buf.subarray(fs.writeSync(fd, buf));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EPIPE' || code === 'EBADF') return;
    if (code !== 'EAGAIN') throw e;
    stdioStream(fd).write(buf);
  }
}

/** A writable for stdout (1) or stderr (2) that goes through writeStdio: what attach copies a container's output to. */
export function stdioWriter(fd: 1 | 2): { write(data: string | Uint8Array): boolean } {
  return {
    write(data) {
      writeStdio(fd, data);
      return true;
    },
  };
}
