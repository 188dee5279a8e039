/**
 * A small Engine API client over a unix socket (for `berth --host`). HTTP errors come back as
 * BerthError with the class the status stands for and the server's message; streams (logs,
 * JSON-lines progress, hijacked attach/exec connections) are handed to the caller.
 */
import http from 'node:http';
import type { Duplex, Readable } from 'node:stream';
import { BerthError, type ErrorCode } from '../errors.js';
import { socketPathOf } from './server.js';

const CODE_FOR_STATUS: Record<number, ErrorCode> = { 400: 'invalid_argument', 401: 'unauthenticated', 403: 'permission_denied', 404: 'not_found', 409: 'conflict', 501: 'not_implemented', 503: 'unavailable' };

export interface RequestOptions {
  /** JSON-encoded unless a Buffer or a stream (sent as is, with `contentType`). */
  body?: unknown;
  contentType?: string;
  headers?: Record<string, string>;
}

/** A hijacked connection (attach, exec start): raw bytes both ways after the 101 answer. */
export interface Hijacked {
  socket: Duplex;
  /** Bytes that arrived with the response headers. */
  head: Buffer;
}

export class ApiClient {
  readonly socketPath: string;
  /** One kept-alive connection for a command's sequence of calls; close() ends whatever is left. */
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  constructor(host: string) {
    this.socketPath = socketPathOf(host);
  }

  /** Ends every connection still open (a wait the command no longer needs, idle kept-alive ones). */
  close(): void {
    this.agent.destroy();
  }

  private send(method: string, path: string, o: RequestOptions, upgrade: boolean): { req: http.ClientRequest; failed: Promise<never> } {
    const raw = o.body === undefined || Buffer.isBuffer(o.body) || isReadable(o.body);
    const data = o.body === undefined ? undefined : raw ? o.body : Buffer.from(JSON.stringify(o.body));
    const headers: Record<string, string> = { ...o.headers };
    if (data !== undefined) headers['Content-Type'] = o.contentType ?? (raw ? 'application/octet-stream' : 'application/json');
    if (Buffer.isBuffer(data)) headers['Content-Length'] = String(data.length);
    if (upgrade) Object.assign(headers, { Connection: 'Upgrade', Upgrade: 'tcp' });
    const req = http.request({ socketPath: this.socketPath, method, path: `/v1.45${path}`, headers, ...(upgrade ? {} : { agent: this.agent }) });
    const failed = new Promise<never>((_r, reject) => {
      req.on('error', (e) =>
        reject(new BerthError('unavailable', `Cannot connect to the Berth API at unix://${this.socketPath}: ${e.message}`, { hint: 'start it with berth system service, or unset BERTH_HOST', cause: e })),
      );
    });
    failed.catch(() => undefined);
    if (data === undefined) req.end();
    else if (Buffer.isBuffer(data)) req.end(data);
    else (data as Readable).pipe(req);
    return { req, failed };
  }

  /** Sends a request; resolves with the response stream once headers arrive (status < 400). */
  stream(method: string, path: string, body?: unknown, o: Omit<RequestOptions, 'body'> = {}): Promise<http.IncomingMessage> {
    const { req, failed } = this.send(method, path, { ...o, body }, false);
    const answered = new Promise<http.IncomingMessage>((resolve, reject) => {
      req.on('response', (res) => {
        if ((res.statusCode ?? 500) < 400) resolve(res);
        else errorOf(res).then(reject, reject);
      });
    });
    return Promise.race([answered, failed]);
  }

  async json<T = unknown>(method: string, path: string, body?: unknown, o: Omit<RequestOptions, 'body'> = {}): Promise<T> {
    const res = await this.stream(method, path, body, o);
    const text = (await readAll(res)).toString();
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /** POST with `Upgrade: tcp`: resolves with the raw connection once the service switches protocols. */
  hijack(path: string, body?: unknown): Promise<Hijacked> {
    // No body unless given: after the switch, every byte the client sends is the stream's stdin.
    const { req, failed } = this.send('POST', path, body === undefined ? {} : { body }, true);
    const answered = new Promise<Hijacked>((resolve, reject) => {
      req.on('upgrade', (_res, socket, head) => resolve({ socket, head }));
      req.on('response', (res) => {
        if ((res.statusCode ?? 500) >= 400) errorOf(res).then(reject, reject);
        else reject(new BerthError('internal', `the service answered ${res.statusCode} instead of switching protocols for ${path}`));
      });
    });
    return Promise.race([answered, failed]);
  }
}

function isReadable(v: unknown): v is Readable {
  return typeof v === 'object' && v !== null && typeof (v as Readable).pipe === 'function';
}

async function readAll(src: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of src) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function errorOf(res: http.IncomingMessage): Promise<BerthError> {
  let msg = (await readAll(res)).toString();
  try {
    msg = (JSON.parse(msg) as { message: string }).message;
  } catch {
    /* not JSON */
  }
  return new BerthError(CODE_FOR_STATUS[res.statusCode ?? 500] ?? 'internal', msg);
}

/** Docker's JSON-lines messages (pull, push, build, load); an `error` line rejects. */
export async function readJsonLines(src: NodeJS.ReadableStream, onMessage: (m: JsonMessage) => void): Promise<void> {
  let rest = '';
  const handle = (line: string) => {
    if (!line.trim()) return;
    const m = JSON.parse(line) as JsonMessage;
    if (m.error !== undefined || m.errorDetail) throw new BerthError('internal', m.errorDetail?.message ?? m.error ?? 'unknown error');
    onMessage(m);
  };
  for await (const c of src) {
    rest += (c as Buffer).toString();
    const lines = rest.split('\n');
    rest = lines.pop() ?? '';
    for (const l of lines) handle(l);
  }
  handle(rest);
}

export interface JsonMessage {
  id?: string;
  status?: string;
  stream?: string;
  progressDetail?: { current?: number; total?: number };
  aux?: Record<string, unknown>;
  error?: string;
  errorDetail?: { message: string };
  /** Berth's build event behind a `stream` line (remote `berth build` renders it like a local build). */
  berthBuildEvent?: unknown;
}

/** Splits Docker's stdcopy frames from a stream into stdout/stderr writes. */
export async function demuxTo(src: NodeJS.ReadableStream, stdout: NodeJS.WritableStream, stderr: NodeJS.WritableStream, raw: boolean, head?: Buffer): Promise<void> {
  let buf = head ?? Buffer.alloc(0);
  const flush = () => {
    while (buf.length >= 8) {
      const n = buf.readUInt32BE(4);
      if (buf.length < 8 + n) break;
      (buf[0] === 2 ? stderr : stdout).write(buf.subarray(8, 8 + n));
      buf = buf.subarray(8 + n);
    }
  };
  if (raw && buf.length) {
    stdout.write(buf);
    buf = Buffer.alloc(0);
  } else flush();
  for await (const c of src) {
    if (raw) {
      stdout.write(c as Buffer);
      continue;
    }
    buf = Buffer.concat([buf, c as Buffer]);
    flush();
  }
}
