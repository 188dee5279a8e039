/**
 * `npm run bench` — Berth side by side with docker and podman (when set up), one process, one report.
 *
 *   npm run bench                               all cases, Berth and every reachable peer
 *   npm run bench -- run-latency ps-200         some cases
 *   npm run bench -- --quick | --runs N         fewer / exactly N measured runs per engine
 *   npm run bench -- --setup [--no-run]         install and start docker + podman first (idempotent)
 *   npm run bench -- --teardown                 stop and remove them (after the run, if any)
 *   npm run bench -- --list                     the cases
 *   npm run bench -- profile run-latency        where Berth's time goes in one case
 *
 * Writes bench-results/<time>.{json,md,svg}; `--update-doc` also puts the table into BENCHMARKS.md
 * and the chart into docs/benchmarks.svg.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { type BenchContext, CASES, type CaseDef } from './cases.js';
import { type BenchEngine, CommandFailed, REPO, berthEngine, exec, snapshotBerth } from './engines.js';
import { machineInfo } from './machine.js';
import { profileCase } from './profile.js';
import { markdownReport, svgChart } from './render.js';
import { runCase } from './runner.js';
import { STATE_DIR, reachablePeers, setup, teardown } from './setup.js';
import type { BenchReport, EngineName, MetricResult, Skip } from './types.js';

interface Options {
  cases: string[];
  list: boolean;
  quick: boolean;
  runs?: number;
  budgetS: number;
  engines?: EngineName[];
  setup: boolean;
  noRun: boolean;
  teardown: boolean;
  dockerIptables: boolean;
  updateDoc: boolean;
  profile?: string;
  out: string;
}

const USAGE = `Usage: npm run bench -- [OPTIONS] [CASE...]
       npm run bench -- profile CASE [--runs N]

Options:
  --list               list the cases and exit
  --quick              a third of the runs, one warm-up (to check the harness, not for numbers)
  --runs N             measured runs per engine and case
  --budget SECONDS     time budget of the whole suite (default 900)
  --engines LIST       comma-separated subset of berth,docker,podman
  --setup              install docker.io/podman/buildah/docker-registry, start a private dockerd, then run
  --no-run             with --setup: set up only
  --teardown           stop and remove what --setup made (after the run when cases are given)
  --docker-iptables    let the private dockerd manage iptables (off: other users share this firewall)
  --update-doc         write the results into BENCHMARKS.md and docs/benchmarks.svg
  --out DIR            results directory (default bench-results)`;

function parseOptions(argv: string[]): Options {
  const o: Options = {
    cases: [],
    list: false,
    quick: false,
    budgetS: 900,
    setup: false,
    noRun: false,
    teardown: false,
    dockerIptables: false,
    updateDoc: false,
    out: path.join(REPO, 'bench-results'),
  };
  const value = (i: number, flag: string): string => {
    const v = argv[i + 1];
    if (v === undefined) throw new Error(`${flag} needs a value\n${USAGE}`);
    return v;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    switch (a) {
      case '--list':
        o.list = true;
        break;
      case '--quick':
        o.quick = true;
        break;
      case '--runs':
        o.runs = Number(value(i++, a));
        if (!Number.isInteger(o.runs) || o.runs < 1) throw new Error('--runs needs a whole number of at least 1');
        break;
      case '--budget':
        o.budgetS = Number(value(i++, a));
        if (!(o.budgetS > 0)) throw new Error('--budget needs a number of seconds');
        break;
      case '--engines':
        o.engines = value(i++, a).split(',') as EngineName[];
        for (const e of o.engines) if (!['berth', 'docker', 'podman'].includes(e)) throw new Error(`unknown engine ${e}: use berth, docker, podman`);
        break;
      case '--setup':
        o.setup = true;
        break;
      case '--no-run':
        o.noRun = true;
        break;
      case '--teardown':
        o.teardown = true;
        break;
      case '--docker-iptables':
        o.dockerIptables = true;
        break;
      case '--update-doc':
        o.updateDoc = true;
        break;
      case '--out':
        o.out = path.resolve(value(i++, a));
        break;
      case '-h':
      case '--help':
        console.log(USAGE);
        process.exit(0);
        break;
      default:
        if (a.startsWith('-')) throw new Error(`unknown option ${a}\n${USAGE}`);
        if (a === 'profile' && o.cases.length === 0 && o.profile === undefined) {
          o.profile = value(i++, a);
          break;
        }
        o.cases.push(a);
    }
  }
  for (const c of [...o.cases, ...(o.profile ? [o.profile] : [])]) {
    if (!CASES.some((k) => k.name === c)) throw new Error(`unknown case ${c}; the cases are: ${CASES.map((k) => k.name).join(', ')}`);
  }
  return o;
}

const log = (m: string) => process.stderr.write(`${m}\n`);

/** A Berth store of the bench's own, removed with everything in it at the end. */
function makeBerthStore(): { engine: BenchEngine; dispose: () => void } {
  fs.mkdirSync(STATE_DIR, { recursive: true });
  const dir = fs.mkdtempSync(path.join(STATE_DIR, 'berth-'));
  const store = { root: path.join(dir, 'root'), runroot: path.join('/run/berth-bench', path.basename(dir)) };
  const engine = berthEngine(store, snapshotBerth(path.join(dir, 'app')));
  const dispose = () => {
    engine.removeAllContainers();
    for (const d of [dir, store.runroot]) {
      const mounts = fs
        .readFileSync('/proc/self/mountinfo', 'utf8')
        .split('\n')
        .map((l) => l.split(' ')[4] ?? '')
        .filter((m) => m.startsWith(`${d}/`))
        .reverse();
      for (const m of mounts) exec(['umount', '-l', m], { allowFail: true });
      fs.rmSync(d, { recursive: true, force: true });
    }
    const tag = createHash('sha256').update(path.resolve(store.root)).digest('hex').slice(0, 10);
    removeStoreNetwork(`berth${tag}`);
    // runc leaves the empty cgroup parent of the store behind.
    const parent = `berth-${tag}`;
    for (const ctrl of fs.existsSync('/sys/fs/cgroup') ? fs.readdirSync('/sys/fs/cgroup') : []) {
      try {
        fs.rmdirSync(path.join('/sys/fs/cgroup', ctrl, parent));
      } catch {
        /* absent or busy */
      }
    }
  };
  return { engine, dispose };
}

