/**
 * A private dockerd for interoperability tests: its own data root, exec root, socket and bridge
 * (created here, never `--bridge none`, which would delete another daemon's docker0). Containers
 * run with `--network none`. `stop()` ends the daemon by its pid, unmounts what it left and
 * deletes the bridge, also after a failed start.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { mountsUnder, sleep, which } from './helpers.js';

export interface DockerResult {
  code: number;
  stdout: string;
  stderr: string;
}

export class PrivateDockerd {
  readonly dir: string;
  readonly bridge: string;
  readonly socket: string;
  private proc: ChildProcess | undefined;
  private bridgeMade = false;
  /** Why the daemon could not start (the tests skip with this reason), once `start` has failed. */
  failure: string | undefined;

  constructor() {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-dockerd-'));
    // Interface names are at most 15 bytes.
    this.bridge = `bdk${randomBytes(4).toString('hex')}`;
    this.socket = path.join(this.dir, 'docker.sock');
  }

  /** Starts dockerd and waits until it answers; returns false (with `failure` set) when it cannot. */
  async start(timeoutMs = 60_000): Promise<boolean> {
    if (!which('dockerd') || !which('docker')) {
      this.failure = 'dockerd or docker is not installed (Debian package docker.io)';
      return false;
    }
    const ip = (a: string[]) => spawnSync('ip', a, { encoding: 'utf8' });
    const made = ip(['link', 'add', this.bridge, 'type', 'bridge']);
    if (made.status !== 0) {
      this.failure = `cannot create bridge ${this.bridge}: ${made.stderr.trim()}`;
      return false;
    }
    this.bridgeMade = true;
    ip(['link', 'set', this.bridge, 'up']);
    const log = fs.openSync(path.join(this.dir, 'dockerd.log'), 'a');
    this.proc = spawn(
      'dockerd',
      [
        '--data-root', path.join(this.dir, 'data'),
        '--exec-root', path.join(this.dir, 'exec'),
        '-H', `unix://${this.socket}`,
        '--pidfile', path.join(this.dir, 'docker.pid'),
        '--bridge', this.bridge,
        '--iptables=false',
        '--ip-masq=false',
        '--storage-driver', 'overlay2',
        // A private containerd per daemon so nothing is shared with another dockerd on the machine.
        '--containerd-namespace', `berth-test-${path.basename(this.dir)}`,
        '--containerd-plugins-namespace', `berth-test-p-${path.basename(this.dir)}`,
      ],
      { stdio: ['ignore', log, log] },
    );
    fs.closeSync(log);
    const exited = new Promise<void>((r) => this.proc?.once('exit', () => r()));
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      if (this.proc.exitCode !== null) break;
      if (fs.existsSync(this.socket) && this.docker(['version', '--format', '{{.Server.Version}}']).code === 0) return true;
      await Promise.race([sleep(200), exited]);
    }
    this.failure = `dockerd did not start: ${this.logTail()}`;
    await this.stop();
    return false;
  }

  /** Runs the docker CLI against this daemon. */
  docker(args: string[], opts: { input?: Buffer | string; timeout?: number } = {}): DockerResult {
    const r = spawnSync('docker', args, {
      env: { ...process.env, DOCKER_HOST: `unix://${this.socket}`, DOCKER_CONFIG: path.join(this.dir, 'cli') },
      input: opts.input,
      timeout: opts.timeout ?? 120_000,
      maxBuffer: 256 * 1024 * 1024,
    });
    return { code: r.status ?? -1, stdout: r.stdout?.toString() ?? '', stderr: r.stderr?.toString() ?? '' };
  }

  /** Like `docker` but throws (with stderr and the daemon's log tail) unless it exits 0. */
  ok(args: string[], opts: { input?: Buffer | string; timeout?: number } = {}): string {
    const r = this.docker(args, opts);
    if (r.code !== 0) throw new Error(`docker ${args.join(' ')} exited ${r.code}\n${r.stderr}\ndockerd log:\n${this.logTail()}`);
    return r.stdout;
  }

  logTail(lines = 15): string {
    try {
      return fs.readFileSync(path.join(this.dir, 'dockerd.log'), 'utf8').trim().split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  }

  /** Stops the daemon (SIGTERM, then SIGKILL), unmounts its leftovers, deletes the bridge and the directory. */
  async stop(): Promise<void> {
    const p = this.proc;
    if (p && p.exitCode === null && p.signalCode === null) {
      const gone = new Promise<void>((r) => p.once('exit', () => r()));
      p.kill('SIGTERM');
      const t = setTimeout(() => p.kill('SIGKILL'), 20_000);
      await gone;
      clearTimeout(t);
    }
    this.proc = undefined;
    for (const m of mountsUnder(this.dir).reverse()) spawnSync('umount', ['-l', m]);
    if (this.bridgeMade) spawnSync('ip', ['link', 'del', this.bridge]);
    this.bridgeMade = false;
    if (!process.env.BERTH_KEEP_TEST_STORE) fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
