import { humanSize } from '../../util/human.js';
import { type ParsedArgs, bool, list, str } from '../args.js';
import type { CliContext } from '../context.js';
import { formatRows } from '../format.js';
import { parseFilterFlags, printJson } from './common.js';

export async function diskUsage(ctx: CliContext, p: ParsedArgs): Promise<number> {
  const engine = await ctx.engine();
  const { diskUsage } = await import('../../engine/system.js');
  await (await import('../../engine/usage.js')).loadUsageProviders();
  printDiskUsage(ctx, p, diskUsage(engine));
  return 0;
}

/** `system df`'s table (and -v items), shared with remote mode (which gets the rows from the API). */
export function printDiskUsage(ctx: CliContext, p: ParsedArgs, du: import('../../engine/system.js').UsageRow[]): void {
  const rows = du.map((r) => ({
    Type: r.type,
    TotalCount: String(r.total),
    Active: String(r.active),
    Size: humanSize(r.size),
    Reclaimable: `${humanSize(r.reclaimable)}${r.size > 0 ? ` (${Math.round((r.reclaimable * 100) / r.size)}%)` : ''}`,
  }));
  ctx.print(
    formatRows(str(p, 'format'), rows, {
      defaultTable: 'table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}',
      headers: { Type: 'TYPE', TotalCount: 'TOTAL', Active: 'ACTIVE', Size: 'SIZE', Reclaimable: 'RECLAIMABLE' },
    }),
  );
  if (bool(p, 'verbose')) {
    for (const r of du) {
      if (!r.items.length) continue;
      ctx.out(`\n${r.type}:`);
      for (const it of r.items) ctx.out(`  ${it.name}\t${humanSize(it.size)}${it.note ? `\t${it.note}` : ''}`);
    }
  }
}

export async function checkStore(ctx: CliContext, p: ParsedArgs): Promise<number> {
  const engine = await ctx.engine();
  const { checkStore } = await import('../../engine/check.js');
  await import('../../engine/system.js').then((m) => m.registerAllChecks());
  const r = await checkStore(engine, { repair: bool(p, 'repair'), quick: bool(p, 'quick') });
  const c = r.checked;
  ctx.out(`checked ${c.images} images, ${c.layers} layers, ${c.blobs} blobs, ${c.containers} containers`);
  for (const pr of r.problems) ctx.out(`${pr.repaired ? 'repaired' : 'problem'}: ${pr.kind}: ${pr.detail}`);
  const left = r.problems.filter((x) => !x.repaired).length;
  if (left) {
    ctx.err(`${left} problem(s) remain${bool(p, 'repair') ? '' : '; run berth system check --repair'}`);
    return 1;
  }
  ctx.out('store is consistent');
  return 0;
}

export async function version(ctx: CliContext, p: ParsedArgs): Promise<number> {
  const { VERSION, API_VERSION } = await import('../../version.js');
  const v = { Client: { Version: VERSION, ApiVersion: API_VERSION, Os: 'linux', Arch: process.arch, NodeVersion: process.version } };
  const f = str(p, 'format');
  if (f) await printJson(ctx, f, [v]);
  else ctx.out(`Berth version ${VERSION} (API ${API_VERSION}, node ${process.version}, ${process.platform}/${process.arch})`);
  return 0;
}

export async function info(ctx: CliContext, p: ParsedArgs): Promise<number> {
  const engine = await ctx.engine();
  const { systemInfo } = await import('../../engine/system.js');
  await printInfo(ctx, p, await systemInfo(engine));
  return 0;
}

/** `info`'s output (--format or one `Key: value` line per field), shared with remote mode (the engine's summary from /info). */
export async function printInfo(ctx: CliContext, p: ParsedArgs, i: Record<string, unknown>): Promise<void> {
  const f = str(p, 'format');
  if (f) {
    await printJson(ctx, f, [i]);
    return;
  }
  for (const [k, v] of Object.entries(i)) ctx.out(`${k}: ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`);
}

type SystemPruneOptions = import('../../engine/prune.js').SystemPruneOptions;
type SystemPruneReport = import('../../engine/prune.js').SystemPruneReport;

/** A prune command's `--filter until=... label=...` (plus `extra` filter names) as the engine's options. */
export async function pruneOptions(p: ParsedArgs, extra: string[] = []): Promise<{ opts: SystemPruneOptions; filters: Map<string, string[]> }> {
  const { parseUntil } = await import('./common.js');
  const filters = parseFilterFlags(list(p, 'filter'), ['until', 'label', ...extra]);
  const opts: SystemPruneOptions = {};
  const until = filters.get('until')?.[0];
  if (until) opts.until = parseUntil(until);
  const labels = filters.get('label');
  if (labels?.length) opts.labels = labels;
  return { opts, filters };
}

/**
 * The per-kind prune commands (container, image, network, volume prune): the system prune of one
 * kind, which the API's prune endpoints run too. `--all` / `all=true` of volume prune: named volumes.
 */
