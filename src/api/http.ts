/**
 * Request plumbing for the Engine API: routing with `{param}` segments, API-version prefixes,
 * query and JSON-body helpers, Docker's stream framing and the connection hijack (101 UPGRADED).
 */
import type http from 'node:http';
import type { Duplex, Writable } from 'node:stream';
import { invalidArgument } from '../errors.js';

export const API_MIN = '1.24';
export const API_MAX = '1.45';
/** Request bodies above this are refused (413); image loads and archives stream and have no limit. */
export const MAX_JSON_BODY = 8 * 1024 * 1024;

export interface ApiContext {
  req: http.IncomingMessage;
  /** Absent for upgraded (hijacked) requests until the handler answers on `socket`. */
  res: http.ServerResponse | undefined;
  /** The raw connection for `Upgrade: tcp` requests (attach, exec start). */
  socket: Duplex | undefined;
  head: Buffer | undefined;
  params: Record<string, string>;
  query: URLSearchParams;
  /** Negotiated version, e.g. "1.45". */
  version: string;
  /** Aborted when the client goes away: streams stop and release what they hold. */
  signal: AbortSignal;
}

export type RouteHandler = (ctx: ApiContext) => Promise<void>;

interface Route {
  method: string;
  parts: string[];
  handler: RouteHandler;
}

export class Router {
  private routes: Route[] = [];
  add(method: string, pattern: string, handler: RouteHandler): this {
    this.routes.push({ method, parts: pattern.split('/').filter(Boolean), handler });
    return this;
  }
  /** 'method' when the path exists with another method (405), undefined when unknown (404). */
  match(method: string, path: string): { handler: RouteHandler; params: Record<string, string> } | 'method' | undefined {
    const segs = path.split('/').filter(Boolean);
    let other = false;
    for (const r of this.routes) {
      const params = matchParts(r.parts, segs);
      if (!params) continue;
      if (r.method === method || (method === 'HEAD' && r.method === 'GET')) return { handler: r.handler, params };
      other = true;
    }
    return other ? 'method' : undefined;
  }
}

function matchParts(parts: string[], segs: string[]): Record<string, string> | undefined {
  const params: Record<string, string> = {};
  // A trailing `{name*}` takes the rest (image names contain slashes: /images/a/b:c/json).
  for (let i = 0, j = 0; i < parts.length; i++, j++) {
    const p = parts[i] as string;
    if (p.endsWith('*}')) {
      const rest = parts.length - i - 1;
      if (segs.length - j - rest < 1) return undefined;
      params[p.slice(1, -2)] = decodeURIComponent(segs.slice(j, segs.length - rest).join('/'));
      j = segs.length - rest - 1;
      continue;
    }
    const s = segs[j];
    if (s === undefined) return undefined;
    if (p.startsWith('{')) params[p.slice(1, -1)] = decodeURIComponent(s);
    else if (p !== s) return undefined;
    if (i === parts.length - 1 && j !== segs.length - 1) return undefined;
  }
  if (parts.length === 0 && segs.length) return undefined;
  return params;
}

/** Splits `/v1.41/containers/json` into version and path; docker's messages for bad versions. */
export function splitVersion(pathname: string): { version: string; path: string } {
  const m = /^\/v([0-9]+\.[0-9]+)(\/.*)?$/.exec(pathname);
  if (!m) return { version: API_MAX, path: pathname };
  const v = m[1] as string;
  if (compareVersions(v, API_MAX) > 0)
    throw invalidArgument(`client version ${v} is too new. Maximum supported API version is ${API_MAX}`);
  if (compareVersions(v, API_MIN) < 0)
    throw invalidArgument(`client version ${v} is too old. Minimum supported API version is ${API_MIN}, please upgrade your client to a newer version`);
  return { version: v, path: m[2] ?? '/' };
}

export function compareVersions(a: string, b: string): number {
  const [a1 = 0, a2 = 0] = a.split('.').map(Number);
  const [b1 = 0, b2 = 0] = b.split('.').map(Number);
  return a1 - b1 || a2 - b2;
}

// ------------------------------------------------------------------ query and body

/** Docker's boolean query values: 1/true/True are true, 0/false/empty are false. */
export function qBool(q: URLSearchParams, name: string, dflt = false): boolean {
  const v = q.get(name);
  if (v === null) return dflt;
  if (/^(1|true|yes)$/i.test(v)) return true;
  if (v === '' || /^(0|false|no)$/i.test(v)) return false;
  throw invalidArgument(`invalid value for ${name}: ${v}`);
}

export function qInt(q: URLSearchParams, name: string): number | undefined {
  const v = q.get(name);
  if (v === null || v === '') return undefined;
  if (!/^-?\d+$/.test(v)) throw invalidArgument(`invalid value for ${name}: ${v}`);
  return Number(v);
}

