/**
 * Renders a benchmark report as a markdown table and as a hand-written SVG bar chart. Pure: text in,
 * text out; the caller writes the files.
 */
import { berthWins, formatRatio, formatValue, ratio } from './stats.js';
import { type BenchReport, ENGINE_ORDER, type EngineName, type MetricResult } from './types.js';

const PEERS: readonly EngineName[] = ['docker', 'podman', 'floor'];

/** Engines that have at least one measured sample in the results, in the fixed display order. */
export function enginesIn(results: readonly MetricResult[]): EngineName[] {
  return ENGINE_ORDER.filter((e) => results.some((r) => r.engines[e]?.summary));
}

/** "233 ms (220-250)": median and the min-max range of one engine's samples. */
export function cell(r: MetricResult, e: EngineName): string {
  const er = r.engines[e];
  if (!er) return '';
  if (!er.summary) return er.skipped ? 'skipped' : '';
  const s = er.summary;
  const range = s.n > 1 ? ` (${formatValue(s.min)}-${formatValue(s.max)})` : '';
  return `${formatValue(s.median)} ${r.unit}${range}`;
}

/** Berth's median over the peer's, or undefined when either is missing. */
export function berthRatio(r: MetricResult, peer: EngineName): number | undefined {
  const b = r.engines.berth?.summary;
  const p = r.engines[peer]?.summary;
  if (!b || !p) return undefined;
  return ratio(b.median, p.median);
}

/**
 * The results as a markdown table: one row per metric, one column per engine (median and min-max)
 * and one column per peer with Berth's ratio to it. A ratio is bold where Berth is better.
 */
export function markdownTable(results: readonly MetricResult[]): string {
  const engines = enginesIn(results);
  const peers = engines.includes('berth') ? PEERS.filter((p) => p !== 'floor' && engines.includes(p)) : [];
  const head = ['case', 'metric', 'n', ...engines, ...peers.map((p) => `berth/${p}`)];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i < 2 ? '---' : '---:')).join('|')}|`];
  for (const r of results) {
    const ratios = peers.map((p) => {
      const x = berthRatio(r, p);
      if (x === undefined) return '-';
      const s = formatRatio(x);
      const b = r.engines.berth?.summary?.median as number;
      const q = r.engines[p]?.summary?.median as number;
      return berthWins(b, q, r.better) ? `**${s}**` : s;
    });
    const metric = `${r.metric}${r.better === 'higher' ? ' (higher is better)' : ''}`;
    const n = Math.max(0, ...Object.values(r.engines).map((v) => v?.summary?.n ?? 0));
    lines.push(`| ${[r.case, metric, String(n), ...engines.map((e) => cell(r, e)), ...ratios].join(' | ')} |`);
  }
  return lines.join('\n');
}

/** Markdown of the whole report: machine, command, table, skips. */
export function markdownReport(rep: BenchReport, svgName?: string): string {
  const m = rep.machine;
  const versions = Object.entries(m.versions)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  const out = [
    `Run ${rep.started}${rep.options.quick ? ' (quick)' : ''}: ${rep.options.runs === 'case default' ? "each case's default number of" : rep.options.runs} measured runs per engine after warm-up runs, engines interleaved (A B C A B C ...); n is the number of measured runs.`,
    '',
    `Machine: ${m.cpu}, ${m.cores} cores, ${m.memGiB} GiB RAM, kernel ${m.kernel}, ${m.os}, Node ${m.node}.`,
    `Versions: ${versions || 'none found'}.`,
    '',
    `Command: \`${rep.command}\``,
    '',
    'Each cell: median (min-max). Ratios are Berth\'s median over the peer\'s: below 1 is faster for times, ' +
      'above 1 is faster for rates; bold where Berth is better.',
    '',
    markdownTable(rep.results),
  ];
  if (svgName) out.push('', `![benchmark chart](${svgName})`);
  if (rep.skipped.length) {
    out.push('', 'Skipped:', '');
    for (const s of rep.skipped) out.push(`- ${s.case}${s.engine ? ` (${s.engine})` : ''}: ${s.reason}`);
  }
  return `${out.join('\n')}\n`;
}

