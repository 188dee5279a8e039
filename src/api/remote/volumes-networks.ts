/** Volume and network commands over the Engine API, with the local commands' output. */
import { type ParsedArgs, bool, list, str } from '../../cli/args.js';
import type { CliContext } from '../../cli/context.js';
import { formatRows, VOLUME_TABLE } from '../../cli/format.js';
import { BerthError, invalidArgument } from '../../errors.js';
import { humanSize } from '../../util/human.js';
import type { ApiClient } from '../client.js';
import { type RemoteTable, eachArg, enc, filtersParam, keyValues, qs } from './common.js';

interface VolumeDoc {
  Name: string;
  Driver: string;
  Mountpoint: string;
  Labels: Record<string, string> | null;
  Scope: string;
  UsageData?: { RefCount: number; Size: number } | null;
}

interface NetworkDoc {
  Id: string;
  Name: string;
  Driver: string;
  Scope: string;
  Internal: boolean;
  EnableIPv6: boolean;
  Created: string;
  Labels: Record<string, string> | null;
}

function goTime(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000 UTC`;
}

const labelsColumn = (l: Record<string, string> | null) =>
  Object.entries(l ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(',');

/** inspect-style: one GET per name, docker's per-item errors, the JSON array or template. */
async function inspectEach(c: ApiClient, ctx: CliContext, p: ParsedArgs, pathOf: (a: string) => string): Promise<number> {
  const docs: unknown[] = [];
  let failed = 0;
  for (const a of p.args) {
    try {
      docs.push(await c.json('GET', pathOf(a)));
    } catch (e) {
      if (!(e instanceof BerthError)) throw e;
      ctx.err(`Error response from daemon: ${e.message}`);
      failed++;
    }
  }
  if (docs.length || !failed) {
    const { printJson } = await import('../../cli/commands/common.js');
    await printJson(ctx, str(p, 'format'), docs);
  }
  return failed ? 1 : 0;
}

export const VOLUME_NETWORK_COMMANDS: RemoteTable = {
  'volume create': {
    run: async (c, ctx, p) => {
      const name = (p.args[0] as string | undefined) ?? str(p, 'name');
      const opts = keyValues(list(p, 'opt'), 'option');
      for (const k of Object.keys(opts)) if (!['type', 'device', 'o'].includes(k)) throw invalidArgument(`invalid option key: "${k}"`);
      const v = await c.json<VolumeDoc>('POST', '/volumes/create', { ...(name ? { Name: name } : {}), Driver: str(p, 'driver') ?? 'local', Labels: keyValues(list(p, 'label'), 'label'), DriverOpts: opts });
      ctx.out(v.Name);
      return 0;
    },
  },
  'volume ls': {
    run: async (c, ctx, p) => {
      const r = await c.json<{ Volumes: VolumeDoc[] | null }>('GET', `/volumes${qs({ filters: filtersParam(list(p, 'filter')) })}`);
      const rows = (r.Volumes ?? []).map((v) => ({
        Driver: v.Driver,
        Name: v.Name,
        Scope: v.Scope || 'local',
        Mountpoint: v.Mountpoint,
        Labels: labelsColumn(v.Labels),
        Links: v.UsageData ? String(v.UsageData.RefCount) : 'N/A',
        Size: 'N/A',
      }));
      ctx.stdout.write(
        formatRows(str(p, 'format'), rows, { ...VOLUME_TABLE, quiet: bool(p, 'quiet') }),
      );
      return 0;
    },
  },
  'volume inspect': { run: (c, ctx, p) => inspectEach(c, ctx, p, (a) => `/volumes/${enc(a)}`) },
  'volume rm': { run: (c, ctx, p) => eachArg(ctx, p.args, async (a) => void (await c.json('DELETE', `/volumes/${enc(a)}${qs({ force: bool(p, 'force') })}`))) },
  'volume prune': {
    run: async (c, ctx, p) => {
      const extra: Record<string, string[]> = bool(p, 'all') ? { all: ['true'] } : {};
      const r = await c.json<{ VolumesDeleted: string[] | null; SpaceReclaimed: number }>('POST', `/volumes/prune${qs({ filters: filtersParam(list(p, 'filter'), extra) })}`);
      if (r.VolumesDeleted?.length) ctx.out(`Deleted Volumes:\n${r.VolumesDeleted.join('\n')}\n`);
      ctx.out(`Total reclaimed space: ${humanSize(r.SpaceReclaimed)}`);
      return 0;
    },
  },
  'network create': {
    run: async (c, ctx, p) => {
      // One IPv4 and one IPv6 pool at most, each gateway with the subnet of its family (as locally).
      const v6 = (x: string) => x.includes(':');
      const subnets = list(p, 'subnet');
      const gateways = list(p, 'gateway');
      const [s4, s6, g4, g6] = [subnets.filter((x) => !v6(x)), subnets.filter(v6), gateways.filter((x) => !v6(x)), gateways.filter(v6)];
      if (s4.length > 1 || s6.length > 1 || g4.length > 1 || g6.length > 1)
        throw invalidArgument('only one --subnet and one --gateway per address family (IPv4, IPv6) are supported per network');
      const pools: Record<string, string>[] = [];
      for (const [sub, gw, range] of [
        [s4[0], g4[0], str(p, 'ip-range')],
        [s6[0], g6[0], undefined],
      ]) {
        const cfg: Record<string, string> = {};
        if (sub) cfg.Subnet = sub;
        if (gw) cfg.Gateway = gw;
        if (range) cfg.IPRange = range;
        if (Object.keys(cfg).length) pools.push(cfg);
      }
      const body = {
        Name: p.args[0],
        Driver: str(p, 'driver') ?? 'bridge',
        EnableIPv6: bool(p, 'ipv6'),
        Internal: bool(p, 'internal'),
        Labels: keyValues(list(p, 'label'), 'label'),
        Options: keyValues(list(p, 'opt'), 'option'),
        ...(pools.length ? { IPAM: { Driver: 'default', Config: pools } } : {}),
      };
      ctx.out((await c.json<{ Id: string }>('POST', '/networks/create', body)).Id);
      return 0;
    },
  },
  'network ls': {
    run: async (c, ctx, p) => {
      const nets = await c.json<NetworkDoc[]>('GET', `/networks${qs({ filters: filtersParam(list(p, 'filter')) })}`);
      const noTrunc = bool(p, 'no-trunc');
      const rows = nets.map((n) => ({
        ID: noTrunc ? n.Id : n.Id.slice(0, 12),
        Name: n.Name,
        Driver: n.Driver,
        Scope: n.Scope || 'local',
        IPv6: String(n.EnableIPv6 ?? false),
        Internal: String(n.Internal),
        Labels: labelsColumn(n.Labels),
        CreatedAt: goTime(Date.parse(n.Created)),
      }));
      ctx.stdout.write(
        formatRows(str(p, 'format'), rows, {
          defaultTable: 'table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}',
          headers: { ID: 'NETWORK ID', Name: 'NAME', Driver: 'DRIVER', Scope: 'SCOPE', IPv6: 'IPV6', Internal: 'INTERNAL', Labels: 'LABELS', CreatedAt: 'CREATED' },
          quiet: bool(p, 'quiet'),
        }),
      );
      return 0;
    },
  },
  'network inspect': { run: (c, ctx, p) => inspectEach(c, ctx, p, (a) => `/networks/${enc(a)}`), localOnly: { verbose: 'verbose diagnostics read the local store' } },
  'network rm': {
    run: async (c, ctx, p) => {
      let failed = 0;
      for (const a of p.args) {
        try {
          await c.json('DELETE', `/networks/${enc(a)}`);
          ctx.out(a);
        } catch (e) {
          if (!(e instanceof BerthError)) throw e;
          if (bool(p, 'force') && e.code === 'not_found') continue;
          ctx.err(`Error response from daemon: ${e.message}`);
          failed++;
        }
      }
      return failed ? 1 : 0;
    },
  },
  'network connect': {
    run: async (c, _ctx, p) => {
      const ip = str(p, 'ip');
      const ip6 = str(p, 'ip6');
      const ep: Record<string, unknown> = { Aliases: list(p, 'alias') };
      if (ip || ip6) ep.IPAMConfig = { ...(ip ? { IPv4Address: ip } : {}), ...(ip6 ? { IPv6Address: ip6 } : {}) };
      await c.json('POST', `/networks/${enc(p.args[0] as string)}/connect`, { Container: p.args[1], EndpointConfig: ep });
      return 0;
    },
  },
  'network disconnect': {
    run: async (c, _ctx, p) => {
      await c.json('POST', `/networks/${enc(p.args[0] as string)}/disconnect`, { Container: p.args[1], Force: bool(p, 'force') });
      return 0;
    },
  },
  'network prune': {
    run: async (c, ctx, p) => {
      const r = await c.json<{ NetworksDeleted: string[] | null }>('POST', `/networks/prune${qs({ filters: filtersParam(list(p, 'filter')) })}`);
      if (r.NetworksDeleted?.length) ctx.out(`Deleted Networks:\n${r.NetworksDeleted.join('\n')}\n`);
      return 0;
    },
  },
};
