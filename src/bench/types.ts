/**
 * The data model of a benchmark run: what cases measure, and the report written as JSON and rendered
 * as markdown and SVG.
 */
import type { Better, Summary } from './stats.js';

/** Engines compared side by side; "floor" is a lower bound (bare runc, `node -e 0`, sha256sum). */
export type EngineName = 'berth' | 'docker' | 'podman' | 'floor';

export const ENGINE_ORDER: readonly EngineName[] = ['berth', 'docker', 'podman', 'floor'];

/** One number taken in one run of a case for one engine. */
export interface Measurement {
  /** Name of the metric inside its case ("run --rm true", "push", "RSS per monitor"). */
  metric: string;
  unit: 'ms' | 's' | 'MiB' | 'MiB/s';
  better: Better;
  value: number;
}

/** The samples of one engine for one metric, or why it has none. */
export interface EngineResult {
  samples?: number[];
  summary?: Summary;
  /** Set when the engine was not measured for this metric (missing command, failure, budget). */
  skipped?: string;
}

/** One row of the results: a metric of a case, with each engine's numbers. */
export interface MetricResult {
  case: string;
  metric: string;
  unit: Measurement['unit'];
  better: Better;
  engines: Partial<Record<EngineName, EngineResult>>;
}

export interface MachineInfo {
  cpu: string;
  cores: number;
  memGiB: number;
  kernel: string;
  os: string;
  node: string;
  /** Versions of the tools compared (runc, conmon, docker, podman, buildah, ...), as each prints it. */
  versions: Record<string, string>;
}

/** A case (or a case for one engine) that produced no numbers, and why. */
export interface Skip {
  case: string;
  engine?: EngineName;
  reason: string;
}

export interface BenchReport {
  /** ISO time the run started. */
  started: string;
  finished: string;
  /** The command line that produced the report, to repeat it. */
  command: string;
  machine: MachineInfo;
  /** runs: measured runs per engine when --runs set them, else each case's default (see each summary's n). */
  options: { runs: number | 'case default'; quick: boolean; budgetSeconds: number; engines: EngineName[] };
  results: MetricResult[];
  skipped: Skip[];
}
