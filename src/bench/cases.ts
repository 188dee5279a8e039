/**
 * The benchmark cases. Each case is engine-blind: it drives a `BenchEngine`'s docker-shaped CLI and
 * returns measurements for one run; the runner interleaves engines and repeats. Untimed set-up work
 * inside a run (creating the container to stop, removing the image before a load) is done with
 * `cli()` and not counted; only the commands a user would time are.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { type BenchEngine, exec, have } from './engines.js';
import { bigRootfsTar, buildContext, manyImagesArchive, touchOneFile } from './fixtures.js';
import { type Registry, startRegistry } from './registry.js';
import type { EngineName, Measurement } from './types.js';

export interface BenchContext {
  /** Directory for generated inputs and scratch files of this run. */
  work: string;
  quick: boolean;
  log(msg: string): void;
  /** State a case keeps between its set-up, runs and tear-down (registry, bundle path). */
  state: Record<string, unknown>;
}

export interface CaseDef {
  name: string;
  description: string;
  /** Measured runs per engine (overridden by --runs; fewer with --quick). */
  runs: number;
  /** Unmeasured runs per engine before the measured ones. */
  warmup: number;
  /**
   * Seconds after which no further round starts (once one measured round is done); also the case's
   * weight when the suite's budget is shared out among the cases still to run.
   */
  budgetS: number;
  /** Whether the floor pseudo-engine takes part (its runs come from `floor`). */
  floor?(ctx: BenchContext, i: number): Measurement[];
  /** Engines this case does not apply to (floor-only cases). */
  skipEngines?: boolean;
  /** Why an engine cannot run this case (a command it lacks), or undefined when it can. */
  unsupported?(e: BenchEngine, ctx: BenchContext): string | undefined;
  setup?(ctx: BenchContext): Promise<void>;
  prepare?(e: BenchEngine, ctx: BenchContext): Promise<void>;
  iterate?(e: BenchEngine, ctx: BenchContext, i: number): Measurement[];
  /** Per-engine clean-up; always runs, also after a failure. */
  cleanup?(e: BenchEngine, ctx: BenchContext): void;
  teardown?(ctx: BenchContext): void;
}

const ms = (metric: string, value: number): Measurement => ({ metric, unit: 'ms', better: 'lower', value });
const BIG_MIB = 200;

/** Reason string when the engine's CLI lacks a command (`berth build --help` failing, say). */
function lacks(e: BenchEngine, args: string[], what: string): string | undefined {
  const r = e.cli([...args, '--help'], { allowFail: true });
  return r.code === 0 ? undefined : `${e.name} has no \`${args.join(' ')}\` yet (${what})`;
}

function bigTar(ctx: BenchContext): Promise<string> {
  return bigRootfsTar(path.join(ctx.work, `rootfs-${BIG_MIB}mib.tar`), BIG_MIB);
}

/** Pid of each container's monitor (its parent: conmon or containerd-shim) and the monitor's name. */
function monitorsOf(e: BenchEngine, ids: string[]): Array<{ pid: number; comm: string }> {
  const pids = e
    .cli(['inspect', '--format', '{{.State.Pid}}', ...ids])
    .stdout.split('\n')
    .filter(Boolean)
    .map(Number);
  return pids.map((pid) => {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    return { pid: ppid, comm: fs.readFileSync(`/proc/${ppid}/comm`, 'utf8').trim() };
  });
}

/** Rss and Pss of a process in MiB, from /proc/PID/smaps_rollup. */
export function memoryOf(pid: number): { rss: number; pss: number } {
  return parseSmapsRollup(fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
}

export function parseSmapsRollup(text: string): { rss: number; pss: number } {
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? Number.NaN);
  return { rss: kb('Rss') / 1024, pss: kb('Pss') / 1024 };
}

const DETACHED = 50;