export async function pruneOne(ctx: CliContext, p: ParsedArgs, kind: import('../../engine/prune.js').PruneKind, more: SystemPruneOptions = {}, extra: string[] = []): Promise<SystemPruneReport> {
  const { opts, filters } = await pruneOptions(p, extra);
  if (kind === 'volumes') opts.allVolumes = bool(p, 'all') || ['true', '1'].includes(filters.get('all')?.[0] ?? '');
  const { systemPrune } = await import('../../engine/prune.js');
  return systemPrune(await ctx.engine(), { ...opts, ...more, only: [kind] });
}

/** `builder prune`: the build cache alone (step results and unused cache mounts), docker's output. */
export async function pruneBuilder(ctx: CliContext, p: ParsedArgs): Promise<number> {
  bool(p, 'all');
  const r = await pruneOne(ctx, p, 'buildCache');
  if (r.buildCache.length) {
    ctx.out('Deleted build cache objects:');
    for (const b of r.buildCache) ctx.out(b.id);
    ctx.out('');
  }
  for (const f of r.failed) ctx.err(`Error: could not remove ${f.kind} ${f.id}: ${f.reason}`);
  ctx.out(`Total reclaimed space: ${humanSize(r.spaceReclaimed)}`);
  return r.failed.length ? 1 : 0;
}

/**
 * `system prune`: asks first unless `-f` (docker's wording; anything but y/yes cancels), prints
 * docker's "Deleted ..." sections and the reclaimed space. `--dry-run` prints the same sections under
 * "Would delete" and changes nothing.
 */
export async function prune(ctx: CliContext, p: ParsedArgs): Promise<number> {
  const { opts } = await pruneOptions(p);
  Object.assign(opts, { all: bool(p, 'all'), volumes: bool(p, 'volumes'), dryRun: bool(p, 'dry-run') });
  if (!opts.dryRun && !(await confirmSystemPrune(ctx, p, opts))) return 1;
  const engine = await ctx.engine();
  const { systemPrune } = await import('../../engine/prune.js');
  return printSystemPrune(ctx, await systemPrune(engine, opts));
}

/** Unless `--force`: docker's warning and question; false (after saying so) when the answer is not y/yes. */
export async function confirmSystemPrune(ctx: CliContext, p: ParsedArgs, opts: SystemPruneOptions): Promise<boolean> {
  if (!bool(p, 'force')) {
    const what = [
      '  - all stopped containers',
      '  - all networks not used by at least one container',
      ...(opts.volumes ? ['  - all anonymous volumes not used by at least one container'] : []),
      opts.all ? '  - all images without at least one container associated to them' : '  - all dangling images',
      opts.all ? '  - all build cache' : '  - unused build cache',
    ];
    ctx.stderr.write(`WARNING! This will remove:\n${what.join('\n')}\n\nAre you sure you want to continue? [y/N] `);
    const answer = await readLine(ctx.stdin);
    if (!/^\s*y(es)?\s*$/i.test(answer)) {
      ctx.err('system prune has been cancelled');
      return false;
    }
  }
  return true;
}

/** `system prune`'s sections, failures and total (shared with remote mode); the exit status. */
export function printSystemPrune(ctx: CliContext, r: SystemPruneReport): number {
  const verb = r.dryRun ? 'Would delete' : 'Deleted';
  const section = (title: string, lines: string[]) => {
    if (!lines.length) return;
    ctx.out(`${verb} ${title}:`);
    for (const l of lines) ctx.out(l);
    ctx.out('');
  };
  section('Containers', r.containers.map((c) => (r.dryRun ? `${c.id}\t${humanSize(c.size)}` : c.id)));
  section('Networks', r.networks.map((n) => n.id));
  section('Volumes', r.volumes.map((v) => (r.dryRun ? `${v.id}\t${humanSize(v.size)}` : v.id)));
  section('Images', [...r.untagged.map((u) => `untagged: ${u}`), ...r.images.map((i) => `deleted: ${i.id}`)]);
  section('build cache objects', r.buildCache.map((b) => b.id));
  for (const f of r.failed) ctx.err(`Error: could not remove ${f.kind} ${f.id.slice(0, 19)}: ${f.reason}`);
  ctx.out(`${r.dryRun ? 'Total space that would be reclaimed' : 'Total reclaimed space'}: ${humanSize(r.spaceReclaimed)}`);
  return r.failed.length ? 1 : 0;
}

/** One line from stdin (empty at end of input), without waiting for more. */
function readLine(stdin: NodeJS.ReadStream): Promise<string> {
  return new Promise((resolve) => {
    let buf = '';
    const done = () => {
      stdin.off('data', onData);
      stdin.off('end', done);
      stdin.pause();
      resolve(buf.split('\n')[0] ?? '');
    };
    const onData = (d: Buffer) => {
      buf += d.toString('utf8');
      if (buf.includes('\n')) done();
    };
    stdin.on('data', onData);
    stdin.on('end', done);
    stdin.resume();
  });
}
