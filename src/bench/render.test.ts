import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseSmapsRollup } from './cases.js';
import { parseTimingLines, selfTimes } from './profile.js';
import { berthRatio, cell, enginesIn, markdownReport, markdownTable, svgChart } from './render.js';
import { plannedRuns } from './runner.js';
import { summarize } from './stats.js';
import type { BenchReport, MetricResult } from './types.js';

function metric(caseName: string, m: string, vals: Record<string, number[]>, better: 'lower' | 'higher' = 'lower'): MetricResult {
  const r: MetricResult = { case: caseName, metric: m, unit: better === 'lower' ? 'ms' : 'MiB/s', better, engines: {} };
  for (const [k, v] of Object.entries(vals)) r.engines[k as 'berth'] = { samples: v, summary: summarize(v) };
  return r;
}

const RESULTS: MetricResult[] = [
  metric('run-latency', 'run --rm true', { berth: [100, 120, 110], docker: [230, 240, 220], podman: [160, 170, 165] }),
  metric('push-pull-200mb', 'push 200 MiB', { berth: [100], docker: [50], podman: [150] }, 'higher'),
  { ...metric('floor', 'runc run true (bare)', { floor: [27, 28] }) },
  { case: 'build-cold', metric: 'build, cold', unit: 'ms', better: 'lower', engines: { berth: { skipped: 'berth has no `build` yet' }, docker: { samples: [1500], summary: summarize([1500]) } } },
];

test('engines appear in fixed order, only those with samples', () => {
  assert.deepEqual(enginesIn(RESULTS), ['berth', 'docker', 'podman', 'floor']);
  assert.deepEqual(enginesIn([RESULTS[2] as MetricResult]), ['floor']);
});

test('cells show median and range; skipped engines say so', () => {
  assert.equal(cell(RESULTS[0] as MetricResult, 'berth'), '110 ms (100-120)');
  assert.equal(cell(RESULTS[1] as MetricResult, 'docker'), '50.0 MiB/s');
  assert.equal(cell(RESULTS[3] as MetricResult, 'berth'), 'skipped');
  assert.equal(cell(RESULTS[3] as MetricResult, 'podman'), '');
});

test('ratios are berth over peer; bold only where Berth is better, in both directions', () => {
  assert.equal(berthRatio(RESULTS[0] as MetricResult, 'docker'), 110 / 230);
  const md = markdownTable(RESULTS);
  const lines = md.split('\n');
  assert.equal(lines[0], '| case | metric | n | berth | docker | podman | floor | berth/docker | berth/podman |');
  assert.match(lines[2] as string, /\| \*\*0\.48x\*\* \| \*\*0\.67x\*\* \|$/);
  // push: higher is better; 100 vs docker 50 wins (2.0x bold), vs podman 150 loses (0.67x plain).
  assert.match(lines[3] as string, /push 200 MiB \(higher is better\)/);
  assert.match(lines[3] as string, /\| \*\*2\.0x\*\* \| 0\.67x \|$/);
  assert.match(lines[4] as string, /\| floor \| runc run true \(bare\) \| 2 \| {2}\| {2}\| {2}\| 27\.5 ms \(27\.0-28\.0\) \| - \| - \|$/);
  assert.match(lines[5] as string, /\| build-cold \| build, cold \| 1 \| skipped \| 1500 ms \|/);
  assert.equal(lines.length, 2 + RESULTS.length);
});

test('markdown report names the machine, command and skips', () => {
  const rep: BenchReport = {
    started: '2026-11-27T10:00:00.000Z',
    finished: '2026-11-27T10:10:00.000Z',
    command: 'npm run bench -- --quick',
    machine: { cpu: 'Test CPU', cores: 2, memGiB: 24, kernel: '6.1.0', os: 'Debian 12', node: 'v20', versions: { runc: '1.1.5' } },
    options: { runs: 'case default', quick: true, budgetSeconds: 900, engines: ['berth', 'docker'] },
    results: RESULTS,
    skipped: [{ case: 'build-cold', engine: 'berth', reason: 'berth has no `build` yet' }],
  };
  const md = markdownReport(rep, 'chart.svg');
  assert.match(md, /Test CPU, 2 cores, 24 GiB RAM, kernel 6\.1\.0/);
  assert.match(md, /runc 1\.1\.5/);
  assert.match(md, /`npm run bench -- --quick`/);
  assert.match(md, /!\[benchmark chart\]\(chart\.svg\)/);
  assert.match(md, /- build-cold \(berth\): berth has no `build` yet/);
});

test('the SVG is well-formed, has a bar per measured engine and ratio labels', () => {
  const svg = svgChart(RESULTS, 'T & <x>');
  assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  assert.match(svg, /<\/svg>\n$/);
  assert.match(svg, /T &amp; &lt;x&gt;/);
  // 3 + 3 + 1 + 1 bars, plus 4 legend squares and the background.
  assert.equal((svg.match(/<rect /g) ?? []).length, 8 + 4 + 1);
  assert.match(svg, /berth\/docker 0\.48x/);
  assert.match(svg, /fill="#2ca02c">podman 100 MiB\/s|fill="#d62728">podman 150 MiB\/s/);
  // Balanced tags: every opened text closes.
  assert.equal((svg.match(/<text/g) ?? []).length, (svg.match(/<\/text>/g) ?? []).length);
  // The longest bar of a group spans the full width (380 px) at the group's max.
  assert.match(svg, /width="380\.0"/);
});

test('planned runs: defaults, quick and --runs', () => {
  const c = { runs: 10, warmup: 2 } as Parameters<typeof plannedRuns>[0];
  assert.deepEqual(plannedRuns(c, { quick: false }), { runs: 10, warmup: 2 });
  assert.deepEqual(plannedRuns(c, { quick: true }), { runs: 4, warmup: 1 });
  assert.deepEqual(plannedRuns(c, { quick: false, runs: 3 }), { runs: 3, warmup: 2 });
});

test('smaps_rollup parsing gives MiB', () => {
  const text = '00400000-7fff [rollup]\nRss:                2048 kB\nPss:                1024 kB\nPss_Anon:            512 kB\n';
  assert.deepEqual(parseSmapsRollup(text), { rss: 2, pss: 1 });
});

test('profile self times add up per function and per file', () => {
  const prof = {
    nodes: [
      { id: 1, callFrame: { functionName: '(root)', url: '', lineNumber: -1 } },
      { id: 2, callFrame: { functionName: 'parseArgs', url: 'file:///work/main/dist/src/cli/args.js', lineNumber: 9 } },
      { id: 3, callFrame: { functionName: 'open', url: 'file:///x/node_modules/better-sqlite3/lib/db.js', lineNumber: 0 } },
    ],
    startTime: 0,
    endTime: 10_000,
    samples: [2, 2, 3, 2],
    timeDeltas: [0, 1000, 3000, 2000],
  };
  const st = selfTimes([prof]);
  assert.equal(st.totalMs, 6);
  assert.deepEqual(st.functions[0], { name: 'parseArgs src/cli/args.js:10', ms: 4 });
  assert.deepEqual(st.files.map((f) => f.name), ['src/cli/args.js', 'node_modules/better-sqlite3/lib/db.js']);
});

test('BERTH_TIMINGS lines are parsed, other stderr ignored', () => {
  const err = 'warning: x\n[timing]    41.2 ms  +  41.2  main: entered\n[timing]   130.0 ms  +  88.8  run: removed\n';
  assert.deepEqual(parseTimingLines(err), [
    { label: 'main: entered', ms: 41.2 },
    { label: 'run: removed', ms: 130 },
  ]);
});
