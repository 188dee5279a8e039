/**
 * Shared pieces of the reliability suite: store invariants checked after every fault, and inputs
 * large enough that an operation takes a while (so a kill lands inside it).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { freePort } from '../../src/registry/test-support.js';
import { BIN, REPO, type TestStore, conmonsFor, eventually, mountsUnder } from '../helpers.js';

/**
 * A root file system tarball: busybox (so images made from it run), `/marker`, and `mb` MiB of
 * incompressible data in 1 MiB files.
 */
export function makeRootfsTar(dir: string, mb: number, marker: string): string {
  const root = path.join(dir, `rootfs-${marker}`);
  fs.mkdirSync(path.join(root, 'bin'), { recursive: true });
  fs.mkdirSync(path.join(root, 'data'), { recursive: true });
  fs.copyFileSync('/bin/busybox', path.join(root, 'bin', 'busybox'));
  fs.chmodSync(path.join(root, 'bin', 'busybox'), 0o755);
  for (const a of ['sh', 'cat', 'ls', 'test', 'echo', 'dd', 'true']) fs.symlinkSync('busybox', path.join(root, 'bin', a));
  fs.writeFileSync(path.join(root, 'marker'), `${marker}\n`);
  for (let i = 0; i < mb; i++) fs.writeFileSync(path.join(root, 'data', `f${i}`), randomBytes(1 << 20));
  const tar = path.join(dir, `rootfs-${marker}.tar`);
  const r = spawnSync('tar', ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', '-C', root, '-cf', tar, '.']);
  if (r.status !== 0) throw new Error(`tar failed: ${r.stderr}`);
  fs.rmSync(root, { recursive: true, force: true });
  return tar;
}

/** Result of one SIGKILLed command. */
export interface KillOutcome {
  /** True when the command finished before the signal landed. */
  finished: boolean;
  code: number | null;
  /** The last 4 KiB of what it printed (stdout and stderr), to tell where the kill landed. */
  output: string;
}

/** Starts `berth args` and SIGKILLs it after `delayMs` (unless it finished first). */
export function runAndKill(s: TestStore, args: string[], delayMs: number, input?: string): Promise<KillOutcome> {
  return new Promise((resolve) => {
    const p = spawn(BIN, s.args(args), { stdio: [input ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
    if (input && p.stdin) p.stdin.end(input);
    let output = '';
    const keep = (c: Buffer) => {
      output = (output + c.toString()).slice(-4096);
    };
    p.stdout?.on('data', keep);
    p.stderr?.on('data', keep);
    let killed = false;
    const t = setTimeout(() => {
      killed = true;
      p.kill('SIGKILL');
    }, delayMs);
    p.on('exit', (code, sig) => {
      clearTimeout(t);
      // The rest of the output, unless a process the command started holds its pipes open.
      const done = () => resolve({ finished: !(killed && sig === 'SIGKILL'), code, output });
      const grace = setTimeout(done, 300);
      p.on('close', () => {
        clearTimeout(grace);
        done();
      });
    });
  });
}

export interface CheckOutcome {
  /** `system check` was clean before repair (it ignores leftovers younger than a minute). */
  clean: boolean;
  /** What `system check --repair` found and repaired (leftovers of the killed operation). */
  problems: string[];
}

/**
 * The post-fault invariant: `system check` is clean, or `system check --repair` makes it so. Repair
 * always runs (it also removes leftovers too young for a plain check to report); afterwards no
 * tmp-/trash- layer directory and no ingest file is left, and the database passes integrity_check.
 */
export function assertRecoverable(s: TestStore, what: string): CheckOutcome {
  const first = s.run(['system', 'check']);
  const rep = s.run(['system', 'check', '--repair']);
  const problems = rep.stdout.split('\n').filter((l) => l.startsWith('repaired:') || l.startsWith('problem:'));
  const again = s.run(['system', 'check']);
  assert.equal(again.code, 0, `${what}: store still inconsistent after --repair\nfirst: ${first.stdout}${first.stderr}\nrepair: ${rep.stdout}${rep.stderr}\nagain: ${again.stdout}${again.stderr}`);
  const layers = path.join(s.root, 'layers');
  const leftovers = fs.existsSync(layers) ? fs.readdirSync(layers).filter((n) => n.startsWith('tmp-') || n.startsWith('trash-')) : [];
  assert.deepEqual(leftovers, [], `${what}: layer temp dirs left after repair`);
  const ingest = path.join(s.root, 'content', 'ingest');
  assert.deepEqual(fs.existsSync(ingest) ? fs.readdirSync(ingest) : [], [], `${what}: ingest files left after repair`);
  assert.equal(integrity(s), 'ok', `${what}: SQLite integrity_check`);
  return { clean: first.code === 0, problems };
}

/** SQLite's own integrity_check of the store's database, through better-sqlite3 (read-only). */
export function integrity(s: TestStore): string {
  const r = spawnSync(
    process.execPath,
    ['-e', `const D=require('better-sqlite3');const d=new D(process.argv[1],{readonly:true,timeout:30000});console.log(d.pragma('integrity_check',{simple:true}));console.log(d.pragma('foreign_key_check').length)`, path.join(s.root, 'berth.db')],
    { encoding: 'utf8', cwd: REPO },
  );
  const [ic, fk] = r.stdout.trim().split('\n');
  if (r.status !== 0) return `integrity check failed to run: ${r.stderr}`;
  return ic === 'ok' && fk === '0' ? 'ok' : `integrity_check=${ic} foreign_key_violations=${fk}`;
}

/**
 * Nothing of the store keeps running or mounted once no container runs (a monitor takes a moment
 * to finish its exit command, hence the polling).
 */
export async function assertNoLeaks(s: TestStore, what: string): Promise<void> {
  await eventually(() => mountsUnder(s.dir).length === 0 && conmonsFor(s.dir).length === 0, 15_000).catch(() => undefined);
  assert.deepEqual(mountsUnder(s.dir), [], `${what}: mounts left under the store`);
  assert.deepEqual(conmonsFor(s.dir).map((p) => fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').replaceAll('\0', ' ').slice(0, 300)), [], `${what}: conmon processes left`);
}

/** A deterministic pseudo-random sequence (the suite must be reproducible from its seed). */
export function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x1_0000_0000;
  };
}

export function sha256(b: Buffer | string): string {
  return createHash('sha256').update(b).digest('hex');
}

export const POINTS = Number(process.env.BERTH_CRASH_POINTS ?? 8);
export const SEED = Number(process.env.BERTH_CRASH_SEED ?? 20261127);

export interface OpStats {
  points: number;
  finishedBeforeKill: number;
  /** `system check` (which ignores leftovers younger than a minute) was clean before repair. */
  cleanWithoutRepair: number;
  /** `--repair` had something to remove or fix. */
  repaired: number;
  problemKinds: Record<string, number>;
  completedResults: number;
  /** Where the kills landed, when the op tells (FaultedOp.phase). */
  phases?: Record<string, number>;
  /** Duration of the uninterrupted run, and of the whole fault loop (kills, checks, verification). */
  spanMs: number;
  totalMs: number;
}

export interface FaultedOp {
  setup: (i: number) => void;
  op: (i: number) => string[];
  /** Checks that what the operation made works (when present); returns whether its effect is visible. */
  verify: (i: number) => boolean;
  teardown: (i: number) => void;
  /** Extra invariants checked after every kill, once the store is repaired. */
  afterKill?: (i: number, what: string) => void | Promise<void>;
  /** Names the phase a kill landed in from the killed command's output. */
  phase?: (output: string) => string;
  /**
   * Spread the kills over [start-up, duration] instead of [5 ms, duration]: start-up is the time of
   * `berth version`, so no kill is spent before the command does anything.
   */
  skipStartup?: boolean;
}

/**
 * Returns faultOp(name, op): it measures one uninterrupted run (setup + op + teardown), then kills
 * the op at POINTS delays spread over [5 ms (or start-up), its duration] (deterministic from `random`), and after
 * every kill checks the store (assertRecoverable), the op's result (whole or absent) and afterKill.
 */
export function makeFaultOp(s: TestStore, random: () => number, stats: Record<string, OpStats>) {
  return async (name: string, o: FaultedOp): Promise<void> => {
    const st: OpStats = { points: 0, finishedBeforeKill: 0, cleanWithoutRepair: 0, repaired: 0, problemKinds: {}, completedResults: 0, spanMs: 0, totalMs: 0 };
    stats[name] = st;
    const start = Date.now();
    let from = 5;
    if (o.skipStartup) {
      const t = Date.now();
      s.ok(['version']);
      from = Date.now() - t;
    }
    o.setup(-1);
    const t0 = Date.now();
    s.ok(o.op(-1), { timeout: 180_000 });
    const span = Math.max(from + 50, Date.now() - t0);
    st.spanMs = span;
    assert.ok(o.verify(-1), `${name}: an uninterrupted run must produce its result`);
    o.teardown(-1);
    for (let i = 0; i < POINTS; i++) {
      o.setup(i);
      const delay = Math.round(from + (span - from) * ((i + random()) / POINTS));
      const out = await runAndKill(s, o.op(i), delay);
      st.points++;
      if (out.finished) st.finishedBeforeKill++;
      if (o.phase) {
        const ph = out.finished ? 'finished' : o.phase(out.output);
        st.phases ??= {};
        st.phases[ph] = (st.phases[ph] ?? 0) + 1;
      }
      const what = `${name} killed after ${delay} ms`;
      const c = assertRecoverable(s, what);
      if (c.clean) st.cleanWithoutRepair++;
      if (c.problems.length) st.repaired++;
      for (const p of c.problems) {
        const kind = p.split(':')[1]?.trim() ?? '?';
        st.problemKinds[kind] = (st.problemKinds[kind] ?? 0) + 1;
      }
      await o.afterKill?.(i, what);
      // Whole or absent: verify() checks a present result works and returns whether it exists.
      if (o.verify(i)) st.completedResults++;
      o.teardown(i);
    }
    st.totalMs = Date.now() - start;
  };
}

export interface ServedRegistry {
  /** host:port on 127.0.0.1 */
  host: string;
  stop(): Promise<void>;
}

/** `berth registry serve` storing under `root`, on a free loopback port; stop() ends it. */
export async function serveRegistry(root: string): Promise<ServedRegistry> {
  const host = `127.0.0.1:${await freePort()}`;
  const child = spawn(BIN, ['registry', 'serve', '--addr', host, '--root', root], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout?.on('data', (c: Buffer) => (log += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (log += c.toString()));
  const exited = new Promise((r) => child.once('exit', r));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  await eventually(() => log.includes('listening') || child.exitCode !== null, 20_000).catch(() => undefined);
  if (!log.includes('listening')) {
    await stop();
    throw new Error(`berth registry serve did not start: ${log}`);
  }
  return { host, stop };
}
