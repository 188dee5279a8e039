/**
 * CNI (containernetworking plugins from /usr/lib/cni): the network's configuration list and the
 * plugin calls. Only the plugins a container needs run: `bridge` (which runs `host-local` for
 * IPAM) on setup; on teardown the namespace is simply unpinned (the kernel deletes the veth pair
 * with it) and only `host-local` runs, to release the address. Loopback is brought up by netns.ts,
 * firewall and port rules are written by firewall.ts in one iptables-restore each.
 */
import fs from 'node:fs';
import path from 'node:path';
import { BerthError } from '../errors.js';
import { execSync } from './exec.js';
import { withFileLock } from './netns.js';
import type { NetworkRecord } from './store.js';
import { ipRangeBounds, parseSubnet } from './subnet.js';

export const CNI_VERSION = '1.0.0';

export function cniPath(): string {
  return process.env.BERTH_CNI_PATH ?? '/usr/lib/cni';
}

/**
 * host-local's configuration. `dynamic`: the address is picked by host-local, from the network's
 * --ip-range when it has one; a fixed address (--ip) may be anywhere in the subnet. Both share the
 * same reservations (files named by address in `dataDir`).
 */
function ipamConfig(net: NetworkRecord, dataDir: string, dynamic = true): Record<string, unknown> {
  const range = dynamic && net.ipRange ? ipRangeBounds(net.ipRange, parseSubnet(net.subnet)) : undefined;
  return {
    type: 'host-local',
    ranges: [[{ subnet: net.subnet, gateway: net.gateway, ...(range ? { rangeStart: range.first, rangeEnd: range.last } : {}) }], ...(net.ipv6 ? [[{ subnet: net.ipv6.subnet, gateway: net.ipv6.gateway }]] : [])],
    routes: net.internal ? [] : [{ dst: '0.0.0.0/0' }, ...(net.ipv6 ? [{ dst: '::/0' }] : [])],
    dataDir,
  };
}

export function bridgePluginConfig(net: NetworkRecord, dataDir: string, dynamic = true): Record<string, unknown> {
  return {
    cniVersion: CNI_VERSION,
    name: net.name,
    type: 'bridge',
    bridge: net.bridge,
    // ensureBridge gives the bridge its gateway addresses. On an IPv6 network the plugin must not do
    // it: as a gateway it would also turn on net.ipv6.conf.all.forwarding, a host-wide change (a
    // host that forwards ignores router advertisements).
    isGateway: !net.ipv6,
    ipMasq: false,
    hairpinMode: true,
    ...(net.options?.['com.docker.network.driver.mtu'] ? { mtu: Number(net.options['com.docker.network.driver.mtu']) } : {}),
    ipam: ipamConfig(net, dataDir, dynamic),
  };
}

/** The network as a CNI configuration list (written next to the store for other CNI tools and for debugging). */
export function conflist(net: NetworkRecord, dataDir: string): Record<string, unknown> {
  const { cniVersion: _v, name: _n, ...bridge } = bridgePluginConfig(net, dataDir);
  return {
    cniVersion: CNI_VERSION,
    name: net.name,
    plugins: [bridge, { type: 'portmap', capabilities: { portMappings: true }, snat: true }, { type: 'firewall', backend: 'iptables' }],
  };
}

