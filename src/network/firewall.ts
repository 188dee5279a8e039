/**
 * iptables rules of bridge networks and published ports, written with one `iptables-restore
 * --noflush` per change (the CNI firewall and portmap plugins would cost a process each per
 * container and several iptables calls inside).
 *
 * Global chains, shared by every berth store on the host and created once:
 *   filter BERTH-FORWARD      (from FORWARD)      accept members' traffic even when FORWARD drops
 *   nat    BERTH-POSTROUTING  (from POSTROUTING)  masquerade outbound and 127.0.0.1 -> container
 *   nat    BERTH-HOSTPORTS    (from PREROUTING and OUTPUT, local destinations only; IPv6: not ::1)
 * Per network: rules in those chains tagged with the comment `berth-net:<bridge>` (FIREWALL_VERSION
 * changes when they do, so bridges made by an older berth get the new rules on their next use).
 * Per container with published ports: nat chain BERTH-DN-<id12> and one jump from BERTH-HOSTPORTS,
 * in ip6tables too for IPv6 host addresses of a container that has an IPv6 address.
 */
import type { PortBinding } from '../container/types.js';
import { BerthError } from '../errors.js';
import { execSync } from './exec.js';
import type { NetworkRecord } from './store.js';

/** iptables (IPv4) or ip6tables (a network's IPv6 subnet). */
export type Family = 'ip' | 'ip6';

function globalChains(family: Family): { table: 'filter' | 'nat'; chain: string; jumps: string[] }[] {
  return [
    { table: 'filter', chain: 'BERTH-FORWARD', jumps: ['-I FORWARD -j BERTH-FORWARD'] },
    { table: 'nat', chain: 'BERTH-POSTROUTING', jumps: ['-I POSTROUTING -j BERTH-POSTROUTING'] },
    {
      table: 'nat',
      chain: 'BERTH-HOSTPORTS',
      // IPv6 has no route_localnet: a packet from ::1 can never leave the host's loopback, so
      // connections to [::1] are left to the port proxy (port-proxy.ts), as docker leaves them to docker-proxy.
      jumps: ['-I PREROUTING -m addrtype --dst-type LOCAL -j BERTH-HOSTPORTS', `-I OUTPUT ${family === 'ip6' ? '! -d ::1/128 ' : ''}-m addrtype --dst-type LOCAL -j BERTH-HOSTPORTS`],
    },
  ];
}

/** Bumped whenever netRules or the global chains change. */
export const FIREWALL_VERSION = 3;

function netRules(net: NetworkRecord, family: Family): { filter: string[]; nat: string[] } {
  const br = net.bridge;
  const tag = `-m comment --comment berth-net:${br}`;
  const filter = [`-A BERTH-FORWARD -i ${br} -o ${br} ${tag} -j ACCEPT`];
  const subnet = family === 'ip6' ? (net.ipv6?.subnet ?? '') : net.subnet;
  const nat: string[] = [
    // IPv4 only: 127.0.0.1 -> container (route_localnet); IPv6 loopback goes through the port proxy.
    ...(family === 'ip' ? [`-A BERTH-POSTROUTING -s 127.0.0.0/8 -o ${br} ${tag} -j MASQUERADE`] : []),
    // Hairpin: a member reaching a published port through a host address is DNATed back into the
    // same bridge; without a masquerade the target (or itself) would answer straight to the member's
    // address and the connection breaks (its own address as source is martian, a peer's reply skips
    // the un-DNAT without br_netfilter). Docker's userland proxy shows the gateway as source too.
    `-A BERTH-POSTROUTING -s ${subnet} -o ${br} -m conntrack --ctstate DNAT ${tag} -j MASQUERADE`,
  ];
  if (net.internal) {
    filter.push(`-A BERTH-FORWARD -i ${br} ! -o ${br} ${tag} -j DROP`, `-A BERTH-FORWARD -o ${br} ! -i ${br} ${tag} -j DROP`);
  } else {
    filter.push(
      `-A BERTH-FORWARD -o ${br} -m conntrack --ctstate RELATED,ESTABLISHED ${tag} -j ACCEPT`,
      `-A BERTH-FORWARD -o ${br} -m conntrack --ctstate DNAT ${tag} -j ACCEPT`,
      `-A BERTH-FORWARD -i ${br} ! -o ${br} ${tag} -j ACCEPT`,
    );
    nat.push(`-A BERTH-POSTROUTING -s ${subnet} ! -o ${br} ${tag} -j MASQUERADE`);
  }
  return { filter, nat };
}

function restore(input: string, what: string, family: Family = 'ip'): void {
  const r = execSync(`${family}tables-restore`, ['--noflush', '-w'], { input });
  if (r.code !== 0) throw new BerthError('internal', `${what}: ${family}tables-restore failed: ${r.stderr.trim()}`, { hint: 'check that iptables works (iptables -S) and that berth runs as root' });
}

/** `iptables-save` split into tables -> lines. */
function save(family: Family = 'ip'): Map<string, string[]> {
  const r = execSync(`${family}tables-save`, []);
  if (r.code !== 0) throw new BerthError('internal', `${family}tables-save failed: ${r.stderr.trim()}`);
  const out = new Map<string, string[]>();
  let cur: string[] = [];
  for (const l of r.stdout.split('\n')) {
    if (l.startsWith('*')) out.set(l.slice(1), (cur = []));
    else cur.push(l);
  }
  return out;
}

