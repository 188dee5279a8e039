/**
 * `npm run bench -- profile CASE`: where Berth's time goes in one case. Runs the case's Berth command
 * lines with `node --cpu-prof` (the CLI processes the case starts; Node refuses --cpu-prof in
 * NODE_OPTIONS, so conmon's clean-up calls are not profiled) and BERTH_TIMINGS=1, then once under
 * `strace -f -c`; prints the top self-time functions and files of the profiles, the median of each
 * phase mark, and the top syscalls.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { BenchContext, CaseDef } from './cases.js';
import { type BenchEngine, have, outputObservers } from './engines.js';
import { median } from './stats.js';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

/** The subset of V8's .cpuprofile format this reads. */
export interface CpuProfile {
  nodes: Array<{ id: number; callFrame: CallFrame }>;
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface SelfTime {
  name: string;
  ms: number;
}

function shortUrl(url: string): string {
  if (!url) return '';
  const u = url.replace(/^file:\/\//, '');
  const i = u.lastIndexOf('/node_modules/');
  if (i >= 0) return u.slice(i + 1);
  const d = u.indexOf('/dist/');
  return d >= 0 ? u.slice(d + 6) : u;
}

/**
 * Self time per function and per file of one or more profiles, largest first. Sample i's time is
 * the delta to the next sample (V8's convention); the last sample gets none.
 */
export function selfTimes(profiles: CpuProfile[]): { functions: SelfTime[]; files: SelfTime[]; totalMs: number } {
  const byFn = new Map<string, number>();
  const byFile = new Map<string, number>();
  let total = 0;
  for (const p of profiles) {
    const nodes = new Map(p.nodes.map((n) => [n.id, n.callFrame]));
    for (let i = 0; i < p.samples.length - 1; i++) {
      const us = p.timeDeltas[i + 1] ?? 0;
      const f = nodes.get(p.samples[i] as number);
      if (!f) continue;
      const file = shortUrl(f.url);
      const fn = `${f.functionName || '(anonymous)'}${file ? ` ${file}:${f.lineNumber + 1}` : ''}`;
      byFn.set(fn, (byFn.get(fn) ?? 0) + us / 1000);
      const fileKey = file || f.functionName || '(native)';
      byFile.set(fileKey, (byFile.get(fileKey) ?? 0) + us / 1000);
      total += us / 1000;
    }
  }
  const top = (m: Map<string, number>) =>
    [...m].map(([name, ms]) => ({ name, ms })).sort((a, b) => b.ms - a.ms);
  return { functions: top(byFn), files: top(byFile), totalMs: total };
}

/** Phase marks of BERTH_TIMINGS output (`[timing]   12.3 ms  +  1.0  label`). */
export function parseTimingLines(stderr: string): Array<{ label: string; ms: number }> {
  const out: Array<{ label: string; ms: number }> = [];
  for (const m of stderr.matchAll(/^\[timing\]\s+(\d+(?:\.\d+)?) ms\s+\+\s*\d+(?:\.\d+)?\s+(.+)$/gm)) {
    out.push({ label: (m[2] as string).trim(), ms: Number(m[1]) });
  }
  return out;
}

/** The first `n` lines of strace -c's table (header and the costliest syscalls). */
export function straceTop(text: string, n = 15): string {
  return text.split('\n').slice(0, n + 2).join('\n');
}

export async function profileCase(
  c: CaseDef,
  berth: BenchEngine,
  ctx: BenchContext,
  outDir: string,
  runs: number,
): Promise<void> {
  if (!c.iterate) throw new Error(`case ${c.name} has no Berth runs to profile`);
  const why = c.unsupported?.(berth, ctx);
  if (why) throw new Error(`cannot profile ${c.name}: ${why}`);
  const profDir = path.join(outDir, `profile-${c.name}-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  fs.mkdirSync(profDir, { recursive: true });
  const timings = new Map<string, number[]>();
  const observer = (_argv: string[], r: { stderr: string }) => {
    for (const t of parseTimingLines(r.stderr)) timings.set(t.label, [...(timings.get(t.label) ?? []), t.ms]);
  };
  await c.setup?.(ctx);
  try {
    await c.prepare?.(berth, ctx);
    c.iterate(berth, ctx, 0); // warm-up: page cache, first-run work
    berth.env = { BERTH_TIMINGS: '1' };
    berth.nodeFlags = ['--cpu-prof', `--cpu-prof-dir=${profDir}`];
    outputObservers.push(observer);
    for (let i = 1; i <= runs; i++) c.iterate(berth, ctx, i);
    outputObservers.splice(outputObservers.indexOf(observer), 1);
    berth.env = {};
    berth.nodeFlags = [];

    const files = fs.readdirSync(profDir).filter((f) => f.endsWith('.cpuprofile'));
    const profiles = files.map((f) => JSON.parse(fs.readFileSync(path.join(profDir, f), 'utf8')) as CpuProfile);
    const st = selfTimes(profiles);
    const wall = profiles.reduce((a, p) => a + (p.endTime - p.startTime) / 1000, 0);
    console.log(`\n${c.name}: ${runs} profiled runs, ${files.length} Berth processes, ${wall.toFixed(0)} ms profiled in total`);
    console.log(`profiles: ${profDir} (open in Chrome DevTools > Performance or speedscope)\n`);
    console.log('Top self time by function (ms per run, % of sampled time):');
    for (const f of st.functions.slice(0, 20)) {
      console.log(`  ${(f.ms / runs).toFixed(1).padStart(7)}  ${((100 * f.ms) / st.totalMs).toFixed(1).padStart(5)}%  ${f.name}`);
    }
    console.log('\nTop self time by file:');
    for (const f of st.files.slice(0, 12)) {
      console.log(`  ${(f.ms / runs).toFixed(1).padStart(7)}  ${((100 * f.ms) / st.totalMs).toFixed(1).padStart(5)}%  ${f.name}`);
    }
    if (timings.size) {
      console.log('\nPhase marks (BERTH_TIMINGS=1), median ms since process start:');
      const rows = [...timings].map(([label, v]) => ({ label, ms: median(v) })).sort((a, b) => a.ms - b.ms);
      let prev = 0;
      for (const r of rows) {
        console.log(`  ${r.ms.toFixed(1).padStart(7)}  +${(r.ms - prev).toFixed(1).padStart(6)}  ${r.label}`);
        prev = r.ms;
      }
    } else {
      console.log('\nNo phase marks: Berth printed no BERTH_TIMINGS lines for this case.');
    }

    if (have('strace')) {
      const out = path.join(profDir, 'strace-c.txt');
      berth.wrap = ['strace', '-f', '-c', '-o', out];
      try {
        c.iterate(berth, ctx, runs + 1);
      } finally {
        berth.wrap = [];
      }
      console.log(`\nstrace -f -c of one run (${out}):`);
      console.log(straceTop(fs.readFileSync(out, 'utf8')));
    } else {
      console.log('\nstrace is not installed: no syscall summary (apt-get install strace)');
    }
  } finally {
    berth.env = {};
    berth.nodeFlags = [];
    c.cleanup?.(berth, ctx);
    c.teardown?.(ctx);
  }
}
