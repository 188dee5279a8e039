/**
 * Phase timings for profiling (BERTH_TIMINGS=1): `mark('phase')` records the time since process
 * start; the marks are printed to stderr at exit. Costs one env lookup when disabled.
 */
const enabled = process.env.BERTH_TIMINGS === '1';
const marks: Array<[string, number]> = [];

export function mark(label: string): void {
  if (!enabled) return;
  if (marks.length === 0) process.on('exit', print);
  marks.push([label, performance.now()]);
}

function print(): void {
  let prev = 0;
  for (const [label, t] of marks) {
    process.stderr.write(`[timing] ${t.toFixed(1).padStart(7)} ms  +${(t - prev).toFixed(1).padStart(6)}  ${label}\n`);
    prev = t;
  }
}
