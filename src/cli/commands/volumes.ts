/** `berth volume ...`: thin edge over VolumeService. */
import { dockerVolumeInspect } from '../../compat/volume-inspect.js';
import { BerthError } from '../../errors.js';
import { humanSize } from '../../util/human.js';
import { parseFilters } from '../../util/filters.js';
import { VolumeService } from '../../volume/service.js';
import { type ParsedArgs, bool, keyValues, list, str } from '../args.js';
import type { CliContext } from '../context.js';
import { formatRows, VOLUME_TABLE } from '../format.js';
import { printJson } from './common.js';

async function service(ctx: CliContext): Promise<VolumeService> {
  return new VolumeService(await ctx.engine());
}


export async function createVolume(ctx: CliContext, p: ParsedArgs): Promise<number> {
  const svc = await service(ctx);
  const name = (p.args[0] as string | undefined) ?? str(p, 'name');
  const opts = keyValues(list(p, 'opt'), 'option');
  const v = svc.create({ ...(name ? { name } : {}), driver: str(p, 'driver') ?? 'local', labels: keyValues(list(p, 'label'), 'label'), options: opts });
  ctx.out(v.name);
  return 0;
}

export async function listVolumes(ctx: CliContext, p: ParsedArgs): Promise<number> {
  const svc = await service(ctx);
  const f = parseFilters(list(p, 'filter'), ['dangling', 'label', 'name', 'driver']);
  const vols = svc.listFiltered(f);
  const rows = vols.map((v) => ({
    Driver: v.driver,
    Name: v.name,
    Scope: 'local',
    Mountpoint: v.mountpoint,
    Labels: Object.entries(v.labels).map(([k, x]) => `${k}=${x}`).join(','),
    Links: String(svc.users(v.name).length),
    Size: 'N/A',
  }));
  ctx.print(
    formatRows(str(p, 'format'), rows, { ...VOLUME_TABLE, quiet: bool(p, 'quiet') }),
  );
  return 0;
}

export async function inspectVolumes(ctx: CliContext, p: ParsedArgs): Promise<number> {
  const svc = await service(ctx);
  const docs: unknown[] = [];
  let failed = 0;
  for (const a of p.args) {
    try {
      docs.push(dockerVolumeInspect(svc.inspect(a)));
    } catch (e) {
      if (!(e instanceof BerthError)) throw e;
      ctx.err(`Error response from daemon: ${e.message}`);
      failed++;
    }
  }
  if (docs.length || !failed) await printJson(ctx, str(p, 'format'), docs);
  return failed ? 1 : 0;
}

export async function removeVolumes(ctx: CliContext, p: ParsedArgs): Promise<number> {
  const svc = await service(ctx);
  let failed = 0;
  for (const a of p.args) {
    try {
      svc.remove(a, { force: bool(p, 'force') });
      ctx.out(a);
    } catch (e) {
      if (!(e instanceof BerthError)) throw e;
      ctx.err(`Error response from daemon: ${e.message}`);
      failed++;
    }
  }
  return failed ? 1 : 0;
}

export async function pruneVolumes(ctx: CliContext, p: ParsedArgs): Promise<number> {
  const { pruneOne } = await import('./system.js');
  const r = await pruneOne(ctx, p, 'volumes', {}, ['all']);
  if (r.volumes.length) ctx.out(`Deleted Volumes:\n${r.volumes.map((v) => v.id).join('\n')}\n`);
  ctx.out(`Total reclaimed space: ${humanSize(r.spaceReclaimed)}`);
  return 0;
}