/** `filters={"label":["a=b"]}` (or the pre-1.22 map form {"label":{"a=b":true}}) as a map of lists. */
export function qFilters(q: URLSearchParams, allowed: string[]): Map<string, string[]> {
  const raw = q.get('filters');
  const out = new Map<string, string[]>();
  if (!raw) return out;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw invalidArgument(`invalid filter: ${raw}`);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw invalidArgument(`invalid filter: ${raw}`);
  for (const [k, v] of Object.entries(parsed as Record<string, unknown>)) {
    if (!allowed.includes(k)) throw invalidArgument(`invalid filter '${k}'`);
    const vals = Array.isArray(v) ? v.map(String) : v && typeof v === 'object' ? Object.keys(v) : [String(v)];
    out.set(k, vals);
  }
  return out;
}

/** Reads a JSON body (bounded); an empty body is `{}`. Malformed JSON is a 400 with the parser's words. */
export async function readJson(req: http.IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > MAX_JSON_BODY) throw new BodyTooLarge();
    chunks.push(c as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (!text) return {};
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw invalidArgument(`invalid JSON in request body: ${(e as Error).message}`);
  }
  if (v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw invalidArgument('invalid JSON in request body: expected an object');
  return v as Record<string, unknown>;
}

/**
 * The JSON body of an upgraded request (exec start): Node hands such requests over unparsed, so the
 * body is the first Content-Length bytes of `head` + socket; what follows is the client's stdin.
 */
export async function readUpgradeJson(ctx: ApiContext): Promise<Record<string, unknown>> {
  if (!ctx.socket) return readJson(ctx.req);
  const len = Number(ctx.req.headers['content-length'] ?? 0);
  if (!Number.isInteger(len) || len < 0 || len > MAX_JSON_BODY) throw new BodyTooLarge();
  let buf = ctx.head ?? Buffer.alloc(0);
  const socket = ctx.socket;
  while (buf.length < len) {
    const chunk = await new Promise<Buffer | null>((resolve) => {
      const onData = (c: Buffer) => {
        socket.off('end', onEnd);
        socket.pause();
        resolve(c);
      };
      const onEnd = () => {
        socket.off('data', onData);
        resolve(null);
      };
      socket.once('data', onData);
      socket.once('end', onEnd);
      socket.resume();
    });
    if (!chunk) break;
    buf = Buffer.concat([buf, chunk]);
  }
  ctx.head = buf.subarray(len);
  const text = buf.subarray(0, len).toString('utf8').trim();
  if (!text) return {};
  try {
    const v = JSON.parse(text) as unknown;
    if (!v || typeof v !== 'object' || Array.isArray(v)) throw new SyntaxError('expected an object');
    return v as Record<string, unknown>;
  } catch (e) {
    throw invalidArgument(`invalid JSON in request body: ${(e as Error).message}`);
  }
}

export class BodyTooLarge extends Error {
  constructor() {
    super(`request body larger than ${MAX_JSON_BODY} bytes`);
  }
}

// ------------------------------------------------------------------ responses

export function sendJson(ctx: ApiContext, status: number, body: unknown): void {
  const res = ctx.res;
  const text = JSON.stringify(body);
  if (!res) {
    rawAnswer(ctx, status, text);
    return;
  }
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(ctx.req.method === 'HEAD' ? undefined : text);
}

export function noContent(ctx: ApiContext, status = 204): void {
  if (ctx.res) ctx.res.writeHead(status).end();
  else rawAnswer(ctx, status, '');
}

/** A plain (not switched) answer on a connection that asked to upgrade. */
function rawAnswer(ctx: ApiContext, status: number, text: string): void {
  const type = text ? 'Content-Type: application/json\r\n' : '';
  ctx.socket?.end(`HTTP/1.1 ${status} ${status === 200 ? 'OK' : status === 201 ? 'Created' : status === 204 ? 'No Content' : 'Status'}\r\n${type}Content-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`);
}

/** Docker's stdcopy frame: [stream, 0, 0, 0, size BE32] + payload (1 stdout, 2 stderr, 0 stdin). */
export function frame(stream: 0 | 1 | 2, data: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h[0] = stream;
  h.writeUInt32BE(data.length, 4);
  return Buffer.concat([h, data]);
}

/**
 * Answers a stream-taking request: with `Upgrade: tcp` the connection is switched (101) and becomes
 * a raw bidirectional pipe; otherwise a 200 response carries the output and the request body (if
 * any) is stdin. Docker's media types tell the client whether frames are multiplexed.
 */
export function hijack(ctx: ApiContext, multiplexed: boolean): { out: Writable; input: NodeJS.ReadableStream; end: () => void } {
  const type = multiplexed ? 'application/vnd.docker.multiplexed-stream' : 'application/vnd.docker.raw-stream';
  if (ctx.socket) {
    const s = ctx.socket;
    s.write(`HTTP/1.1 101 UPGRADED\r\nContent-Type: ${type}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n`);
    if (ctx.head?.length) s.unshift(ctx.head);
    return { out: s, input: s, end: () => s.end() };
  }
  const res = ctx.res as http.ServerResponse;
  res.writeHead(200, { 'Content-Type': type });
  res.flushHeaders();
  return { out: res, input: ctx.req, end: () => res.end() };
}
