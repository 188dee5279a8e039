/**
 * Client side of conmon's attach socket: packets from conmon start with one byte naming the stream
 * (2 stdout, 3 stderr); bytes we write go to the container's stdin. Detach keys (ctrl-p ctrl-q by
 * default) end the session without stopping the container.
 */
import fs from 'node:fs';
import { connectSeqpacket, shutdownBoth, shutdownWrite } from '../sys/libc.js';

/** Where output goes: a stream, or anything with a write (the CLI writes to its descriptors directly). */
export interface OutputSink {
  write(data: Uint8Array): unknown;
}

export interface AttachStreams {
  stdout: OutputSink;
  stderr: OutputSink;
  stdin?: NodeJS.ReadableStream;
  /** Bytes that detach, e.g. [16, 17] for ctrl-p,ctrl-q; empty disables. */
  detachKeys?: number[];
}

export interface AttachSession {
  /** Resolves when conmon closed the socket (the container exited) or the user detached. */
  done: Promise<'exited' | 'detached'>;
  close(): void;
}

export function parseDetachKeys(spec: string | undefined): number[] {
  if (spec === undefined) return [16, 17];
  if (spec === '') return [];
  return spec.split(',').map((k) => {
    const m = /^ctrl-(.)$/.exec(k.trim());
    if (m) {
      const c = (m[1] as string).toLowerCase();
      if (c >= 'a' && c <= 'z') return c.charCodeAt(0) - 96;
      return { '@': 0, '[': 27, '\\': 28, ']': 29, '^': 30, _: 31 }[c] ?? 0;
    }
    if (k.length === 1) return k.charCodeAt(0);
    throw new Error(`invalid detach key: ${k}`);
  });
}

const STDIN_PACKET = 8192;

export function attach(socketPath: string, io: AttachStreams): AttachSession {
  const fd = connectSeqpacket(socketPath);
  let closed = false;
  let resolveDone!: (v: 'exited' | 'detached') => void;
  const done = new Promise<'exited' | 'detached'>((r) => {
    resolveDone = r;
  });
  const stopInput = () => {
    io.stdin?.removeListener('data', onInput);
    io.stdin?.removeListener('end', onEnd);
    (io.stdin as NodeJS.ReadStream | undefined)?.pause?.();
  };
  const close = (why: 'exited' | 'detached') => {
    if (closed) return;
    closed = true;
    stopInput();
    // A read blocked in the threadpool would keep the process alive: shut the socket down so it
    // returns, and let the read's callback close the fd (never close under a pending read).
    if (reading) shutdownBoth(fd);
    else closeFd();
    resolveDone(why);
  };
  const buf = Buffer.alloc(32 * 1024 + 1);
  let reading = false;
  let fdClosed = false;
  const closeFd = () => {
    if (fdClosed) return;
    fdClosed = true;
    try {
      fs.closeSync(fd);
    } catch {
      /* already closed */
    }
  };
  const readLoop = () => {
    reading = true;
    fs.read(fd, buf, 0, buf.length, null, (err, n) => {
      reading = false;
      if (closed) return closeFd();
      if (err || n === 0) return close('exited');
      const kind = buf[0];
      const data = Buffer.from(buf.subarray(1, n));
      if (kind === 3) io.stderr.write(data);
      else io.stdout.write(data);
      readLoop();
    });
  };
  readLoop();
  const keys = io.detachKeys ?? [16, 17];
  let matched = 0;
  const onInput = (chunk: Buffer) => {
    if (closed) return;
    if (keys.length) {
      for (const b of chunk) {
        if (b === keys[matched]) {
          matched++;
          if (matched === keys.length) return close('detached');
        } else matched = b === keys[0] ? 1 : 0;
      }
    }
    try {
      // conmon reads the socket in packets of at most 8 KiB; a bigger packet would be cut short.
      for (let off = 0; off < chunk.length; off += STDIN_PACKET) {
        const part = chunk.subarray(off, Math.min(off + STDIN_PACKET, chunk.length));
        let written = 0;
        while (written < part.length) written += fs.writeSync(fd, part.subarray(written));
      }
    } catch {
      // conmon no longer takes input (the container is exiting): stop forwarding it, but keep
      // reading, since the container's last output may still be on its way. Ending the session
      // here lost that output now and then (`run -it` printing nothing).
      stopInput();
    }
  };
  const onEnd = () => {
    if (!closed) shutdownWrite(fd);
  };
  if (io.stdin) {
    io.stdin.on('data', onInput);
    io.stdin.on('end', onEnd);
    io.stdin.resume();
  }
  return { done, close: () => close('detached') };
}

/** Tells conmon the terminal size through the container's ctl fifo ("1 rows cols"). */
export function resizeTerminal(ctlPath: string, rows: number, cols: number): void {
  try {
    const fd = fs.openSync(ctlPath, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
    try {
      fs.writeSync(fd, `1 ${rows} ${cols}\n`);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    /* container gone */
  }
}
