/** `berth network ...`: thin edge over NetworkService. */
import { dockerNetworkInspect } from '../../compat/network-inspect.js';
import { ContainerStore } from '../../container/store.js';
import { BerthError, invalidArgument } from '../../errors.js';
import { NetworkService } from '../../network/service.js';
import { matchLabels, parseFilters } from '../../util/filters.js';
import { type ParsedArgs, bool, keyValues, list, str } from '../args.js';
import type { CliContext } from '../context.js';
import { formatRows } from '../format.js';
import { goTime, printJson } from './common.js';

async function service(ctx: CliContext): Promise<NetworkService> {
  return new NetworkService(await ctx.engine());
}


export async function createNetwork(ctx: CliContext, p: ParsedArgs): Promise<number> {
  const svc = await service(ctx);
  // One IPv4 and (with --ipv6) one IPv6 subnet; each gateway goes with the subnet of its family.
  const v6 = (x: string) => x.includes(':');
  const subnets = list(p, 'subnet');
  const gateways = list(p, 'gateway');
  const [s4, s6, g4, g6] = [subnets.filter((x) => !v6(x)), subnets.filter(v6), gateways.filter((x) => !v6(x)), gateways.filter(v6)];
  if (s4.length > 1 || s6.length > 1 || g4.length > 1 || g6.length > 1)
    throw invalidArgument('only one --subnet and one --gateway per address family (IPv4, IPv6) are supported per network');
  const rec = svc.create({
    name: p.args[0] as string,
    driver: str(p, 'driver') ?? 'bridge',
    ...(s4[0] ? { subnet: s4[0] } : {}),
    ...(g4[0] ? { gateway: g4[0] } : {}),
    ...(str(p, 'ip-range') ? { ipRange: str(p, 'ip-range') as string } : {}),
    ...(s6[0] ? { subnet6: s6[0] } : {}),
    ...(g6[0] ? { gateway6: g6[0] } : {}),
    ipv6: bool(p, 'ipv6'),
    internal: bool(p, 'internal'),
    labels: keyValues(list(p, 'label'), 'label'),
    options: keyValues(list(p, 'opt'), 'option'),
  });
  ctx.out(rec.id);
  return 0;
}

export async function listNetworks(ctx: CliContext, p: ParsedArgs): Promise<number> {
  const svc = await service(ctx);
  const f = parseFilters(list(p, 'filter'), ['name', 'id', 'label', 'driver', 'type', 'scope', 'dangling']);
  let nets = svc.list();
  nets = nets.filter((n) => {
    if (f.get('name') && !f.get('name')?.some((v) => n.name.includes(v))) return false;
    if (f.get('id') && !f.get('id')?.some((v) => n.id.startsWith(v))) return false;
    if (f.get('driver') && !f.get('driver')?.includes(n.driver)) return false;
    if (f.get('scope') && !f.get('scope')?.includes('local')) return false;
    if (f.get('type') && !f.get('type')?.includes(n.predefined ? 'builtin' : 'custom')) return false;
    if (!matchLabels(f.get('label'), n.labels)) return false;
    if (f.get('dangling')) {
      const want = f.get('dangling')?.[0] === 'true' || f.get('dangling')?.[0] === '1';
      const used = svc.users(n).configured.length > 0 || n.predefined;
      if (want === used) return false;
    }
    return true;
  });
  const noTrunc = bool(p, 'no-trunc');
  const rows = nets.map((n) => ({
    ID: noTrunc ? n.id : n.id.slice(0, 12),
    Name: n.name,
    Driver: n.driver,
    Scope: 'local',
    IPv6: String(!!n.ipv6),
    Internal: String(n.internal),
    Labels: Object.entries(n.labels).map(([k, v]) => `${k}=${v}`).join(','),
    CreatedAt: goTime(n.created),
  }));
  ctx.print(
    formatRows(str(p, 'format'), rows, {
      defaultTable: 'table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}',
      headers: { ID: 'NETWORK ID', Name: 'NAME', Driver: 'DRIVER', Scope: 'SCOPE', IPv6: 'IPV6', Internal: 'INTERNAL', Labels: 'LABELS', CreatedAt: 'CREATED' },
      quiet: bool(p, 'quiet'),
    }),
  );
  return 0;
}

export async function inspectNetworks(ctx: CliContext, p: ParsedArgs): Promise<number> {
  const svc = await service(ctx);
  const containers = new ContainerStore(svc.engine.db).list();
  const docs: unknown[] = [];
  let failed = 0;
  for (const a of p.args) {
    try {
      docs.push(dockerNetworkInspect(svc.resolve(a), containers));
    } catch (e) {
      if (!(e instanceof BerthError)) throw e;
      ctx.err(`Error response from daemon: ${e.message}`);
      failed++;
    }
  }
  if (docs.length || !failed) await printJson(ctx, str(p, 'format'), docs);
  return failed ? 1 : 0;
}

export async function removeNetworks(ctx: CliContext, p: ParsedArgs): Promise<number> {
  const svc = await service(ctx);
  let failed = 0;
  for (const a of p.args) {
    try {
      svc.remove(a);
      ctx.out(a);
    } catch (e) {
      if (!(e instanceof BerthError)) throw e;
      if (bool(p, 'force') && e.code === 'not_found') continue;
      ctx.err(`Error response from daemon: ${e.message}`);
      failed++;
    }
  }
  return failed ? 1 : 0;
}

export async function connectNetwork(ctx: CliContext, p: ParsedArgs): Promise<number> {
  const svc = await service(ctx);
  const ip = str(p, 'ip');
  const ip6 = str(p, 'ip6');
  await svc.connect(p.args[0] as string, p.args[1] as string, { aliases: list(p, 'alias'), ...(ip ? { ip } : {}), ...(ip6 ? { ip6 } : {}) });
  return 0;
}

export async function disconnectNetwork(ctx: CliContext, p: ParsedArgs): Promise<number> {
  const svc = await service(ctx);
  svc.disconnect(p.args[0] as string, p.args[1] as string, { force: bool(p, 'force') });
  return 0;
}

export async function pruneNetworks(ctx: CliContext, p: ParsedArgs): Promise<number> {
  const { pruneOne } = await import('./system.js');
  const removed = (await pruneOne(ctx, p, 'networks')).networks.map((n) => n.id);
  if (removed.length) ctx.out(`Deleted Networks:\n${removed.join('\n')}\n`);
  return 0;
}

/** Hidden: `berth network reset` removes this store's bridges, rules and user networks (test teardown). */
export async function resetNetworks(ctx: CliContext): Promise<number> {
  (await service(ctx)).reset();
  return 0;
}