/**
 * Removes the default-network bridge of a deleted Berth store and the firewall rules Berth tagged
 * with it (comment `berth-net:<bridge>`): deleting the store's directories does not.
 */
function removeStoreNetwork(bridge: string): void {
  if (exec(['ip', 'link', 'show', bridge], { allowFail: true }).code !== 0) return;
  let table = 'filter';
  for (const line of exec(['iptables-save'], { allowFail: true }).stdout.split('\n')) {
    if (line.startsWith('*')) table = line.slice(1);
    else if (line.startsWith('-A ') && line.includes(`berth-net:${bridge}`)) {
      const args = [...line.slice(3).matchAll(/"([^"]*)"|(\S+)/g)].map((m) => (m[1] ?? m[2]) as string);
      exec(['iptables', '-t', table, '-D', ...args], { allowFail: true });
    }
  }
  exec(['ip', 'link', 'del', bridge], { allowFail: true });
}

/** Makes busybox in Berth's store and loads the very same archive into each peer. */
function loadBusybox(berth: BenchEngine, peers: BenchEngine[], work: string): void {
  exec(['bash', path.join(REPO, 'scripts', 'make-busybox-image.sh'), ...berth.argv([]).slice(1)]);
  const tar = path.join(work, 'busybox.tar');
  berth.cli(['save', '-o', tar, 'busybox:latest']);
  const id = berth.cli(['image', 'inspect', '--format', '{{.Id}}', 'busybox:latest']).stdout.trim();
  for (const p of peers) {
    p.cli(['load', '-i', tar]);
    const pid = p.cli(['image', 'inspect', '--format', '{{.Id}}', 'busybox:latest']).stdout.trim();
    const same = pid.replace(/^sha256:/, '') === id.replace(/^sha256:/, '');
    log(`busybox in ${p.name}: ${pid.slice(0, 19)} ${same ? '(same image ID as Berth)' : `(Berth has ${id.slice(0, 19)})`}`);
  }
}

function timestamp(d: Date): string {
  return d.toISOString().replace(/[:]/g, '').replace(/\..*/, 'Z');
}

function updateDoc(md: string, svg: string): void {
  const doc = path.join(REPO, 'BENCHMARKS.md');
  const start = '<!-- results:start -->';
  const end = '<!-- results:end -->';
  const text = fs.readFileSync(doc, 'utf8');
  const a = text.indexOf(start);
  const b = text.indexOf(end);
  if (a < 0 || b < a) throw new Error(`BENCHMARKS.md lacks the ${start} ... ${end} markers to replace`);
  fs.mkdirSync(path.join(REPO, 'docs'), { recursive: true });
  fs.writeFileSync(path.join(REPO, 'docs', 'benchmarks.svg'), svg);
  fs.writeFileSync(`${doc}.tmp`, `${text.slice(0, a + start.length)}\n${md}${text.slice(b)}`);
  fs.renameSync(`${doc}.tmp`, doc);
}

