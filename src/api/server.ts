/**
 * The Docker Engine API over a unix socket (root only, mode 0600), served from the same engine
 * code as the CLI. Errors become Docker's `{"message"}` bodies at this one boundary; requests can
 * be logged as JSON lines (`BERTH_API_LOG=FILE`) to record what clients call.
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { ContainerService } from '../container/service.js';
import type { Engine } from '../engine/engine.js';
import { BerthError } from '../errors.js';
import { type ApiState, registerContainers } from './containers.js';
import { errorBody, httpStatusFor } from './errors.js';
import { registerExec } from './exec.js';
import { API_MAX, type ApiContext, BodyTooLarge, Router, splitVersion } from './http.js';
import { moduleMissing, registerImages } from './images.js';
import { SERVER_HEADER, registerSystem } from './system.js';
import { registerVolumes } from './volumes.js';
import { registerPrune } from './prune.js';

export interface ServeOptions {
  /** unix:///path or a bare path. */
  socket: string;
  /** Append one JSON line per request (method, path, status) to this file. */
  logFile?: string;
}

export interface ApiServer {
  server: http.Server;
  socketPath: string;
  close(): Promise<void>;
}

export function socketPathOf(spec: string): string {
  if (spec.startsWith('unix://')) return spec.slice('unix://'.length);
  if (/^[a-z]+:\/\//.test(spec)) throw new BerthError('invalid_argument', `unsupported socket address ${spec}: only unix:// sockets are served`);
  return spec;
}

export async function buildRouter(engine: Engine): Promise<Router> {
  const router = new Router();
  const svc = new ContainerService(engine);
  const state: ApiState = { svc, pendingAttach: new Map(), autoRemoved: new Map() };
  registerSystem(router, engine, svc);
  registerPrune(router, engine);
  registerContainers(router, state);
  registerExec(router, svc);
  registerImages(router, engine, svc);
  registerVolumes(router, engine);
  // Networks exist only when the networks module is part of this build.
  const net = await import('./networks.js').catch(moduleMissing);
  if (net) await net.registerNetworks(router, engine, svc);
  return router;
}

export async function serve(engine: Engine, opts: ServeOptions): Promise<ApiServer> {
  const socketPath = socketPathOf(opts.socket);
  const router = await buildRouter(engine);
  // Written synchronously: a line is in the file when the client has its answer (tests read it).
  const logFd = opts.logFile ? fs.openSync(opts.logFile, 'a', 0o600) : undefined;
  const log = logFd === undefined ? undefined : { write: (line: string) => fs.writeSync(logFd, line) };
  const open = new Set<Duplex>();

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse | undefined, socket: Duplex | undefined, head: Buffer | undefined) => {
    const ac = new AbortController();
    const conn = socket ?? req.socket;
    const onClose = () => ac.abort();
    conn.once('close', onClose);
    res?.once('close', () => {
      if (!res.writableFinished) ac.abort();
    });
    let status = 0;
    const started = Date.now();
    const url = new URL(req.url ?? '/', 'http://berth');
    const logLine = (st: number) =>
      log?.write(`${JSON.stringify({ time: new Date(started).toISOString(), method: req.method, path: url.pathname, query: url.search, status: st, ms: Date.now() - started, ua: req.headers['user-agent'] ?? '' })}\n`);
    // One line when the request arrives (status 0), one with the status when it is answered.
    logLine(0);
    try {
      res?.setHeader('Server', SERVER_HEADER);
      res?.setHeader('Api-Version', API_MAX);
      res?.setHeader('Docker-Experimental', 'false');
      res?.setHeader('Ostype', 'linux');
      const { version, path: p } = splitVersion(url.pathname);
      const m = router.match(req.method ?? 'GET', p);
      if (m === undefined) throw new BerthError('not_found', `page not found: ${req.method} ${url.pathname}`);
      if (m === 'method') throw new BerthError('not_found', `page not found: ${req.method} ${url.pathname} (method not allowed)`);
      const ctx: ApiContext = { req, res, socket, head, params: m.params, query: url.searchParams, version, signal: ac.signal };
      await m.handler(ctx);
      status = res?.statusCode ?? 101;
    } catch (e) {
      status = e instanceof BodyTooLarge ? 413 : httpStatusFor(e);
      const body = JSON.stringify(e instanceof BodyTooLarge ? { message: e.message } : errorBody(e));
      if (res && !res.headersSent) {
        res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
        res.end(req.method === 'HEAD' ? undefined : body);
      } else if (res) res.destroy();
      else if (socket && !socket.destroyed) {
        socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? 'Error'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
      }
      if (status >= 500 && process.env.BERTH_API_DEBUG) process.stderr.write(`${(e as Error).stack}\n`);
    } finally {
      conn.off('close', onClose);
      // The rest of an oversized body is not read: close the connection instead.
      if (status === 413) setImmediate(() => conn.destroy());
      logLine(status);
    }
  };

  const server = http.createServer({ keepAliveTimeout: 5000 }, (req, res) => {
    handle(req, res, undefined, undefined).catch(lastResort);
  });
  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    open.add(socket);
    socket.once('close', () => open.delete(socket));
    socket.on('error', () => undefined);
    handle(req, undefined, socket, head).catch(lastResort);
  });
  server.on('connection', (s) => {
    open.add(s);
    s.once('close', () => open.delete(s));
  });
  server.on('clientError', (_e, s) => {
    if (!s.destroyed) s.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
  });
  fs.mkdirSync(path.dirname(socketPath), { recursive: true, mode: 0o700 });
  removeStaleSocket(socketPath);
  const oldMask = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } finally {
    process.umask(oldMask);
  }
  fs.chmodSync(socketPath, 0o600);
  return {
    server,
    socketPath,
    close: async () => {
      await new Promise<void>((r) => {
        server.close(() => r());
        for (const s of open) s.destroy();
      });
      fs.rmSync(socketPath, { force: true });
      if (logFd !== undefined) fs.closeSync(logFd);
    },
  };
}

/** A request must never take the service down: report and keep serving. */
function lastResort(e: unknown): void {
  process.stderr.write(`berth api: internal error: ${(e as Error)?.stack ?? String(e)}\n`);
}

/** A socket file left by a crashed service is removed; one that still answers is in use (conflict). */
function removeStaleSocket(p: string): void {
  let st: fs.Stats;
  try {
    st = fs.statSync(p);
  } catch {
    return;
  }
  if (!st.isSocket()) throw new BerthError('conflict', `${p} exists and is not a socket`, { hint: 'choose another --socket path' });
  fs.rmSync(p);
}
