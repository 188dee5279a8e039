/** /etc/hosts of bridge-networked containers: own address, --add-host entries, and peers by name. */
import type { ContainerRecord } from '../container/types.js';

export interface HostsPeer {
  ip: string;
  names: string[];
}

const BASE = ['127.0.0.1\tlocalhost', '::1\tlocalhost ip6-localhost ip6-loopback', 'fe00::0\tip6-localnet', 'ff00::0\tip6-mcastprefix', 'ff02::1\tip6-allnodes', 'ff02::2\tip6-allrouters'];

/** The hosts file text: docker's base lines, --add-host entries, `<ip> <hostname>` (IPv4, then IPv6), then peers (first name wins). */
export function renderHosts(rec: ContainerRecord, ownIp: string | undefined, peers: HostsPeer[], ownIp6?: string): string {
  const lines = [...BASE];
  for (const h of rec.config.network.extraHosts) {
    const i = h.indexOf(':');
    lines.push(`${h.slice(i + 1)}\t${h.slice(0, i)}`);
  }
  if (ownIp) lines.push(`${ownIp}\t${rec.config.hostname}`);
  if (ownIp6) lines.push(`${ownIp6}\t${rec.config.hostname}`);
  for (const p of peers) if (p.names.length) lines.push(`${p.ip}\t${p.names.join(' ')}`);
  return `${lines.join('\n')}\n`;
}
