/**
 * Runs one case on several engines side by side: set-up, per-engine preparation, then rounds in which
 * every engine runs once in turn (A B C A B C ...), so a slow phase of the machine hits all engines
 * alike. Warm-up rounds are discarded; a round starts only while the case's time budget lasts.
 */
import type { BenchContext, CaseDef } from './cases.js';
import type { BenchEngine } from './engines.js';
import { summarize } from './stats.js';
import type { EngineName, Measurement, MetricResult, Skip } from './types.js';

export interface RunOptions {
  /** Measured runs per engine; undefined = the case's default (a third of it with quick). */
  runs?: number;
  quick: boolean;
  /** Seconds left in the whole suite's budget. */
  remainingS: number;
  /** Polled between runs: true stops the case (Ctrl-C), keeping what was measured. */
  stop?: () => boolean;
}

export interface CaseOutcome {
  results: MetricResult[];
  skipped: Skip[];
  /** Measured rounds actually run. */
  rounds: number;
}

/** Runs and warm-ups a case gets under the options. */
export function plannedRuns(c: CaseDef, o: Pick<RunOptions, 'runs' | 'quick'>): { runs: number; warmup: number } {
  if (o.runs !== undefined) return { runs: Math.max(1, o.runs), warmup: o.quick ? Math.min(1, c.warmup) : c.warmup };
  if (o.quick) return { runs: Math.max(1, Math.ceil(c.runs / 3)), warmup: Math.min(1, c.warmup) };
  return { runs: c.runs, warmup: c.warmup };
}

type Participant = { name: EngineName; run: (i: number) => Measurement[] };

export async function runCase(c: CaseDef, engines: BenchEngine[], ctx: BenchContext, o: RunOptions): Promise<CaseOutcome> {
  const skipped: Skip[] = [];
  const samples = new Map<string, { m: Measurement; by: Map<EngineName, number[]> }>();
  const budgetMs = Math.min(c.budgetS, o.remainingS) * 1000;
  const { runs, warmup } = plannedRuns(c, o);
  const prepared: BenchEngine[] = [];
  let rounds = 0;
  try {
    await c.setup?.(ctx);
    const participants: Participant[] = [];
    if (!c.skipEngines) {
      for (const e of engines) {
        const why = c.unsupported?.(e, ctx);
        if (why) {
          skipped.push({ case: c.name, engine: e.name, reason: why });
          continue;
        }
        try {
          prepared.push(e);
          const t0 = Date.now();
          await c.prepare?.(e, ctx);
          if (c.prepare) ctx.log(`  ${e.name}: prepared in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
          participants.push({ name: e.name, run: (i) => (c.iterate as NonNullable<CaseDef['iterate']>)(e, ctx, i) });
        } catch (err) {
          skipped.push({ case: c.name, engine: e.name, reason: `preparation failed: ${(err as Error).message}` });
        }
      }
    }
    if (c.floor) participants.push({ name: 'floor', run: (i) => (c.floor as NonNullable<CaseDef['floor']>)(ctx, i) });
    const failed = new Set<EngineName>();
    // The case's budget covers its measured rounds; preparation counts only against the suite's.
    const roundsStart = Date.now();
    for (let round = 0; round < warmup + runs; round++) {
      if (round > warmup && Date.now() - roundsStart > budgetMs) {
        ctx.log(`  ${c.name}: time budget of ${Math.round(budgetMs / 1000)} s reached after ${rounds} measured rounds`);
        break;
      }
      for (const p of participants) {
        // Let signal handlers run between the synchronous commands.
        await new Promise((r) => setImmediate(r));
        if (o.stop?.()) break;
        if (failed.has(p.name)) continue;
        let ms: Measurement[];
        try {
          ms = p.run(round);
        } catch (err) {
          failed.add(p.name);
          skipped.push({ case: c.name, engine: p.name, reason: `run failed: ${(err as Error).message}` });
          ctx.log(`  ${c.name} ${p.name}: ${(err as Error).message}`);
          continue;
        }
        if (round < warmup) continue;
        for (const m of ms) {
          const key = m.metric;
          let s = samples.get(key);
          if (!s) samples.set(key, (s = { m, by: new Map() }));
          const list = s.by.get(p.name) ?? [];
          list.push(m.value);
          s.by.set(p.name, list);
        }
      }
      if (o.stop?.()) break;
      if (round >= warmup) rounds++;
    }
  } catch (err) {
    skipped.push({ case: c.name, reason: `set-up failed: ${(err as Error).message}` });
  } finally {
    for (const e of prepared) {
      try {
        const t0 = Date.now();
        c.cleanup?.(e, ctx);
        if (c.cleanup && Date.now() - t0 > 2000) ctx.log(`  ${e.name}: cleaned up in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      } catch (err) {
        ctx.log(`  ${c.name} ${e.name}: clean-up failed: ${(err as Error).message}`);
      }
    }
    try {
      c.teardown?.(ctx);
    } catch (err) {
      ctx.log(`  ${c.name}: tear-down failed: ${(err as Error).message}`);
    }
  }
  const results: MetricResult[] = [];
  for (const { m, by } of samples.values()) {
    const r: MetricResult = { case: c.name, metric: m.metric, unit: m.unit, better: m.better, engines: {} };
    for (const [name, list] of by) r.engines[name] = { samples: list, summary: summarize(list) };
    for (const s of skipped) if (s.engine && !r.engines[s.engine]) r.engines[s.engine] = { skipped: s.reason };
    results.push(r);
  }
  return { results, skipped, rounds };
}
