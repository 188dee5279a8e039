/**
 * The engines a benchmark drives, each as a command line: Berth in its own temporary store, docker
 * through the private dockerd that `--setup` starts, podman/buildah in their own storage. Commands
 * are timed as wall time of the whole process, as a user would see it.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { EngineName } from './types.js';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const BERTH_BIN = path.join(REPO, 'bin', 'berth');

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
  /** Wall time of the process in milliseconds. */
  ms: number;
}

export interface ExecOptions {
  input?: string | Buffer;
  env?: Record<string, string | undefined>;
  timeoutMs?: number;
  /** Return a failing result instead of throwing. */
  allowFail?: boolean;
}

/** A command that exited non-zero: names the command line and carries its stderr. */
export class CommandFailed extends Error {
  constructor(
    readonly argv: string[],
    readonly result: ExecResult,
  ) {
    const err = result.stderr.trim().split('\n').slice(-3).join(' | ');
    super(`\`${argv.join(' ')}\` exited ${result.code}: ${err || '(no stderr)'}`);
  }
}

/** Observers of every command's output (the profiler collects BERTH_TIMINGS lines from stderr). */
export const outputObservers: Array<(argv: string[], r: ExecResult) => void> = [];

/** Runs a command to completion and measures its wall time. Throws CommandFailed unless allowFail. */
export function exec(argv: string[], opts: ExecOptions = {}): ExecResult {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(argv[0] as string, argv.slice(1), {
    input: opts.input,
    env: { ...process.env, ...opts.env },
    timeout: opts.timeoutMs ?? 600_000,
    maxBuffer: 64 * 1024 * 1024,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const res: ExecResult = {
    code: r.status ?? -1,
    stdout: r.stdout?.toString() ?? '',
    stderr: r.error ? `${r.error.message}\n${r.stderr?.toString() ?? ''}` : (r.stderr?.toString() ?? ''),
    ms,
  };
  for (const o of outputObservers) o(argv, res);
  if (res.code !== 0 && !opts.allowFail) throw new CommandFailed(argv, res);
  return res;
}

/** True when `bin` is an executable on PATH (or an absolute path to one). */
export function have(bin: string): boolean {
  if (bin.startsWith('/')) return fs.existsSync(bin);
  return spawnSync('sh', ['-c', `command -v "${bin}"`], { stdio: 'ignore' }).status === 0;
}

/**
 * One engine's command line. `cli(args)` runs the docker-shaped CLI; the few places where the
 * engines differ (build, push/pull flags, image names) are methods here so cases stay engine-blind.
 */
export class BenchEngine {
  /** Extra environment for every command of this engine (the profiler sets NODE_OPTIONS here). */
  env: Record<string, string> = {};
  /** Prefix before the command (the profiler sets `strace -f -c -o FILE`). */
  wrap: string[] = [];

  constructor(
    readonly name: Exclude<EngineName, 'floor'>,
    private readonly base: string[],
    private readonly extra: {
      /** Command line for `build` (docker: Debian's 20.10 client with BuildKit; podman: buildah). */
      build?: string[];
      buildEnv?: Record<string, string>;
      /** Flags for push/pull against a plain-HTTP registry on loopback. */
      insecure?: string[];
      /** Data root of the engine (to find its monitor processes). */
      root?: string;
    } = {},
  ) {}

  /** Node flags for Berth's own process (the profiler sets --cpu-prof; NODE_OPTIONS refuses it). */
  nodeFlags: string[] = [];

  argv(args: string[]): string[] {
    const [cmd, ...rest] = this.base;
    return [...this.wrap, cmd as string, ...this.nodeFlags, ...rest, ...args];
  }

  /** Runs the engine's CLI; throws CommandFailed when it exits non-zero (unless allowFail). */
  cli(args: string[], opts: ExecOptions = {}): ExecResult {
    return exec(this.argv(args), { ...opts, env: { ...this.env, ...opts.env } });
  }

  /** Wall time in ms of one CLI command that must succeed. */
  time(args: string[], opts: ExecOptions = {}): number {
    return this.cli(args, opts).ms;
  }

  /** `build -t TAG [--no-cache] CONTEXT` with the engine's builder. */
  build(tag: string, context: string, opts: { noCache?: boolean } = {}): ExecResult {
    const cmd = this.extra.build ?? this.base;
    const sub = this.name === 'podman' ? ['bud', '--layers'] : ['build'];
    const args = [...sub, '-q', '-t', tag, ...(opts.noCache ? ['--no-cache'] : []), context];
    return exec([...this.wrap, ...cmd, ...args], { env: { ...this.env, ...this.extra.buildEnv } });
  }

  /** Flags push and pull need for a plain-HTTP registry on 127.0.0.1. */
  get insecureFlags(): string[] {
    return this.extra.insecure ?? [];
  }

  get root(): string | undefined {
    return this.extra.root;
  }

  /** Removes every container of this engine's store (bench stores are private to the bench). */
  removeAllContainers(): void {
    const ids = this.cli(['ps', '-aq'], { allowFail: true }).stdout.split('\n').filter(Boolean);
    for (let i = 0; i < ids.length; i += 50) this.cli(['rm', '-f', ...ids.slice(i, i + 50)], { allowFail: true });
  }

  /** Removes the images whose name contains `bench/` (all that cases create), then dangling ones. */
  removeBenchImages(): void {
    const names = this.cli(['images', '--format', '{{.Repository}}:{{.Tag}}'], { allowFail: true })
      .stdout.split('\n')
      .filter((n) => n.includes('bench/'));
    for (let i = 0; i < names.length; i += 50) this.cli(['rmi', '-f', ...names.slice(i, i + 50)], { allowFail: true });
    this.cli(['image', 'prune', '-f'], { allowFail: true });
  }
}

/**
 * A private copy of the built CLI (bin/, dist/bundle/, package.json; node_modules linked) so a
 * rebuild of the work tree during a run cannot change or break the Berth being measured. Returns
 * the copy's bin/berth, or the work tree's when there is no bundle to copy.
 */
export function snapshotBerth(dir: string): string {
  const bundle = path.join(REPO, 'dist', 'bundle');
  const end = Date.now() + 60_000;
  // A concurrent `npm run build` deletes and rewrites dist/bundle: wait for it to come back.
  while (!fs.existsSync(path.join(bundle, 'main.cjs')) && fs.existsSync(path.join(REPO, 'scripts', 'bundle.mjs'))) {
    if (Date.now() > end) throw new Error(`${bundle}/main.cjs is missing: run npm run build`);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 500);
  }
  if (!fs.existsSync(bundle)) return BERTH_BIN;
  fs.mkdirSync(path.join(dir, 'dist'), { recursive: true });
  fs.cpSync(path.join(REPO, 'bin'), path.join(dir, 'bin'), { recursive: true });
  fs.cpSync(bundle, path.join(dir, 'dist', 'bundle'), { recursive: true });
  fs.copyFileSync(path.join(REPO, 'package.json'), path.join(dir, 'package.json'));
  fs.symlinkSync(path.join(REPO, 'node_modules'), path.join(dir, 'node_modules'));
  return path.join(dir, 'bin', 'berth');
}

export interface BerthStore {
  root: string;
  runroot: string;
}

/** Berth's CLI on the given store; `bin` defaults to the work tree's bin/berth. */
export function berthEngine(store: BerthStore, bin = BERTH_BIN): BenchEngine {
  return new BenchEngine('berth', [bin, '--root', store.root, '--runroot', store.runroot], {
    root: store.root,
  });
}

/** docker through the private dockerd: the v28 client for everything, Debian's 20.10 client for BuildKit. */
export function dockerEngine(host: string): BenchEngine {
  const client = have('/usr/local/bin/docker') ? '/usr/local/bin/docker' : 'docker';
  const buildClient = have('/usr/bin/docker') ? '/usr/bin/docker' : client;
  return new BenchEngine('docker', [client, '-H', host], {
    build: [buildClient, '-H', host],
    buildEnv: { DOCKER_BUILDKIT: '1' },
  });
}

/** podman (and buildah for builds) on their own storage, cgroupfs and file events (no systemd here). */
export function podmanEngine(root: string, runroot: string): BenchEngine {
  const store = ['--root', root, '--runroot', runroot, '--storage-driver', 'overlay'];
  return new BenchEngine('podman', ['podman', ...store, '--cgroup-manager', 'cgroupfs', '--events-backend', 'file'], {
    build: ['buildah', ...store],
    insecure: ['--tls-verify=false'],
    root,
  });
}