export function writeConflist(dir: string, net: NetworkRecord, dataDir: string): void {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${net.name}.conflist`);
  fs.writeFileSync(`${file}.tmp`, JSON.stringify(conflist(net, dataDir), null, 2));
  fs.renameSync(`${file}.tmp`, file);
}

export interface AddResult {
  ip: string;
  prefixLen: number;
  gateway: string;
  mac: string;
  hostVeth: string;
  /** On an IPv6 network: the container's IPv6 address. */
  ip6?: { ip: string; prefixLen: number; gateway: string };
}

interface CniResult {
  interfaces?: { name: string; mac: string; sandbox?: string }[];
  ips?: { interface?: number; address: string; gateway?: string }[];
  code?: number;
  msg?: string;
  details?: string;
}

function call(plugin: string, command: 'ADD' | 'DEL', conf: Record<string, unknown>, o: { id: string; netns: string; ifname: string; args?: string }): CniResult {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
    CNI_COMMAND: command,
    CNI_CONTAINERID: o.id,
    CNI_NETNS: o.netns,
    CNI_IFNAME: o.ifname,
    CNI_PATH: cniPath(),
  };
  if (o.args) env.CNI_ARGS = o.args;
  const bin = path.join(cniPath(), plugin);
  if (!fs.existsSync(bin))
    throw new BerthError('failed_precondition', `CNI plugin ${plugin} not found in ${cniPath()}`, { hint: 'apt-get install containernetworking-plugins' });
  const r = execSync(bin, [], { input: JSON.stringify(conf), env });
  let res: CniResult = {};
  try {
    res = r.stdout.trim() ? (JSON.parse(r.stdout) as CniResult) : {};
  } catch {
    /* plain text error below */
  }
  if (r.code !== 0) {
    const msg = res.msg ? `${res.msg}${res.details ? `: ${res.details}` : ''}` : (r.stderr || r.stdout).trim();
    throw new BerthError(/no IP addresses available|requested IP address .* is not available/.test(msg) ? 'conflict' : 'internal', `CNI ${plugin} ${command} failed: ${msg}`);
  }
  return res;
}

/**
 * Attaches the namespace to the network's bridge and gives it an address (`ip`/`ip6`: fixed ones,
 * through host-local's IP= argument). A fixed address another container holds fails with conflict
 * "Address already in use" (dockerd's words); the plugin then leaves its veth in the namespace.
 */
export function cniAdd(net: NetworkRecord, dataDir: string, o: { id: string; netns: string; ifname: string; ip?: string; ip6?: string }): AddResult {
  const fixed = [o.ip, o.ip6].filter((x): x is string => !!x);
  let res: CniResult;
  try {
    res = call('bridge', 'ADD', bridgePluginConfig(net, dataDir, !o.ip), { id: o.id, netns: o.netns, ifname: o.ifname, ...(fixed.length ? { args: `IgnoreUnknown=1;IP=${fixed.join(',')}` } : {}) });
  } catch (e) {
    const taken = fixed.find((a) => e instanceof BerthError && e.message.includes(`requested IP address ${a} is not available`));
    if (taken) throw new BerthError('conflict', `Address already in use: ${taken} on network ${net.name}`, { hint: 'another container holds it: choose another address, or leave it out for a free one', cause: e });
    throw e;
  }
  const ipc = res.ips?.find((x) => !x.address.includes(':'));
  const ipc6 = res.ips?.find((x) => x.address.includes(':'));
  const ifaces = res.interfaces ?? [];
  if (!ipc) throw new BerthError('internal', `CNI bridge returned no address for network ${net.name}`);
  if (net.ipv6 && !ipc6) throw new BerthError('internal', `CNI bridge returned no IPv6 address for network ${net.name}`);
  const [ip, len] = ipc.address.split('/') as [string, string];
  const inside = ifaces.find((i) => i.sandbox) ?? ifaces[ipc.interface ?? 2];
  const host = ifaces.find((i) => !i.sandbox && i.name !== net.bridge);
  const out: AddResult = { ip, prefixLen: Number(len), gateway: ipc.gateway ?? net.gateway, mac: inside?.mac ?? '', hostVeth: host?.name ?? '' };
  if (ipc6) {
    const [ip6, len6] = ipc6.address.split('/') as [string, string];
    out.ip6 = { ip: ip6, prefixLen: Number(len6), gateway: ipc6.gateway ?? net.ipv6?.gateway ?? '' };
  }
  return out;
}

/**
 * Releases the container's address on the network (host-local only: the namespace is gone or going).
 * Done in-process when host-local's store holds the reservation in the format we know (a file per
 * address containing `<container id>\r\n<ifname>`, changed under flock on `<dir>/lock`): that saves
 * a plugin process on every container exit. Anything else goes to the plugin itself.
 */
export function cniReleaseAddress(net: NetworkRecord, dataDir: string, o: { id: string; ifname: string }): void {
  if (releaseInProcess(path.join(dataDir, net.name), o)) return;
  call('host-local', 'DEL', { cniVersion: CNI_VERSION, name: net.name, ipam: ipamConfig(net, dataDir) }, { ...o, netns: '' });
}

/** Full DEL through the bridge plugin (removes the veth now, not when the namespace is freed). */
export function cniDel(net: NetworkRecord, dataDir: string, o: { id: string; netns: string; ifname: string }): void {
  call('bridge', 'DEL', bridgePluginConfig(net, dataDir), o);
}

function releaseInProcess(dir: string, o: { id: string; ifname: string }): boolean {
  if (process.env.BERTH_CNI_RELEASE === 'plugin') return false;
  let names: string[];
  try {
    names = fs.readdirSync(dir).filter((n) => n !== 'lock' && !n.startsWith('last_reserved_ip'));
  } catch {
    return false;
  }
  const want = `${o.id}\r\n${o.ifname}`;
  return withFileLock(path.join(dir, 'lock'), () => {
    let found = false;
    for (const n of names) {
      const file = path.join(dir, n);
      let text: string;
      try {
        text = fs.readFileSync(file, 'utf8');
      } catch {
        continue;
      }
      if (text.trim() !== want) continue;
      fs.rmSync(file, { force: true });
      found = true;
    }
    return found;
  });
}
