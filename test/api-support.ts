/**
 * Support for the Engine API tests: a `berth system service` on a socket inside a TestStore, raw
 * HTTP requests over the socket, and the real docker clients pointed at it.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before } from 'node:test';
import { BIN, type RunResult, TestStore, eventually } from './helpers.js';

export interface ServiceHandle {
  socket: string;
  logFile: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** `env` adds to the service's environment (e.g. a DOCKER_CONFIG of its own, apart from its clients'). */
export async function startService(store: TestStore, env: Record<string, string> = {}): Promise<ServiceHandle> {
  const socket = path.join(store.dir, 'api.sock');
  const logFile = path.join(store.dir, 'api-requests.jsonl');
  const child = spawn(BIN, ['--root', store.root, '--runroot', store.runroot, 'system', 'service', '--socket', `unix://${socket}`, '--log-requests', logFile], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, ...env },
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  await eventually(() => fs.existsSync(socket) || child.exitCode !== null, 15_000);
  if (!fs.existsSync(socket)) throw new Error(`berth system service did not start: ${stderr}`);
  return {
    socket,
    logFile,
    child,
    stop: async () => {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    },
  };
}

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

const quietSockets = new WeakSet<object>();

export function request(socket: string, method: string, p: string, body?: unknown, headers: Record<string, string> = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : Buffer.isBuffer(body) ? body : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
    const req = http.request({ socketPath: socket, method, path: p, headers: { ...(data ? { 'Content-Type': 'application/json', 'Content-Length': String(data.length) } : {}), ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    // A server that answers early (413) and closes: the rest of the body hits a closed socket after
    // the request let go of it; that EPIPE is expected, not a test failure.
    // Once per socket: the global agent keeps sockets alive, and a listener per request piled up
    // past Node's MaxListeners warning.
    req.on('socket', (sock) => {
      if (quietSockets.has(sock)) return;
      quietSockets.add(sock);
      sock.on('error', () => undefined);
    });
    req.end(data);
  });
}

export const json = (r: RawResponse): unknown => JSON.parse(r.body.toString());

/** Demultiplexes Docker's stdcopy frames. */
export function demux(b: Buffer): { stdout: string; stderr: string } {
  let out = '';
  let err = '';
  for (let i = 0; i + 8 <= b.length; ) {
    const n = b.readUInt32BE(i + 4);
    const s = b.subarray(i + 8, i + 8 + n).toString();
    if (b[i] === 2) err += s;
    else out += s;
    i += 8 + n;
  }
  return { stdout: out, stderr: err };
}

export function dockerCli(bin: string, socket: string, args: string[], opts: { input?: string; timeout?: number } = {}): RunResult {
  const r = spawnSync(bin, args, { env: { ...process.env, DOCKER_HOST: `unix://${socket}`, DOCKER_CONFIG: path.join(path.dirname(socket), 'docker-config') }, input: opts.input, timeout: opts.timeout ?? 60_000 });
  return { code: r.status ?? -1, stdout: r.stdout?.toString() ?? '', stderr: r.stderr?.toString() ?? '' };
}

/** The endpoints (method + path with ids replaced) a request log holds. */
export function endpointsIn(logFile: string, ua?: RegExp): string[] {
  const out = new Set<string>();
  for (const l of fs.readFileSync(logFile, 'utf8').split('\n')) {
    if (!l) continue;
    const e = JSON.parse(l) as { method: string; path: string; ua: string };
    if (ua && !ua.test(e.ua)) continue;
    const p = e.path
      .replace(/^\/v[0-9.]+/, '')
      .replace(/^\/(containers|exec|volumes|networks|plugins)\/([^/]+)/, (m, k: string, id: string) => (['json', 'create', 'prune'].includes(id) ? m : `/${k}/{id}`))
      .replace(/^\/images\/(?!json$|create$|load$|get$|prune$).+?\/(json|history|tag|push|get)$/, '/images/{name}/$1');
    out.add(`${e.method} ${p}`);
  }
  return [...out].sort();
}

/**
 * The usual suite set-up: a store with busybox and a service on it, started before the suite's
 * tests and stopped (store removed) after them. `svc` reads through to the running service.
 */
export function useService(name: string, env: Record<string, string> = {}): { store: TestStore; svc: ServiceHandle } {
  const store = new TestStore(name);
  let h: ServiceHandle | undefined;
  const running = (): ServiceHandle => {
    if (!h) throw new Error(`the ${name} service is not running`);
    return h;
  };
  const svc: ServiceHandle = {
    get socket() {
      return running().socket;
    },
    get logFile() {
      return running().logFile;
    },
    get child() {
      return running().child;
    },
    stop: async () => h?.stop(),
  };
  before(async () => {
    store.busybox();
    h = await startService(store, env);
  });
  after(async () => {
    await h?.stop();
    store.cleanup();
  });
  return { store, svc };
}
