/**
 * A throw-away registry for the push/pull case: Debian's docker-registry (distribution 2.8) on a free
 * port of 127.0.0.1 with its storage in the bench's work directory. `reset()` restarts it empty, so
 * every push uploads every byte (no blob already there, no cross-repository mount).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

export interface Registry {
  /** "127.0.0.1:PORT", to put in front of an image name. */
  host: string;
  /** Stops the registry, deletes its storage and starts it again on the same port (blocking). */
  reset(): void;
  stop(): void;
}

async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = net.createServer();
    s.on('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => res(port));
    });
  });
}

/** Blocks until a TCP connect to 127.0.0.1:port succeeds (the registry is listening), or throws. */
function waitListening(port: number, timeoutMs: number): void {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (canConnect(port)) return;
    if (Date.now() > end) throw new Error(`docker-registry did not listen on 127.0.0.1:${port} within ${timeoutMs} ms`);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
  }
}

function canConnect(port: number): boolean {
  // bash's /dev/tcp: a synchronous connect without an extra dependency.
  const { status } = spawnSync('bash', ['-c', `exec 3<>/dev/tcp/127.0.0.1/${port}`]);
  return status === 0;
}

export async function startRegistry(dir: string): Promise<Registry> {
  const port = await freePort();
  const storage = path.join(dir, 'storage');
  const config = path.join(dir, 'config.yml');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(
    config,
    [
      'version: 0.1',
      'log:',
      '  level: error',
      '  accesslog:',
      '    disabled: true',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${storage}`,
      '  delete:',
      '    enabled: true',
      'http:',
      `  addr: 127.0.0.1:${port}`,
      '',
    ].join('\n'),
  );
  let child: ChildProcess | undefined;
  const start = () => {
    fs.rmSync(storage, { recursive: true, force: true });
    fs.mkdirSync(storage, { recursive: true });
    const log = fs.openSync(path.join(dir, 'registry.log'), 'a');
    child = spawn('docker-registry', ['serve', config], { stdio: ['ignore', log, log] });
    fs.closeSync(log);
    waitListening(port, 15_000);
  };
  const stop = () => {
    if (!child || child.exitCode !== null || child.pid === undefined) return;
    const pid = child.pid;
    child.kill('SIGTERM');
    // Wait for the process to be gone before the port and storage are reused.
    const end = Date.now() + 5000;
    while (Date.now() < end && alive(pid)) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    if (alive(pid)) child.kill('SIGKILL');
    child = undefined;
  };
  start();
  return {
    host: `127.0.0.1:${port}`,
    reset: () => {
      stop();
      start();
    },
    stop: () => {
      stop();
      fs.rmSync(storage, { recursive: true, force: true });
    },
  };
}

function alive(pid: number): boolean {
  try {
    // A zombie still answers kill(0); read its state to tell.
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}
