/** /networks/*: Docker's shapes around NetworkService. */
import { dockerNetworkInspect } from '../compat/network-inspect.js';
import type { ContainerService } from '../container/service.js';
import type { Engine } from '../engine/engine.js';
import { NetworkService } from '../network/service.js';
import { invalidArgument } from '../errors.js';
import { matchLabels } from '../util/filters.js';
import { optBool, optObj, optStr, optStrList } from './create-body.js';
import { type Router, noContent, qBool, qFilters, readJson, sendJson } from './http.js';

export async function registerNetworks(router: Router, engine: Engine, svc: ContainerService): Promise<void> {
  const nets = new NetworkService(engine);
  const containers = () => svc.store.list();
  router.add('GET', '/networks', async (ctx) => {
    const f = qFilters(ctx.query, ['name', 'id', 'label', 'driver', 'type', 'scope', 'dangling']);
    const list = nets.list().filter((n) => {
      if (f.get('name') && !f.get('name')?.some((v) => n.name.includes(v))) return false;
      if (f.get('id') && !f.get('id')?.some((v) => n.id.startsWith(v))) return false;
      if (f.get('driver') && !f.get('driver')?.includes(n.driver)) return false;
      if (f.get('type') && !f.get('type')?.includes(n.predefined ? 'builtin' : 'custom')) return false;
      return matchLabels(f.get('label'), n.labels);
    });
    const all = containers();
    sendJson(ctx, 200, list.map((n) => dockerNetworkInspect(n, all)));
  });
  router.add('POST', '/networks/create', async (ctx) => {
    const body = await readJson(ctx.req);
    const name = optStr(body, 'Name', 'NetworkCreateRequest.Name');
    const o: Parameters<NetworkService['create']>[0] = { name: name ?? '' };
    const driver = optStr(body, 'Driver');
    if (driver) o.driver = driver;
    const internal = optBool(body, 'Internal');
    if (internal !== undefined) o.internal = internal;
    const labels = optObj(body, 'Labels');
    if (labels) o.labels = labels as Record<string, string>;
    const opts = optObj(body, 'Options');
    if (opts) o.options = opts as Record<string, string>;
    const ipv6 = optBool(body, 'EnableIPv6');
    if (ipv6 !== undefined) o.ipv6 = ipv6;
    // IPAM.Config is a list of pools ([]network.IPAMConfig).
    const ipam = optObj(body, 'IPAM')?.Config;
    if (ipam != null && !Array.isArray(ipam)) throw invalidArgument('json: cannot unmarshal object into Go struct field IPAM.Config of type []network.IPAMConfig');
    // One entry per address family; an IPv6 one (its Subnet has a colon) goes to subnet6/gateway6.
    for (const entry of (Array.isArray(ipam) ? ipam : []) as Record<string, unknown>[]) {
      const subnet = optStr(entry, 'Subnet', 'IPAM.Config.Subnet');
      const gw = optStr(entry, 'Gateway', 'IPAM.Config.Gateway');
      const range = optStr(entry, 'IPRange', 'IPAM.Config.IPRange');
      if (subnet?.includes(':') || (!subnet && gw?.includes(':'))) {
        if (subnet) o.subnet6 = subnet;
        if (gw) o.gateway6 = gw;
      } else {
        if (subnet) o.subnet = subnet;
        if (gw) o.gateway = gw;
        if (range) o.ipRange = range;
      }
    }
    // CheckDuplicate was always true in practice: an existing name is a conflict.
    const rec = nets.create(o);
    sendJson(ctx, 201, { Id: rec.id, Warning: '' });
  });
  router.add('GET', '/networks/{id}', async (ctx) => sendJson(ctx, 200, dockerNetworkInspect(nets.resolve(ctx.params.id as string), containers())));
  router.add('DELETE', '/networks/{id}', async (ctx) => {
    nets.remove(ctx.params.id as string);
    noContent(ctx);
  });
  router.add('POST', '/networks/{id}/connect', async (ctx) => {
    const body = await readJson(ctx.req);
    const container = optStr(body, 'Container') ?? '';
    const ep = optObj(body, 'EndpointConfig') ?? {};
    const aliases = optStrList(ep, 'Aliases', 'EndpointConfig.Aliases') ?? [];
    const ipam = optObj(ep, 'IPAMConfig', 'EndpointConfig.IPAMConfig') ?? {};
    const ip = optStr(ipam, 'IPv4Address', 'EndpointConfig.IPAMConfig.IPv4Address');
    const ip6 = optStr(ipam, 'IPv6Address', 'EndpointConfig.IPAMConfig.IPv6Address');
    await nets.connect(ctx.params.id as string, container, { aliases, ...(ip ? { ip } : {}), ...(ip6 ? { ip6 } : {}) });
    noContent(ctx, 200);
  });
  router.add('POST', '/networks/{id}/disconnect', async (ctx) => {
    const body = await readJson(ctx.req);
    nets.disconnect(ctx.params.id as string, optStr(body, 'Container') ?? '', { force: optBool(body, 'Force') ?? qBool(ctx.query, 'force') });
    noContent(ctx, 200);
  });
}
