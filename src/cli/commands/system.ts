import { humanSize } from '../../util/human.js';
import { type ParsedArgs, bool, str } from '../args.js';
import type { CliContext } from '../context.js';
import { formatRows } from '../format.js';
import { printJson } from './common.js';

export async function diskUsage(ctx: CliContext, p: ParsedArgs): Promise<number> {
  const engine = await ctx.engine();
  const { diskUsage } = await import('../../engine/system.js');
  const du = diskUsage(engine);
  const rows = du.map((r) => ({
    Type: r.type,
    TotalCount: String(r.total),
    Active: String(r.active),
    Size: humanSize(r.size),
    Reclaimable: `${humanSize(r.reclaimable)}${r.size > 0 ? ` (${Math.round((r.reclaimable * 100) / r.size)}%)` : ''}`,
  }));
  ctx.stdout.write(
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
  return 0;
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
  if (f) printJson(ctx, f, [v]);
  else ctx.out(`Berth version ${VERSION} (API ${API_VERSION}, node ${process.version}, ${process.platform}/${process.arch})`);
  return 0;
}

export async function info(ctx: CliContext, p: ParsedArgs): Promise<number> {
  const engine = await ctx.engine();
  const { systemInfo } = await import('../../engine/system.js');
  const i = await systemInfo(engine);
  const f = str(p, 'format');
  if (f) {
    printJson(ctx, f, [i]);
    return 0;
  }
  for (const [k, v] of Object.entries(i)) ctx.out(`${k}: ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`);
  return 0;
}
