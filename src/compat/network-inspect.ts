/** Docker's `network inspect` document from a network record and its attached containers. */
import type { ContainerRecord } from '../container/types.js';
import type { Endpoint, NetworkRecord } from '../network/service.js';
import { driverlessEndpointId } from '../network/store.js';
import { rfc3339 } from './image-inspect.js';

export function dockerNetworkInspect(n: NetworkRecord, containers: ContainerRecord[]): Record<string, unknown> {
  const members: Record<string, unknown> = {};
  const driverless = n.predefined && !n.bridge;
  for (const c of containers) {
    if (driverless) {
      // host and none: docker lists the running containers of that mode, without addresses.
      const running = c.state.status === 'running' || c.state.status === 'paused';
      if (running && c.config.network.mode === n.name)
        members[c.config.id] = { Name: c.config.name, EndpointID: driverlessEndpointId(c.config.id, n.name as 'host' | 'none'), MacAddress: '', IPv4Address: '', IPv6Address: '' };
      continue;
    }
    const eps = (c.state.network?.networks ?? {}) as Record<string, Endpoint>;
    const ep = Object.values(eps).find((e) => e.NetworkID === n.id);
    if (!ep) continue;
    members[c.config.id] = { Name: c.config.name, EndpointID: ep.EndpointID, MacAddress: ep.MacAddress, IPv4Address: `${ep.IPAddress}/${ep.IPPrefixLen}`, IPv6Address: ep.GlobalIPv6Address ? `${ep.GlobalIPv6Address}/${ep.GlobalIPv6PrefixLen}` : '' };
  }
  return {
    Name: n.name,
    Id: n.id,
    Created: rfc3339(n.created),
    Scope: 'local',
    Driver: n.driver,
    EnableIPv6: !!n.ipv6,
    IPAM: {
      Driver: 'default',
      Options: driverless ? null : {},
      Config: [...(n.subnet ? [{ Subnet: n.subnet, Gateway: n.gateway, ...(n.ipRange ? { IPRange: n.ipRange } : {}) }] : []), ...(n.ipv6 ? [{ Subnet: n.ipv6.subnet, Gateway: n.ipv6.gateway }] : [])],
    },
    Internal: n.internal,
    Attachable: false,
    Ingress: false,
    ConfigFrom: { Network: '' },
    ConfigOnly: false,
    Containers: members,
    Options: driverless ? {} : { 'com.docker.network.bridge.name': n.bridge, ...n.options },
    Labels: n.labels,
  };
}
