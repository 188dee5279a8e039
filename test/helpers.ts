/**
 * Shared helpers for integration tests: each test file gets its own store (root + runroot in a
 * temp dir), runs the real CLI, and tears everything down (containers, mounts) even on failure.
 */
import { type SpawnSyncReturns, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Network rule: tests never contact Docker Hub. Every berth process a test starts inherits a
 * registries config that blocks docker.io (a test that needs its own config sets the variable).
 */
if (!process.env.BERTH_REGISTRIES_CONF) {
  const conf = path.join(os.tmpdir(), `berth-test-registries-${process.pid}.json`);
  fs.writeFileSync(conf, JSON.stringify({ blocked: ['docker.io'] }));
  process.env.BERTH_REGISTRIES_CONF = conf;
  process.on('exit', () => fs.rmSync(conf, { force: true }));
}

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BIN = path.join(REPO, 'bin', 'berth');

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export class TestStore {
  readonly dir: string;
  readonly root: string;
  readonly runroot: string;
  constructor(name: string) {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), `berth-${name}-`));
    this.root = path.join(this.dir, 'root');
    this.runroot = path.join(this.dir, 'run');
  }

  args(a: string[]): string[] {
    return ['--root', this.root, '--runroot', this.runroot, ...a];
  }

  /** Runs berth synchronously. */
  run(a: string[], opts: { input?: string | Buffer; env?: Record<string, string>; timeout?: number } = {}): RunResult {
    const r: SpawnSyncReturns<Buffer> = spawnSync(BIN, this.args(a), {
      input: opts.input,
      env: { ...process.env, ...opts.env },
      timeout: opts.timeout ?? 60_000,
      maxBuffer: 256 * 1024 * 1024,
    });
    return { code: r.status ?? -1, stdout: r.stdout?.toString() ?? '', stderr: r.stderr?.toString() ?? '' };
  }

  /** Runs berth and fails the test (with its stderr) unless it exits 0. */
  ok(a: string[], opts: { input?: string | Buffer; timeout?: number } = {}): string {
    const r = this.run(a, opts);
    if (r.code !== 0) throw new Error(`berth ${a.join(' ')} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
    return r.stdout;
  }

  /** Runs berth asynchronously (for -f, attach, long runs). */
  spawn(a: string[]) {
    return spawn(BIN, this.args(a), { stdio: ['pipe', 'pipe', 'pipe'] });
  }

  /** The local busybox base image, made from Debian's busybox-static. */
  busybox(): void {
    const r = spawnSync('bash', [path.join(REPO, 'scripts', 'make-busybox-image.sh'), '--root', this.root, '--runroot', this.runroot]);
    if (r.status !== 0) throw new Error(`making busybox failed: ${r.stderr}`);
  }

  /** Removes every container and unmounts anything left under the store, then deletes it. */
  cleanup(): void {
    if (process.env.BERTH_KEEP_TEST_STORE) return;
    const ids = this.run(['ps', '-aq', '--no-trunc']).stdout.split('\n').filter(Boolean);
    if (ids.length) this.run(['rm', '-f', ...ids]);
    // Bridges, firewall rules and address reservations of this store's networks live outside it.
    this.run(['network', 'reset']);
    for (const m of mountsUnder(this.dir).reverse()) spawnSync('umount', ['-l', m]);
    fs.rmSync(this.dir, { recursive: true, force: true });
    // runc leaves the (empty) cgroup parent of this store behind.
    const parent = `berth-${createHash('sha256').update(path.resolve(this.root)).digest('hex').slice(0, 10)}`;
    for (const ctrl of fs.existsSync('/sys/fs/cgroup') ? fs.readdirSync('/sys/fs/cgroup') : []) {
      try {
        fs.rmdirSync(path.join('/sys/fs/cgroup', ctrl, parent));
      } catch {
        /* absent or not empty */
      }
    }
  }
}

export function mountsUnder(dir: string): string[] {
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((m) => m.startsWith(`${dir}/`));
}

export function conmonsFor(dir: string): number[] {
  const out: number[] = [];
  for (const p of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const cmd = fs.readFileSync(`/proc/${p}/cmdline`, 'utf8');
      if (cmd.startsWith('conmon') && cmd.includes(dir)) out.push(Number(p));
    } catch {
      /* gone */
    }
  }
  return out;
}

export const isRoot = process.getuid?.() === 0;

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `fn` until it returns truthy or the timeout passes. */
export async function eventually<T>(fn: () => T | undefined | false, timeoutMs = 10_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(50);
  }
}

export function which(bin: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${bin}`]).status === 0;
}

/** GET http://host:port/ (loopback only) with a 3 s timeout: the body as text. */
export function httpGet(port: number, host: '127.0.0.1' | '::1' = '127.0.0.1'): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get({ host, port, path: '/', timeout: 3000 }, (r) => {
        let d = '';
        r.on('data', (c: Buffer) => (d += c.toString()));
        r.on('end', () => resolve(d));
      })
      .on('error', reject)
      .on('timeout', function (this: http.ClientRequest) {
        this.destroy(new Error('timeout'));
      });
  });
}