const COLORS: Record<EngineName, string> = {
  berth: '#1f77b4',
  docker: '#7f7f7f',
  podman: '#9467bd',
  floor: '#bcbd22',
};

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/**
 * A horizontal grouped bar chart: one group per metric, one bar per engine (length = median, scaled
 * within the group so engines compare at a glance), a thin line for min-max, the value at the bar's
 * end and, on each peer's bar, Berth's ratio to it (green where Berth is better, red where worse).
 */
export function svgChart(results: readonly MetricResult[], title = 'Berth benchmarks'): string {
  const engines = enginesIn(results);
  const rows = results.filter((r) => engines.some((e) => r.engines[e]?.summary));
  const W = 1120;
  const labelW = 360;
  const barMax = 380;
  const barH = 14;
  const gap = 4;
  const groupPad = 14;
  const top = 56;
  let y = top;
  const parts: string[] = [];
  for (const r of rows) {
    const present = engines.filter((e) => r.engines[e]?.summary);
    const scale = Math.max(...present.map((e) => r.engines[e]?.summary?.max as number), 1e-12);
    const groupH = present.length * (barH + gap) - gap;
    const dir = r.better === 'higher' ? 'higher = better' : 'lower = better';
    parts.push(
      `<text x="${labelW - 10}" y="${y + groupH / 2 - 2}" text-anchor="end" font-weight="bold">${esc(r.case)}</text>`,
      `<text x="${labelW - 10}" y="${y + groupH / 2 + 12}" text-anchor="end" fill="#555">${esc(`${r.metric} (${r.unit}, ${dir})`)}</text>`,
    );
    for (const e of present) {
      const s = r.engines[e]?.summary;
      if (!s) continue;
      const w = Math.max(1, (s.median / scale) * barMax);
      const x0 = labelW;
      parts.push(
        `<rect x="${x0}" y="${y}" width="${w.toFixed(1)}" height="${barH}" fill="${COLORS[e]}"><title>${esc(`${e}: median ${formatValue(s.median)} ${r.unit}, min ${formatValue(s.min)}, max ${formatValue(s.max)}, n=${s.n}`)}</title></rect>`,
      );
      if (s.n > 1) {
        const a = x0 + (s.min / scale) * barMax;
        const b = x0 + (s.max / scale) * barMax;
        parts.push(
          `<line x1="${a.toFixed(1)}" y1="${y + barH / 2}" x2="${b.toFixed(1)}" y2="${y + barH / 2}" stroke="#000" stroke-width="1.5"/>`,
        );
      }
      let label = `${e} ${formatValue(s.median)} ${r.unit}`;
      let color = '#000';
      const x = e !== 'berth' && e !== 'floor' ? berthRatio(r, e) : undefined;
      if (x !== undefined) {
        const wins = berthWins(r.engines.berth?.summary?.median as number, s.median, r.better);
        label += `  berth/${e} ${formatRatio(x)}`;
        color = wins ? '#2ca02c' : '#d62728';
      }
      parts.push(
        `<text x="${(x0 + Math.max(w, ((s.max / scale) * barMax)) + 6).toFixed(1)}" y="${y + barH - 3}" fill="${color}">${esc(label)}</text>`,
      );
      y += barH + gap;
    }
    y += groupPad - gap;
    parts.push(`<line x1="10" y1="${y - groupPad / 2}" x2="${W - 10}" y2="${y - groupPad / 2}" stroke="#eee"/>`);
  }
  const legend = engines
    .map(
      (e, i) =>
        `<rect x="${labelW + i * 110}" y="30" width="12" height="12" fill="${COLORS[e]}"/><text x="${labelW + i * 110 + 16}" y="40">${e}</text>`,
    )
    .join('');
  const H = y + 20;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="10" y="20" font-size="16" font-weight="bold">${esc(title)}</text>`,
    `<text x="10" y="42" fill="#555">median bar, min-max line</text>`,
    legend,
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}