/** iptables-save prints comments quoted only when needed and normalises module order; compare loosely. */
function norm(rule: string): string {
  return rule.replace(/"/g, '').replace(/\s+/g, ' ').replace(/ -m (tcp|udp) --dport/g, ' --dport').trim();
}

/** Installs the global chains and the network's rules if missing; idempotent. */
export function ensureNetworkFirewall(net: NetworkRecord): void {
  ensureFamily(net, 'ip');
  if (net.ipv6) ensureFamily(net, 'ip6');
}

function ensureFamily(net: NetworkRecord, family: Family): void {
  const tables = save(family);
  const want = netRules(net, family);
  let input = '';
  for (const table of ['filter', 'nat'] as const) {
    const have = tables.get(table) ?? [];
    const haveSet = new Set(have.map(norm));
    const lines: string[] = [];
    for (const g of globalChains(family).filter((x) => x.table === table)) {
      if (!have.some((l) => l.startsWith(`:${g.chain} `))) lines.push(`:${g.chain} - [0:0]`);
      for (const j of g.jumps) if (!haveSet.has(norm(j.replace('-I ', '-A ')))) lines.push(j);
    }
    for (const r of want[table]) if (!haveSet.has(norm(r))) lines.push(r);
    if (lines.length) input += `*${table}\n${lines.join('\n')}\nCOMMIT\n`;
  }
  if (input) restore(input, `setting up the firewall of network ${net.name}`, family);
}

/** Deletes every rule tagged for the network's bridge (ip6tables too for an IPv6 network). */
export function removeNetworkFirewall(bridge: string, ipv6 = false): void {
  removeFamily(bridge, 'ip');
  if (ipv6) removeFamily(bridge, 'ip6');
}

function removeFamily(bridge: string, family: Family): void {
  const tables = save(family);
  let input = '';
  for (const [table, lines] of tables) {
    const del = lines.filter((l) => l.startsWith('-A ') && l.includes(`berth-net:${bridge}`)).map((l) => `-D ${l.slice(3)}`);
    if (del.length) input += `*${table}\n${del.join('\n')}\nCOMMIT\n`;
  }
  if (input) restore(input, `removing the firewall rules of bridge ${bridge}`, family);
}

export function portChain(id: string): string {
  return `BERTH-DN-${id.slice(0, 12)}`;
}

/**
 * DNAT rules for a container's published ports of one family (one process): `containerIp` is its
 * IPv4 or IPv6 address. Fails without side effects.
 */
export function addPortRules(id: string, containerIp: string, ports: PortBinding[], family: Family = 'ip'): void {
  if (!ports.length) return;
  const chain = portChain(id);
  const lines = [`:${chain} - [0:0]`];
  const any = family === 'ip6' ? '::' : '0.0.0.0';
  const to = family === 'ip6' ? `[${containerIp}]` : containerIp;
  for (const p of ports) {
    const dst = p.hostIp && p.hostIp !== any ? `-d ${p.hostIp}/${family === 'ip6' ? 128 : 32} ` : '';
    lines.push(`-A ${chain} ${dst}-p ${p.protocol} -m ${p.protocol} --dport ${p.hostPort} -j DNAT --to-destination ${to}:${p.containerPort}`);
  }
  lines.push(`-A BERTH-HOSTPORTS -m comment --comment berth-ctr:${id.slice(0, 12)} -j ${chain}`);
  restore(`*nat\n${lines.join('\n')}\nCOMMIT\n`, `publishing ports of container ${id.slice(0, 12)}`, family);
}

/** Removes a container's DNAT chain of one family; idempotent. */
export function removePortRules(id: string, family: Family = 'ip'): void {
  const chain = portChain(id);
  const fast = `*nat\n-D BERTH-HOSTPORTS -m comment --comment berth-ctr:${id.slice(0, 12)} -j ${chain}\n-F ${chain}\n-X ${chain}\nCOMMIT\n`;
  if (execSync(`${family}tables-restore`, ['--noflush', '-w'], { input: fast }).code === 0) return;
  // Partly gone (a crash between steps): delete whatever is left.
  const nat = save(family).get('nat') ?? [];
  const lines = nat.filter((l) => l.startsWith('-A ') && l.includes(`-j ${chain}`)).map((l) => `-D ${l.slice(3)}`);
  if (nat.some((l) => l.startsWith(`:${chain} `))) lines.push(`-F ${chain}`, `-X ${chain}`);
  if (lines.length) restore(`*nat\n${lines.join('\n')}\nCOMMIT\n`, `removing the port rules of container ${id.slice(0, 12)}`, family);
}

/** Short IDs of containers that have a DNAT chain (for system check). */
export function containersWithPortRules(family: Family = 'ip'): string[] {
  const nat = save(family).get('nat') ?? [];
  return nat.filter((l) => l.startsWith(':BERTH-DN-')).map((l) => l.slice(':BERTH-DN-'.length).split(' ')[0] as string);
}