export const CASES: CaseDef[] = [
  {
    name: 'run-latency',
    description: '`run --rm --network none busybox true`: the whole life of a container, as a user waits for it',
    runs: 10,
    warmup: 2,
    budgetS: 45,
    iterate: (e) => [ms('run --rm true (no network)', e.time(['run', '--rm', '--network', 'none', 'busybox', 'true']))],
  },
  {
    name: 'run-latency-bridge',
    description: '`run --rm busybox true` on the default bridge network (veth, IPAM, firewall)',
    runs: 10,
    warmup: 2,
    budgetS: 45,
    unsupported: (e) => (e.name === 'berth' ? lacks(e, ['network', 'ls'], 'networking is being built') : undefined),
    iterate: (e) => [ms('run --rm true (bridge)', e.time(['run', '--rm', 'busybox', 'true']))],
  },
  {
    name: 'create-start',
    description: '`create` then `start` of a detached `sleep` container',
    runs: 10,
    warmup: 1,
    budgetS: 40,
    iterate: (e, _ctx, i) => {
      const name = `bench-cs-${i}`;
      const c = e.time(['create', '--network', 'none', '--name', name, 'busybox', 'sleep', '1000']);
      const s = e.time(['start', name]);
      e.cli(['rm', '-f', name]);
      return [ms('create', c), ms('start', s), ms('create + start', c + s)];
    },
  },
  {
    name: 'stop-rm',
    description: '`stop -t 0` then `rm` of a running container',
    runs: 10,
    warmup: 1,
    budgetS: 40,
    iterate: (e, _ctx, i) => {
      const name = `bench-sr-${i}`;
      e.cli(['run', '-d', '--network', 'none', '--name', name, 'busybox', 'sleep', '1000']);
      const s = e.time(['stop', '-t', '0', name]);
      const r = e.time(['rm', name]);
      return [ms('stop -t 0 + rm', s + r)];
    },
  },
  {
    name: 'detached-50',
    description: `${DETACHED} detached \`sleep 1000\` containers one after another; memory of each container's monitor (conmon or containerd-shim) from smaps_rollup`,
    runs: 2,
    warmup: 0,
    budgetS: 120,
    iterate: (e, ctx, i) => {
      const ids: string[] = [];
      let total = 0;
      for (let k = 0; k < DETACHED; k++) {
        const r = e.cli(['run', '-d', '--network', 'none', '--name', `bench-d${i}-${k}`, 'busybox', 'sleep', '1000']);
        total += r.ms;
        ids.push(r.stdout.trim().split('\n').pop() as string);
      }
      const mons = monitorsOf(e, ids);
      const mem = mons.map((m) => memoryOf(m.pid));
      ctx.log(`  ${e.name}: monitors are ${[...new Set(mons.map((m) => m.comm))].join(', ')}`);
      e.removeAllContainers();
      const avg = (f: (m: { rss: number; pss: number }) => number) => mem.reduce((a, m) => a + f(m), 0) / mem.length;
      return [
        { metric: `${DETACHED} x run -d, total`, unit: 's', better: 'lower', value: total / 1000 },
        { metric: 'monitor RSS per container', unit: 'MiB', better: 'lower', value: avg((m) => m.rss) },
        { metric: 'monitor PSS per container', unit: 'MiB', better: 'lower', value: avg((m) => m.pss) },
      ];
    },
    cleanup: (e) => e.removeAllContainers(),
  },
  {
    name: 'floor',
    description: 'lower bounds: bare `runc run` of a prepared busybox bundle, `node -e 0`',
    runs: 10,
    warmup: 2,
    budgetS: 20,
    skipEngines: true,
    setup: async (ctx) => {
      ctx.state.bundle = prepareBundle(ctx.work);
    },
    floor: (ctx, i) => {
      const bundle = ctx.state.bundle as string;
      const runc = exec(['runc', '--root', path.join(ctx.work, 'runc-state'), 'run', '-b', bundle, `berth-bench-floor-${process.pid}-${i}`]);
      const node = exec([process.execPath, '-e', '0']);
      const out = [ms('runc run true (bare)', runc.ms), ms('node -e 0', node.ms)];
      // Node parses NODE_EXTRA_CA_CERTS at start-up; bin/berth defers it (see there): both floors.
      if (process.env.NODE_EXTRA_CA_CERTS) out.push(ms('node -e 0 (NODE_EXTRA_CA_CERTS unset)', exec([process.execPath, '-e', '0'], { env: { NODE_EXTRA_CA_CERTS: undefined } }).ms));
      return out;
    },
  },
  ...buildCases(),
  {
    name: 'commit-100mb',
    description: 'commit of a stopped container that wrote 100 MiB (fresh container each run)',
    runs: 5,
    warmup: 1,
    budgetS: 50,
    iterate: (e, _ctx, i) => {
      const name = `bench-commit-${i}`;
      e.cli(['run', '--network', 'none', '--name', name, 'busybox', 'dd', 'if=/dev/urandom', 'of=/big', 'bs=1M', 'count=100']);
      const t = e.time(['commit', name, `bench/commit:${i}`]);
      e.cli(['rm', '-f', name]);
      e.cli(['rmi', `bench/commit:${i}`]);
      return [ms('commit 100 MiB', t)];
    },
    cleanup: (e) => {
      e.removeAllContainers();
      e.removeBenchImages();
    },
  },
  {
    name: 'import-200mb',
    description: `import of a ${BIG_MIB} MiB rootfs tarball (floor: sha256sum of the same file)`,
    runs: 5,
    warmup: 1,
    budgetS: 50,
    setup: async (ctx) => {
      await bigTar(ctx);
    },
    iterate: (e, ctx, i) => {
      const t = e.time(['import', path.join(ctx.work, `rootfs-${BIG_MIB}mib.tar`), `bench/import:${i}`]);
      e.cli(['rmi', `bench/import:${i}`]);
      return [ms(`import ${BIG_MIB} MiB`, t)];
    },
    floor: (ctx) => [ms(`import ${BIG_MIB} MiB`, exec(['sha256sum', path.join(ctx.work, `rootfs-${BIG_MIB}mib.tar`)]).ms)],
    cleanup: (e) => e.removeBenchImages(),
  },
  {
    name: 'save-load-200mb',
    description: `save of a ${BIG_MIB} MiB image to a file, then load of it into a store that lacks it`,
    runs: 5,
    warmup: 1,
    budgetS: 60,
    setup: async (ctx) => {
      await bigTar(ctx);
    },
    prepare: async (e, ctx) => {
      e.cli(['import', path.join(ctx.work, `rootfs-${BIG_MIB}mib.tar`), 'bench/saveload:1']);
    },
    iterate: (e, ctx) => {
      const file = path.join(ctx.work, `save-${e.name}.tar`);
      fs.rmSync(file, { force: true });
      const s = e.time(['save', '-o', file, 'bench/saveload:1']);
      e.cli(['rmi', 'bench/saveload:1']);
      e.cli(['image', 'prune', '-f'], { allowFail: true });
      const l = e.time(['load', '-i', file]);
      fs.rmSync(file, { force: true });
      return [ms(`save ${BIG_MIB} MiB`, s), ms(`load ${BIG_MIB} MiB`, l)];
    },
    cleanup: (e, ctx) => {
      fs.rmSync(path.join(ctx.work, `save-${e.name}.tar`), { force: true });
      e.removeBenchImages();
    },
  },
  {
    name: 'push-pull-200mb',
    description: `push and pull of a ${BIG_MIB} MiB image through a registry (Debian's docker-registry) on 127.0.0.1; empty registry and no local copy before each`,
    runs: 3,
    warmup: 1,
    // A round (three engines, each importing, pushing and pulling 200 MiB) takes 40-70 s on the
    // shared 2-core machine: 90 s allowed one measured round only.
    budgetS: 240,
    unsupported: (e) => {
      if (!have('docker-registry')) return 'docker-registry is not installed (npm run bench -- --setup)';
      return e.name === 'berth' ? (lacks(e, ['push'], 'push is being built') ?? lacks(e, ['pull'], 'pull is being built')) : undefined;
    },
    setup: async (ctx) => {
      await bigTar(ctx);
      if (have('docker-registry')) ctx.state.registry = await startRegistry(path.join(ctx.work, 'registry'));
    },
    iterate: (e, ctx, i) => {
      const reg = ctx.state.registry as Registry;
      const ref = `${reg.host}/bench/pp-${e.name}:${i}`;
      reg.reset();
      e.cli(['import', path.join(ctx.work, `rootfs-${BIG_MIB}mib.tar`), ref]);
      const push = e.time(['push', ...e.insecureFlags, ref]);
      e.cli(['rmi', ref]);
      e.cli(['image', 'prune', '-f'], { allowFail: true });
      const pull = e.time(['pull', ...e.insecureFlags, ref]);
      e.cli(['rmi', ref]);
      const rate = (t: number): number => BIG_MIB / (t / 1000);
      return [
        { metric: `push ${BIG_MIB} MiB`, unit: 'MiB/s', better: 'higher', value: rate(push) },
        { metric: `pull ${BIG_MIB} MiB`, unit: 'MiB/s', better: 'higher', value: rate(pull) },
      ];
    },
    cleanup: (e) => e.removeBenchImages(),
    teardown: (ctx) => (ctx.state.registry as Registry | undefined)?.stop(),
  },
  {
    name: 'images-200',
    description: '`images` with 200 images (one docker-archive of 200 tiny images loaded once); Berth target: under 150 ms',
    runs: 10,
    warmup: 2,
    budgetS: 30,
    setup: async (ctx) => {
      ctx.state.archive = await manyImagesArchive(path.join(ctx.work, 'images-200.tar'), 200);
    },
    prepare: async (e, ctx) => {
      e.cli(['load', '-i', ctx.state.archive as string]);
    },
    iterate: (e) => [ms('images (200 images)', e.time(['images']))],
    cleanup: (e) => e.removeBenchImages(),
  },
  {
    name: 'ps-200',
    description: '`ps -a` with 200 created containers',
    runs: 10,
    warmup: 2,
    budgetS: 30,
    prepare: async (e) => {
      for (let k = 0; k < 200; k++) e.cli(['create', '--network', 'none', '--name', `bench-ps-${k}`, 'busybox', 'true']);
    },
    iterate: (e) => [ms('ps -a (200 containers)', e.time(['ps', '-a']))],
    cleanup: (e) => e.removeAllContainers(),
  },
  {
    name: 'api-docker-cli',
    description: 'the docker v28 CLI through the engine\'s API socket: `berth system service` vs dockerd (`docker ps`, `docker run --rm busybox true`)',
    runs: 10,
    warmup: 2,
    budgetS: 60,
    unsupported: (e) => {
      if (e.name === 'podman') return 'this case compares API sockets: Berth\'s service and dockerd';
      if (!have('/usr/local/bin/docker')) return 'needs the docker v28 client at /usr/local/bin/docker';
      return e.name === 'berth' ? lacks(e, ['system', 'service'], 'the Engine API service') : undefined;
    },
    prepare: async (e, ctx) => {
      fs.mkdirSync(path.join(ctx.work, 'docker-config'), { recursive: true });
      if (e.name !== 'berth') return;
      const socket = path.join(ctx.work, 'berth-api.sock');
      const [cmd, ...args] = e.argv(['system', 'service', '--socket', `unix://${socket}`]);
      const child = spawn(cmd as string, args, { stdio: 'ignore' });
      ctx.state.apiService = child;
      ctx.state.apiSocket = socket;
      const end = Date.now() + 20_000;
      while (!fs.existsSync(socket)) {
        if (child.exitCode !== null || Date.now() > end) throw new Error('berth system service did not start');
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    iterate: (e, ctx) => {
      // dockerd: the engine's own command line (the v28 client on dockerd's socket); Berth: the same
      // client binary on the service's socket. DOCKER_CONFIG keeps the client off ~/.docker.
      const argv = (args: string[]) => (e.name === 'berth' ? ['/usr/local/bin/docker', '-H', `unix://${ctx.state.apiSocket as string}`, ...args] : e.argv(args));
      const env = { DOCKER_CONFIG: path.join(ctx.work, 'docker-config') };
      const t = (args: string[]) => exec(argv(args), { env }).ms;
      return [
        ms('docker ps', t(['ps'])),
        ms('docker run --rm busybox true', t(['run', '--rm', 'busybox', 'true'])),
        ms('docker run --rm --network none busybox true', t(['run', '--rm', '--network', 'none', 'busybox', 'true'])),
      ];
    },
    cleanup: (e, ctx) => {
      const child = ctx.state.apiService as ChildProcess | undefined;
      if (e.name !== 'berth' || !child) return;
      child.kill('SIGTERM');
      ctx.state.apiService = undefined;
    },
  },
];

function buildCases(): CaseDef[] {
  const ctxDir = (ctx: BenchContext) => path.join(ctx.work, 'build-context');
  const common = {
    runs: 5,
    warmup: 1,
    budgetS: 60,
    unsupported: (e: BenchEngine) => {
      if (e.name === 'berth') return lacks(e, ['build'], 'build is being written');
      if (e.name === 'podman' && !have('buildah')) return 'buildah is not installed (npm run bench -- --setup)';
      return undefined;
    },
    setup: async (ctx: BenchContext) => {
      buildContext(ctxDir(ctx));
    },
    cleanup: (e: BenchEngine) => {
      e.removeBenchImages();
      if (e.name === 'docker') e.cli(['builder', 'prune', '-af'], { allowFail: true });
    },
  };
  /** Drops every build cache the engine keeps, so the next build starts cold. */
  const dropCache = (e: BenchEngine, tag: string) => {
    e.cli(['rmi', '-f', tag], { allowFail: true });
    e.cli(['image', 'prune', '-f'], { allowFail: true });
    if (e.name !== 'podman') e.cli(['builder', 'prune', '-af'], { allowFail: true });
  };
  return [
    {
      ...common,
      name: 'build-cold',
      description: 'build of a 10-instruction Dockerfile (4 RUN) with a 5,000-file 20 MiB context, no cache (docker: BuildKit; podman: buildah bud --layers)',
      iterate: (e, ctx) => {
        dropCache(e, 'bench/build:cold');
        return [ms('build, cold', e.build('bench/build:cold', ctxDir(ctx), { noCache: true }).ms)];
      },
    },
    {
      ...common,
      name: 'build-cached',
      description: 'the same build again with nothing changed: every step from cache',
      prepare: async (e, ctx) => {
        e.build('bench/build:cached', ctxDir(ctx));
      },
      iterate: (e, ctx) => [ms('build, all cached', e.build('bench/build:cached', ctxDir(ctx)).ms)],
    },
    {
      ...common,
      name: 'build-one-file',
      description: 'the same build after one file of the context changed: COPY and the steps after it run again',
      prepare: async (e, ctx) => {
        e.build('bench/build:onefile', ctxDir(ctx));
      },
      iterate: (e, ctx, i) => {
        touchOneFile(ctxDir(ctx), `${e.name}-${i}-${Date.now()}`);
        return [ms('build, one file changed', e.build('bench/build:onefile', ctxDir(ctx)).ms)];
      },
    },
  ];
}

/**
 * An OCI bundle with a busybox rootfs whose process is `true`, for the bare-runc floor: what runc
 * alone costs, with no engine around it.
 */
export function prepareBundle(work: string): string {
  const bundle = path.join(work, 'floor-bundle');
  const rootfs = path.join(bundle, 'rootfs');
  if (fs.existsSync(path.join(bundle, 'config.json'))) return bundle;
  fs.mkdirSync(path.join(rootfs, 'bin'), { recursive: true });
  for (const d of ['proc', 'sys', 'dev', 'tmp', 'etc']) fs.mkdirSync(path.join(rootfs, d), { recursive: true });
  fs.copyFileSync('/bin/busybox', path.join(rootfs, 'bin', 'busybox'));
  fs.chmodSync(path.join(rootfs, 'bin', 'busybox'), 0o755);
  fs.symlinkSync('busybox', path.join(rootfs, 'bin', 'true'));
  exec(['runc', 'spec', '--bundle', bundle]);
  const cfgPath = path.join(bundle, 'config.json');
  const cfg = JSON.parse(fs.readFileSync(cfgPath, 'utf8'));
  cfg.process.terminal = false;
  cfg.process.args = ['/bin/true'];
  fs.writeFileSync(cfgPath, JSON.stringify(cfg, null, 2));
  return bundle;
}

/** Names of all cases, in the order the full suite runs them. */
export function caseNames(): string[] {
  return CASES.map((c) => c.name);
}

export type { EngineName };
