/**
 * Statistics of benchmark samples: median, min-max and ratios between engines. Pure functions.
 */

/** Whether a smaller or a larger value of a metric is the better one (ms vs MiB/s). */
export type Better = 'lower' | 'higher';

export interface Summary {
  /** Number of samples (warm-up runs excluded). */
  n: number;
  median: number;
  min: number;
  max: number;
  mean: number;
}

/**
 * Median of the samples: the middle value, or the mean of the two middle values for an even count.
 * Throws on an empty list or a non-finite sample (a benchmark that produced no number is a bug).
 */
export function median(samples: readonly number[]): number {
  const s = sorted(samples);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** Median, min, max and mean of a non-empty list of finite samples. */
export function summarize(samples: readonly number[]): Summary {
  const s = sorted(samples);
  return {
    n: s.length,
    median: median(s),
    min: s[0] as number,
    max: s[s.length - 1] as number,
    mean: s.reduce((a, b) => a + b, 0) / s.length,
  };
}

/**
 * Berth's median divided by a peer's median. Below 1 means Berth is faster for times and slower
 * for rates: read it together with `better`, or use `advantage` for a direction-free number.
 * Undefined when the peer's median is 0 (no meaningful ratio).
 */
export function ratio(berth: number, peer: number): number | undefined {
  if (peer === 0 || !Number.isFinite(berth) || !Number.isFinite(peer)) return undefined;
  return berth / peer;
}

/** True when Berth's value is at least as good as the peer's, given the metric's direction. */
export function berthWins(berth: number, peer: number, better: Better): boolean {
  return better === 'lower' ? berth <= peer : berth >= peer;
}

/** Formats a ratio as "0.42x"; two significant digits below 10, whole numbers above. */
export function formatRatio(r: number | undefined): string {
  if (r === undefined) return '-';
  if (r >= 10) return `${Math.round(r)}x`;
  return `${r.toPrecision(2)}x`;
}

/** Formats a value of a metric with a precision that suits its magnitude ("8.3", "233", "12.6"). */
export function formatValue(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a >= 100) return String(Math.round(v));
  if (a >= 10) return v.toFixed(1);
  if (a >= 1) return v.toFixed(2);
  return v.toPrecision(2);
}

function sorted(samples: readonly number[]): number[] {
  if (samples.length === 0) throw new RangeError('no samples: a benchmark case produced no measurement');
  for (const x of samples) if (!Number.isFinite(x)) throw new RangeError(`sample is not a finite number: ${x}`);
  return [...samples].sort((a, b) => a - b);
}