async function main(argv: string[]): Promise<number> {
  const o = parseOptions(argv);
  if (o.list) {
    for (const c of CASES) console.log(`${c.name.padEnd(20)} ${c.description}`);
    return 0;
  }
  if (process.getuid?.() !== 0) throw new Error('the benchmarks run containers: run them as root');
  if (o.setup) setup(log, { dockerIptables: o.dockerIptables });
  if ((o.setup && o.noRun) || (o.teardown && !o.setup && o.cases.length === 0 && !o.profile)) {
    if (o.teardown) teardown(log);
    return 0;
  }

  const started = new Date();
  const { engine: berth, dispose } = makeBerthStore();
  const work = fs.mkdtempSync(path.join(STATE_DIR, 'work-'));
  const ctx: BenchContext = { work, quick: o.quick, log, state: {} };
  let interrupted = false;
  const onSignal = () => {
    interrupted = true;
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    let peers = o.profile ? [] : reachablePeers(log);
    if (o.engines) peers = peers.filter((p) => o.engines?.includes(p.name));
    const engines = [...(o.engines && !o.engines.includes('berth') ? [] : [berth]), ...peers];
    log(`engines: ${engines.map((e) => e.name).join(', ')}${peers.length ? '' : ' (no peers: npm run bench -- --setup)'}`);
    loadBusybox(berth, peers, work);

    if (o.profile) {
      await profileCase(CASES.find((c) => c.name === o.profile) as CaseDef, berth, ctx, o.out, o.runs ?? 5);
      return 0;
    }

    const selected = o.cases.length ? CASES.filter((c) => o.cases.includes(c.name)) : CASES;
    const results: MetricResult[] = [];
    const skipped: Skip[] = [];
    const deadline = Date.now() + o.budgetS * 1000;
    for (const [k, c] of selected.entries()) {
      if (interrupted) break;
      // Each case gets its share of what is left, so a slow early case cannot starve the later ones.
      const left = (deadline - Date.now()) / 1000;
      const pending = selected.slice(k).reduce((a, x) => a + x.budgetS, 0);
      const remainingS = (left * c.budgetS) / pending;
      if (left <= 0) {
        skipped.push({ case: c.name, reason: `suite time budget of ${o.budgetS} s used up (--budget)` });
        continue;
      }
      const t0 = Date.now();
      log(`== ${c.name}: ${c.description}`);
      const out = await runCase(c, engines, ctx, { runs: o.runs, quick: o.quick, remainingS, stop: () => interrupted });
      results.push(...out.results);
      skipped.push(...out.skipped);
      for (const r of out.results) {
        const cells = Object.entries(r.engines)
          .filter(([, v]) => v?.summary)
          .map(([k, v]) => `${k} ${v?.summary?.median.toFixed(1)}`);
        log(`   ${r.metric} (${r.unit}, median): ${cells.join(', ')}`);
      }
      log(`   ${out.rounds} rounds in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    }

    const report: BenchReport = {
      started: started.toISOString(),
      finished: new Date().toISOString(),
      command: `npm run bench --${argv.length ? ` ${argv.join(' ')}` : ''}`,
      machine: machineInfo(engines),
      options: {
        runs: o.runs ?? 'case default',
        quick: o.quick,
        budgetSeconds: o.budgetS,
        engines: engines.map((e) => e.name),
      },
      results,
      skipped,
    };
    fs.mkdirSync(o.out, { recursive: true });
    const base = path.join(o.out, timestamp(started));
    const svg = svgChart(results, `Berth benchmarks ${started.toISOString().slice(0, 10)}`);
    const md = markdownReport(report, 'benchmarks.svg');
    fs.writeFileSync(`${base}.json`, `${JSON.stringify(report, null, 2)}\n`);
    fs.writeFileSync(`${base}.svg`, svg);
    fs.writeFileSync(`${base}.md`, markdownReport(report, path.basename(`${base}.svg`)));
    console.log(`\n${md}`);
    console.log(`results: ${base}.json, ${base}.md, ${base}.svg`);
    if (o.updateDoc) {
      if (o.quick) log('note: --update-doc with --quick writes numbers from few runs');
      updateDoc(md.replace('](benchmarks.svg)', '](docs/benchmarks.svg)'), svg);
      log('updated BENCHMARKS.md and docs/benchmarks.svg');
    }
    return interrupted ? 130 : 0;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    for (const p of reachablePeers(() => {})) {
      try {
        p.removeAllContainers();
        p.removeBenchImages();
      } catch {
        /* best effort: the peer's store is the bench's own */
      }
    }
    dispose();
    fs.rmSync(work, { recursive: true, force: true });
    if (o.teardown) teardown(log);
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    const msg = e instanceof CommandFailed || e instanceof Error ? e.message : String(e);
    process.stderr.write(`bench: ${msg}\n`);
    process.exit(1);
  },
);
