/**
 * A small Engine API client over a unix socket (for `berth --host`). HTTP errors come back as
 * BerthError with the class the status stands for and the server's message.
 */
import http from 'node:http';
import { BerthError, type ErrorCode } from '../errors.js';
import { socketPathOf } from './server.js';

const CODE_FOR_STATUS: Record<number, ErrorCode> = { 400: 'invalid_argument', 401: 'unauthenticated', 403: 'permission_denied', 404: 'not_found', 409: 'conflict', 501: 'not_implemented', 503: 'unavailable' };

export class ApiClient {
  readonly socketPath: string;
  constructor(host: string) {
    this.socketPath = socketPathOf(host);
  }

  /** Sends a request; resolves with the response stream once headers arrive (status < 400). */
  stream(method: string, path: string, body?: unknown): Promise<http.IncomingMessage> {
    return new Promise((resolve, reject) => {
      const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
      const req = http.request(
        { socketPath: this.socketPath, method, path: `/v1.45${path}`, headers: data ? { 'Content-Type': 'application/json', 'Content-Length': String(data.length) } : {} },
        (res) => {
          if ((res.statusCode ?? 500) < 400) return resolve(res);
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            let msg = Buffer.concat(chunks).toString();
            try {
              msg = (JSON.parse(msg) as { message: string }).message;
            } catch {
              /* not JSON */
            }
            reject(new BerthError(CODE_FOR_STATUS[res.statusCode ?? 500] ?? 'internal', msg));
          });
        },
      );
      req.on('error', (e) =>
        reject(new BerthError('unavailable', `Cannot connect to the Berth API at unix://${this.socketPath}: ${e.message}`, { hint: 'start it with berth system service, or unset BERTH_HOST', cause: e })),
      );
      req.end(data);
    });
  }

  async json<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await this.stream(method, path, body);
    const chunks: Buffer[] = [];
    for await (const c of res) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString();
    return (text ? JSON.parse(text) : undefined) as T;
  }
}

/** Splits Docker's stdcopy frames from a stream into stdout/stderr writes. */
export async function demuxTo(src: NodeJS.ReadableStream, stdout: NodeJS.WritableStream, stderr: NodeJS.WritableStream, raw: boolean): Promise<void> {
  let buf = Buffer.alloc(0);
  for await (const c of src) {
    if (raw) {
      stdout.write(c as Buffer);
      continue;
    }
    buf = Buffer.concat([buf, c as Buffer]);
    while (buf.length >= 8) {
      const n = buf.readUInt32BE(4);
      if (buf.length < 8 + n) break;
      (buf[0] === 2 ? stderr : stdout).write(buf.subarray(8, 8 + n));
      buf = buf.subarray(8 + n);
    }
  }
}
