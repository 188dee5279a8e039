/**
 * Bridge networks (CNI bridge + host-local) and how containers join them.
 *
 * Contract with ContainerService:
 * - `validateNetworkMode(engine, mode)` at create: unknown networks fail before anything exists.
 * - `setupContainerNetwork(engine, rec)` in start, before the runtime spec is built: creates the
 *   container's namespace (<runroot>/netns/<id>), attaches it to each of its networks, publishes its
 *   ports, writes its /etc/hosts and its peers' entries. Returns the namespace path for the spec, or
 *   undefined for none/host/container: modes. On failure it undoes everything it did.
 * - `teardownContainerNetwork(engine, id)` (sync) after the exit, after a failed start and at
 *   removal: releases addresses, port rules and the namespace; idempotent, and only one of several
 *   concurrent callers does the work (the state is claimed in one transaction).
 * Name resolution on user-defined networks goes through /etc/hosts: peers' files are rewritten in
 * place (same inode, so the bind mounts inside running containers see the change).
 */
import { emitEvent } from '../engine/events.js';
import { mark } from '../util/timings.js';
import { createHash } from 'node:crypto';
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { ContainerStore } from '../container/store.js';
import type { ContainerRecord, PortBinding } from '../container/types.js';
import type { Engine } from '../engine/engine.js';
import { BerthError, conflict, invalidArgument } from '../errors.js';
import { writeTx } from '../metadata/db.js';
import { cniAdd, cniReleaseAddress, writeConflist } from './cni.js';
import { execSync } from './exec.js';
import { FIREWALL_VERSION, addPortRules, ensureNetworkFirewall, removeNetworkFirewall, removePortRules } from './firewall.js';
import { type HostsPeer, renderHosts } from './hosts.js';
import { createNetns, removeNetns } from './netns.js';
import { type ProxySpec, startPortProxy, stopPortProxy } from './port-proxy.js';
import {
  DEFAULT_NETWORK,
  DEFAULT_SUBNET,
  type NetworkRecord,
  NetworkStore,
  SPECIAL_MODES,
  USER_POOL,
  defaultBridgeName,
  driverlessNetworkId,
  ipamDataDir,
  netnsDir,
} from './store.js';
import { contains, firstHost, formatSubnet, hostRoutes, ipRangeBounds, overlaps, parseIp, parseSubnet, routedElsewhere, type Subnet } from './subnet.js';
import { type Subnet6, contains6, firstHost6, formatIp6, formatSubnet6, hostRoutes6, overlaps6, parseIp6, parseSubnet6, pickUla64 } from './subnet6.js';

export { DEFAULT_NETWORK, type NetworkRecord, NetworkStore };

/** One attachment of a container to a network, as kept in ContainerState.network.networks (docker's EndpointSettings shape). */
export interface Endpoint {
  NetworkID: string;
  EndpointID: string;
  Gateway: string;
  IPAddress: string;
  IPPrefixLen: number;
  MacAddress: string;
  Aliases: string[] | null;
  DNSNames: string[] | null;
  /** The fixed addresses asked for (docker omits the unset one). */
  IPAMConfig: { IPv4Address?: string; IPv6Address?: string } | null;
  IPv6Gateway: string;
  GlobalIPv6Address: string;
  GlobalIPv6PrefixLen: number;
  Links: null;
  DriverOpts: null;
  /** Interface name inside the container (eth0, eth1, ...); berth's own field. */
  Interface: string;
}

/** What ContainerState.network holds while a container is attached. */
export interface ContainerNetworkState {
  netns: string;
  ipAddress: string;
  gateway: string;
  macAddress: string;
  ipPrefixLen: number;
  /** The primary network's IPv6 address (an --ipv6 network), docker's NetworkSettings.GlobalIPv6Address. */
  globalIPv6Address?: string;
  globalIPv6PrefixLen?: number;
  ipv6Gateway?: string;
  networks: Record<string, Endpoint>;
  ports: PortBinding[];
  /** The container's port proxy (IPv6 loopback and IPv6 -> IPv4 bindings; port-proxy.ts). */
  proxyPid?: number;
}

const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
const BRIDGE_NAME_OPT = 'com.docker.network.bridge.name';
export const MTU_OPT = 'com.docker.network.driver.mtu';

/** The predefined networks without a bridge: the `host` and `none` network modes. */
const DRIVERLESS = [
  { name: 'host', driver: 'host' },
  { name: 'none', driver: 'null' },
] as const;

/** Whether a network is one of the driver-less predefined ones (host, none). */
export function isDriverless(n: NetworkRecord): boolean {
  return n.predefined && !n.bridge;
}

export interface CreateNetworkOptions {
  name: string;
  driver?: string;
  subnet?: string;
  gateway?: string;
  /** --ip-range: a CIDR inside --subnet to hand addresses out from. */
  ipRange?: string;
  internal?: boolean;
  /** --ipv6: an IPv6 subnet too (subnet6, or a unique local /64 picked for the network). */
  ipv6?: boolean;
  subnet6?: string;
  gateway6?: string;
  labels?: Record<string, string>;
  options?: Record<string, string>;
}

export class NetworkService {
  readonly store: NetworkStore;
  constructor(readonly engine: Engine) {
    this.store = new NetworkStore(engine);
  }

  /** The predefined `bridge` network, recorded on first use. */
  ensureDefault(): NetworkRecord {
    const existing = this.engine.db.prepare('SELECT id FROM networks WHERE name = ?').get(DEFAULT_NETWORK) as { id: string } | undefined;
    if (existing) {
      const rec = this.store.get(existing.id) as NetworkRecord;
      return this.movedIfTaken(rec);
    }
    const bridge = defaultBridgeName(this.engine);
    let subnet: Subnet;
    if (bridge === 'berth0') subnet = parseSubnet(DEFAULT_SUBNET);
    else subnet = this.pickSubnet();
    const rec: NetworkRecord = {
      id: NetworkStore.newId(),
      name: DEFAULT_NETWORK,
      created: Date.now(),
      driver: 'bridge',
      bridge,
      subnet: formatSubnet(subnet),
      gateway: firstHost(subnet),
      internal: false,
      labels: {},
      options: {},
      predefined: true,
    };
    try {
      this.store.insert(rec);
    } catch (e) {
      if (e instanceof BerthError && e.code === 'conflict') return this.store.resolve(DEFAULT_NETWORK);
      throw e;
    }
    writeConflist(this.conflistDir(), rec, ipamDataDir(this.engine));
    return rec;
  }

  /**
   * The default network of a test or secondary store moves when another interface of the host took
   * its subnet while its bridge was down. Routes through its own bridge never count: a concurrent
   * berth process may bring the bridge up between the two reads below. The move is a
   * compare-and-set in one write transaction, so concurrent movers agree on one subnet.
   */
  private movedIfTaken(rec: NetworkRecord): NetworkRecord {
    if (rec.bridge === 'berth0' || fs.existsSync(`/sys/class/net/${rec.bridge}`)) return rec;
    const foreign = (r: NetworkRecord) => routedElsewhere(parseSubnet(r.subnet), r.bridge, readHostRoutes()) !== undefined;
    if (!foreign(rec)) return rec;
    return writeTx(this.engine.db, () => {
      const cur = this.store.get(rec.id) as NetworkRecord;
      if (cur.subnet !== rec.subnet || fs.existsSync(`/sys/class/net/${cur.bridge}`) || !foreign(cur)) return cur;
      const subnet = this.pickSubnet();
      Object.assign(cur, { subnet: formatSubnet(subnet), gateway: firstHost(subnet) });
      this.store.update(cur);
      writeConflist(this.conflistDir(), cur, ipamDataDir(this.engine));
      return cur;
    });
  }

  private conflistDir(): string {
    return path.join(this.engine.paths.root, 'networks');
  }

  /** Subnets this store or the host already route. */
  private takenSubnets(): { subnet: Subnet; owner: string }[] {
    const out = this.store.list().map((n) => ({ subnet: parseSubnet(n.subnet), owner: `network ${n.name}` }));
    for (const r of readHostRoutes()) out.push({ subnet: r.subnet, owner: `host interface ${r.iface}` });
    return out;
  }

  /** IPv6 subnets this store's networks or the host already route. */
  private takenSubnets6(): { subnet: Subnet6; owner: string }[] {
    const out = this.store.list().flatMap((n) => (n.ipv6 ? [{ subnet: parseSubnet6(n.ipv6.subnet), owner: `network ${n.name}` }] : []));
    let routes = '';
    try {
      routes = fs.readFileSync('/proc/net/ipv6_route', 'utf8');
    } catch {
      /* IPv6 disabled on the host: store networks only */
    }
    for (const r of hostRoutes6(routes)) out.push({ subnet: r.subnet, owner: `host interface ${r.iface}` });
    return out;
  }

  /** The IPv6 half of `network create --ipv6`: subnet (given or picked) and gateway, checked. */
  private ipv6For(o: CreateNetworkOptions): NetworkRecord['ipv6'] {
    if (!o.ipv6) {
      if (o.subnet6 || o.gateway6) throw invalidArgument('an IPv6 --subnet or --gateway needs --ipv6', { hint: 'add --ipv6 to create a dual-stack network' });
      return undefined;
    }
    if (!fs.existsSync('/proc/sys/net/ipv6')) throw new BerthError('failed_precondition', 'IPv6 is disabled on this host', { hint: 'boot without ipv6.disable=1, or create the network without --ipv6' });
    let subnet: Subnet6;
    const taken = this.takenSubnets6();
    if (o.subnet6) {
      subnet = parseSubnet6(o.subnet6);
      const clash = taken.find((t) => overlaps6(t.subnet, subnet));
      if (clash)
        throw conflict(`invalid pool request: Pool overlaps with other one on this address space (${o.subnet6} overlaps ${formatSubnet6(clash.subnet)} of ${clash.owner})`, {
          hint: 'choose an IPv6 subnet that no other network or host interface uses, e.g. a random fdXX:XXXX:XXXX::/64',
        });
    } else {
      if (o.gateway6) throw invalidArgument('an IPv6 --gateway needs an IPv6 --subnet');
      subnet = pickUla64(`${this.engine.paths.root}/${o.name}`, taken.map((t) => t.subnet));
    }
    const gateway = o.gateway6 ? formatIp6(parseIp6(o.gateway6)) : firstHost6(subnet);
    if (!contains6(subnet, parseIp6(gateway)) || parseIp6(gateway) === subnet.base)
      throw invalidArgument(`gateway ${gateway} is not a host address of subnet ${formatSubnet6(subnet)}`);
    return { subnet: formatSubnet6(subnet), gateway };
  }

  /** A free /24 of the pool; stores start at different offsets so that they rarely meet. */
  pickSubnet(): Subnet {
    const pool = parseSubnet(USER_POOL);
    const start = createHash('sha256').update(this.engine.paths.root).digest().readUInt16BE(0) % 2 ** (24 - pool.prefix);
    const rotated = { base: (pool.base + start * 256) >>> 0, prefix: pool.prefix };
    const taken = this.takenSubnets().map((t) => t.subnet);
    const free = firstFreeWrapped(pool, rotated.base, taken);
    if (!free) throw new BerthError('unavailable', `no free /24 subnet left in ${USER_POOL}`, { hint: 'remove unused networks (berth network prune) or give --subnet' });
    return free;
  }

  /** Every network: the store's (bridge and user-defined), then docker's driver-less host and none. */
  list(): NetworkRecord[] {
    this.ensureDefault();
    return [...this.store.list(), ...this.driverless()];
  }

  resolve(nameOrId: string): NetworkRecord {
    if (nameOrId === DEFAULT_NETWORK || nameOrId === 'default') return this.ensureDefault();
    // No user network can take these names (create refuses them); ids only when nothing stored matches.
    if (nameOrId === 'host' || nameOrId === 'none') return this.driverless().find((n) => n.name === nameOrId) as NetworkRecord;
    try {
      return this.store.resolve(nameOrId);
    } catch (e) {
      const byId = e instanceof BerthError && e.code === 'not_found' && /^[0-9a-f]+$/.test(nameOrId) ? this.driverless().filter((n) => n.id.startsWith(nameOrId)) : [];
      if (byId.length === 1) return byId[0] as NetworkRecord;
      throw e;
    }
  }

  /**
   * Docker's predefined `host` (driver host) and `none` (driver null) networks. They are what the
   * network modes of the same names are, so they are listed and inspected like the others but have
   * no record, bridge or addresses; their ids are derived from the store, so they stay the same.
   */
  private driverless(): NetworkRecord[] {
    const created = this.ensureDefault().created;
    return DRIVERLESS.map(({ name, driver }) => ({
      id: driverlessNetworkId(this.engine.paths.root, name),
      name,
      created,
      driver,
      bridge: '',
      subnet: '',
      gateway: '',
      internal: false,
      labels: {},
      options: {},
      predefined: true,
    }));
  }

  /** Creates a bridge network; its bridge and firewall rules exist when this returns. */
  create(o: CreateNetworkOptions): NetworkRecord {
    if (!NAME_RE.test(o.name)) throw invalidArgument(`invalid network name "${o.name}": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
    if (SPECIAL_MODES.includes(o.name) || o.name === DEFAULT_NETWORK) throw conflict(`network with name ${o.name} already exists`, { hint: `${o.name} is predefined; choose another name` });
    const driver = o.driver ?? 'bridge';
    if (driver !== 'bridge') throw new BerthError('not_implemented', `network driver "${driver}" is not supported: use bridge`);
    this.ensureDefault();
    if (this.engine.db.prepare('SELECT 1 FROM networks WHERE name = ?').get(o.name)) throw conflict(`network with name ${o.name} already exists`);
    let subnet: Subnet;
    if (o.subnet) {
      subnet = parseSubnet(o.subnet);
      const clash = this.takenSubnets().find((t) => overlaps(t.subnet, subnet));
      if (clash)
        throw conflict(`invalid pool request: Pool overlaps with other one on this address space (${o.subnet} overlaps ${formatSubnet(clash.subnet)} of ${clash.owner})`, {
          hint: 'choose a subnet that no other network or host interface uses',
        });
    } else {
      if (o.gateway) throw invalidArgument('a --gateway needs a --subnet');
      subnet = this.pickSubnet();
    }
    const gateway = o.gateway ?? firstHost(subnet);
    if (o.ipRange) {
      if (!o.subnet) throw invalidArgument('an --ip-range needs a --subnet');
      ipRangeBounds(o.ipRange, subnet);
    }
    if (!contains(subnet, parseIp(gateway)) || parseIp(gateway) === subnet.base)
      throw invalidArgument(`gateway ${gateway} is not a host address of subnet ${formatSubnet(subnet)}`);
    const ipv6 = this.ipv6For(o);
    const id = NetworkStore.newId();
    const bridgeName = this.bridgeOption(o.options ?? {});
    const rec: NetworkRecord = {
      id,
      name: o.name,
      created: Date.now(),
      driver: 'bridge',
      bridge: bridgeName ?? `br-${id.slice(0, 12)}`,
      subnet: formatSubnet(subnet),
      gateway,
      ...(o.ipRange ? { ipRange: o.ipRange } : {}),
      internal: o.internal ?? false,
      ...(ipv6 ? { ipv6 } : {}),
      labels: o.labels ?? {},
      options: o.options ?? {},
      predefined: false,
    };
    this.store.insert(rec);
    try {
      writeConflist(this.conflistDir(), rec, ipamDataDir(this.engine));
      ensureBridge(this.engine, rec, true);
    } catch (e) {
      this.destroyInfra(rec);
      this.store.delete(rec.id);
      throw e;
    }
    emitEvent(this.engine.paths.runroot, 'network', 'create', rec.id, { name: rec.name, type: 'bridge' });
    return rec;
  }

  /**
   * The bridge driver's options Berth applies (`-o`): com.docker.network.bridge.name (the bridge's
   * name; free, at most 15 characters) and com.docker.network.driver.mtu (bridge and veths). Others
   * (icc, masquerade, host binding) are refused rather than silently not applied.
   * @returns the bridge name asked for, if any.
   */
  private bridgeOption(opts: Record<string, string>): string | undefined {
    for (const k of Object.keys(opts))
      if (k !== BRIDGE_NAME_OPT && k !== MTU_OPT)
        throw invalidArgument(`network option "${k}" is not supported`, { hint: `Berth applies ${BRIDGE_NAME_OPT} and ${MTU_OPT}` });
    const mtu = opts[MTU_OPT];
    if (mtu !== undefined && (!/^\d+$/.test(mtu) || Number(mtu) < 68 || Number(mtu) > 65535)) throw invalidArgument(`invalid ${MTU_OPT} "${mtu}": an MTU from 68 to 65535`);
    const name = opts[BRIDGE_NAME_OPT];
    if (name === undefined) return undefined;
    if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,14}$/.test(name)) throw invalidArgument(`invalid ${BRIDGE_NAME_OPT} "${name}": up to 15 of [a-zA-Z0-9_.-]`);
    if (fs.existsSync(`/sys/class/net/${name}`) || this.store.list().some((n) => n.bridge === name)) throw conflict(`bridge name ${name} is already in use`, { hint: 'choose another com.docker.network.bridge.name' });
    return name;
  }

  /** Containers (any state) configured to use the network, and the running ones attached to it. */
  users(rec: NetworkRecord): { configured: ContainerRecord[]; attached: ContainerRecord[] } {
    const all = new ContainerStore(this.engine.db).list();
    if (isDriverless(rec)) {
      const configured = all.filter((c) => c.config.network.mode === rec.name);
      return { configured, attached: configured.filter((c) => c.state.status === 'running' || c.state.status === 'paused') };
    }
    const configured = all.filter((c) => containerNetworks(c).includes(rec.name) || containerNetworks(c).includes(rec.id));
    const attached = all.filter((c) => endpoints(c).some((e) => e.NetworkID === rec.id));
    return { configured, attached };
  }

  /** Removes a network without attached containers: record, bridge, firewall rules, conflist, reservations. */
  remove(nameOrId: string): NetworkRecord {
    const rec = this.resolve(nameOrId);
    if (rec.predefined) throw new BerthError('permission_denied', `${rec.name} is a pre-defined network and cannot be removed`);
    const { attached } = this.users(rec);
    if (attached.length)
      throw conflict(`error while removing network: network ${rec.name} id ${rec.id} has active endpoints (${attached.map((c) => c.config.name).join(', ')})`, {
        hint: 'stop those containers or disconnect them (berth network disconnect) first',
      });
    this.store.delete(rec.id);
    this.destroyInfra(rec);
    emitEvent(this.engine.paths.runroot, 'network', 'destroy', rec.id, { name: rec.name, type: 'bridge' });
    return rec;
  }

  private destroyInfra(rec: NetworkRecord): void {
    removeNetworkFirewall(rec.bridge, !!rec.ipv6);
    if (fs.existsSync(`/sys/class/net/${rec.bridge}`)) execSync('ip', ['link', 'del', rec.bridge]);
    fs.rmSync(path.join(this.conflistDir(), `${rec.name}.conflist`), { force: true });
    fs.rmSync(path.join(ipamDataDir(this.engine), rec.name), { recursive: true, force: true });
  }

  /**
   * Removes the host side of every network of this store (bridges, firewall rules, reservations)
   * and the user-defined records; for tearing a store down (tests, uninstall). Containers should be
   * removed first.
   */
  reset(): void {
    for (const n of this.store.list()) {
      this.destroyInfra(n);
      if (!n.predefined) this.store.delete(n.id);
    }
  }

  /** Connects a container to a network; a running one gets a new interface at once. */
  async connect(nameOrId: string, container: string, o: { aliases?: string[]; ip?: string; ip6?: string } = {}): Promise<void> {
    const n = this.resolve(nameOrId);
    const cs = new ContainerStore(this.engine.db);
    const c = cs.resolve(container);
    const mode = c.config.network.mode;
    if (n.name === 'host' && isDriverless(n)) throw conflict('container cannot be disconnected from host network or connected to host network', { hint: 'choose --network host when the container is created' });
    if (isDriverless(n)) throw conflict('container cannot be connected to multiple networks with one of the networks in private (none) mode', { hint: 'choose --network none when the container is created' });
    if (mode === 'none' || mode === 'host' || mode.startsWith('container:'))
      throw conflict(`container ${c.config.name} uses network mode ${mode} and cannot join other networks`);
    if (containerNetworks(c).includes(n.name)) throw conflict(`endpoint with name ${c.config.name} already exists in network ${n.name}`);
    const asked = { ...(o.ip ? { ip: o.ip } : {}), ...(o.ip6 ? { ip6: o.ip6 } : {}) };
    checkStaticAddresses(n, asked);
    const withoutNetwork = (cfg: ContainerRecord['config']): ContainerRecord['config'] => {
      const { [n.name]: _gone, ...restAddresses } = cfg.network.staticAddresses ?? {};
      return { ...cfg, network: { ...cfg.network, extraNetworks: extraNetworks(cfg.network).filter((x) => x !== n.name), staticAddresses: restAddresses } as ContainerRecord['config']['network'] };
    };
    cs.updateConfig(c.config.id, (cfg) => ({
      ...cfg,
      network: {
        ...cfg.network,
        extraNetworks: [...extraNetworks(cfg.network), n.name],
        ...(o.aliases?.length ? { aliases: [...cfg.network.aliases, ...o.aliases] } : {}),
        ...(o.ip || o.ip6 ? { staticAddresses: { ...cfg.network.staticAddresses, [n.name]: asked } } : {}),
      },
    }));
    const cur = cs.get(c.config.id) as ContainerRecord;
    const st = cur.state.network as ContainerNetworkState | undefined;
    if (!(cur.state.status === 'running' || cur.state.status === 'paused') || !st?.netns) return;
    const ifname = `eth${Object.keys(st.networks).length}`;
    try {
      ensureBridge(this.engine, n, false);
      const fixed = normalizeFixed(asked);
      const r = cniAdd(n, ipamDataDir(this.engine), { id: cur.config.id, netns: st.netns, ifname, ...fixed });
      cs.updateState(cur.config.id, (s) => ({
        ...s,
        network: { ...(s.network as unknown as ContainerNetworkState), networks: { ...st.networks, [n.name]: endpoint(n, cur, r, ifname, fixed) } } as unknown as Record<string, unknown>,
      }));
    } catch (e) {
      // The bridge plugin leaves its veth behind when IPAM refuses the address: remove it with the config.
      execSync('nsenter', [`--net=${st.netns}`, 'ip', 'link', 'del', ifname]);
      cs.updateConfig(c.config.id, withoutNetwork);
      throw e;
    }
    refreshPeers(this.engine, [n.name]);
    emitEvent(this.engine.paths.runroot, 'network', 'connect', this.resolve(nameOrId).id, { name: this.resolve(nameOrId).name, container });
  }

  /** Disconnects a container from a network (its primary network only when it is not running). */
  disconnect(nameOrId: string, container: string, o: { force?: boolean } = {}): void {
    const n = this.resolve(nameOrId);
    const cs = new ContainerStore(this.engine.db);
    const c = cs.resolve(container);
    if (isDriverless(n)) {
      if (n.name === 'host') throw conflict('container cannot be disconnected from host network or connected to host network');
      if (c.config.network.mode === n.name) throw conflict(`container ${c.config.name} uses network mode none: it has no network to leave`, { hint: 'recreate it with another --network' });
      if (o.force) return;
      throw conflict(`container ${c.config.id} is not connected to the network ${n.name}`);
    }
    if (!containerNetworks(c).includes(n.name) && !o.force) throw conflict(`container ${c.config.name} is not connected to network ${n.name}`);
    const st = c.state.network as ContainerNetworkState | undefined;
    const ep = st?.networks?.[n.name];
    if (c.config.network.mode === n.name || (n.predefined && c.config.network.mode === 'bridge')) {
      if (ep) throw conflict(`cannot disconnect container ${c.config.name} from its primary network ${n.name} while it runs`, { hint: 'stop it first' });
      cs.updateConfig(c.config.id, (cfg) => ({ ...cfg, network: { ...cfg.network, mode: 'none' } }));
      return;
    }
    cs.updateConfig(c.config.id, (cfg) => {
      const { [n.name]: _gone, ...restAddresses } = cfg.network.staticAddresses ?? {};
      return { ...cfg, network: { ...cfg.network, extraNetworks: extraNetworks(cfg.network).filter((x) => x !== n.name), staticAddresses: restAddresses } as ContainerRecord['config']['network'] };
    });
    if (ep && st) {
      // Deleting the container end removes the veth pair; the namespace may be gone already.
      execSync('nsenter', [`--net=${st.netns}`, 'ip', 'link', 'del', ep.Interface]);
      cniReleaseAddress(n, ipamDataDir(this.engine), { id: c.config.id, ifname: ep.Interface });
      cs.updateState(c.config.id, (s) => {
        const cur = s.network as unknown as ContainerNetworkState | undefined;
        if (!cur) return s;
        const { [n.name]: _gone, ...rest } = cur.networks;
        return { ...s, network: { ...cur, networks: rest } as unknown as Record<string, unknown> };
      });
      refreshPeers(this.engine, [n.name]);
    }
    emitEvent(this.engine.paths.runroot, 'network', 'disconnect', this.resolve(nameOrId).id, { name: this.resolve(nameOrId).name, container });
  }
}

/** firstFree over the pool, starting at `start` and wrapping around. */
/** The host's IPv4 routes (none without procfs). */
function readHostRoutes(): ReturnType<typeof hostRoutes> {
  try {
    return hostRoutes(fs.readFileSync('/proc/net/route', 'utf8'));
  } catch {
    return [];
  }
}

function firstFreeWrapped(pool: Subnet, start: number, taken: Subnet[]): Subnet | undefined {
  const count = 2 ** (24 - pool.prefix);
  const offset = (start - pool.base) / 256;
  for (let i = 0; i < count; i++) {
    const cand = { base: (pool.base + ((offset + i) % count) * 256) >>> 0, prefix: 24 };
    if (!taken.some((t) => overlaps(t, cand))) return cand;
  }
  return undefined;
}

function extraNetworks(n: ContainerRecord['config']['network']): string[] {
  return (n as { extraNetworks?: string[] }).extraNetworks ?? [];
}

/** Network names a container is configured for: its mode (bridge or a user network) and connected ones. */
export function containerNetworks(c: ContainerRecord): string[] {
  const mode = c.config.network.mode;
  const primary = mode === 'none' || mode === 'host' || mode.startsWith('container:') ? [] : [mode === 'default' ? DEFAULT_NETWORK : mode];
  return [...primary, ...extraNetworks(c.config.network)];
}

function endpoints(c: ContainerRecord): Endpoint[] {
  const st = c.state.network as ContainerNetworkState | undefined;
  return st?.networks ? Object.values(st.networks) : [];
}

/**
 * Checks fixed addresses (--ip, --ip6, `network connect --ip/--ip6`) against the network, with
 * dockerd's wording; invalid_argument. Whether an address is free is only known when host-local
 * reserves it (cniAdd: conflict "Address already in use").
 */
export function checkStaticAddresses(n: NetworkRecord, a: { ip?: string | undefined; ip6?: string | undefined }): void {
  if (!a.ip && !a.ip6) return;
  if (n.predefined) throw invalidArgument('user specified IP address is supported on user defined networks only');
  if (a.ip && !contains(parseSubnet(n.subnet), parseIp(a.ip))) throw invalidArgument(`no configured subnet or ip-range contain the IP address ${a.ip}`, { hint: `network ${n.name} has subnet ${n.subnet}` });
  if (a.ip6) {
    const ip6 = parseIp6(a.ip6);
    if (!n.ipv6)
      throw invalidArgument('user specified IP address is supported only when connecting to networks with user configured subnets', {
        hint: `network ${n.name} has no IPv6 subnet: create one with berth network create --ipv6 --subnet fdXX:XXXX:XXXX::/64`,
      });
    if (!contains6(parseSubnet6(n.ipv6.subnet), ip6)) throw invalidArgument(`no configured subnet or ip-range contain the IP address ${a.ip6}`, { hint: `network ${n.name} has IPv6 subnet ${n.ipv6.subnet}` });
  }
}

/** checkStaticAddresses at create, for the network the mode names (none/host/container: take no address). */
export function validateStaticAddresses(engine: Engine, mode: string, a: { ip?: string | undefined; ip6?: string | undefined }): void {
  if (!a.ip && !a.ip6) return;
  if (mode === 'none' || mode === 'host' || mode.startsWith('container:')) throw invalidArgument('user specified IP address is supported on user defined networks only');
  checkStaticAddresses(new NetworkService(engine).resolve(mode), a);
}

/** Fails with not_found for a network mode naming no network (checked at create, as docker does). */
export function validateNetworkMode(engine: Engine, mode: string): void {
  if (mode === 'none' || mode === 'host' || mode === DEFAULT_NETWORK || mode === 'default') return;
  if (mode.startsWith('container:')) return;
  new NetworkService(engine).resolve(mode);
}

/**
 * Creates the bridge with its gateway address if it does not exist yet (after a reboot or on first
 * use), and installs the network's firewall rules. `always` also re-checks the rules when the
 * bridge exists.
 */
function ensureBridge(engine: Engine, n: NetworkRecord, always: boolean): void {
  const exists = fs.existsSync(`/sys/class/net/${n.bridge}`);
  // The rules of a bridge made by an older berth are brought up to date once (marker per version).
  const marker = path.join(engine.paths.runroot, 'firewall', `${n.bridge}.v${FIREWALL_VERSION}`);
  if (exists && !always && fs.existsSync(marker)) return;
  if (!exists) {
    // Another store (or anything else) may have taken the subnet while this bridge was down.
    const clash = routedElsewhere(parseSubnet(n.subnet), n.bridge, readHostRoutes());
    if (clash)
      throw conflict(`subnet ${n.subnet} of network ${n.name} is now used by host interface ${clash}`, {
        hint: n.predefined ? 'remove the other interface, or berth network reset to let the default network pick a new subnet' : `recreate the network with another --subnet`,
      });
    if (n.ipv6) {
      let routes6 = '';
      try {
        routes6 = fs.readFileSync('/proc/net/ipv6_route', 'utf8');
      } catch {
        /* no IPv6 routes to clash with */
      }
      const own = parseSubnet6(n.ipv6.subnet);
      const clash6 = hostRoutes6(routes6).find((r) => r.iface !== n.bridge && overlaps6(r.subnet, own));
      if (clash6) throw conflict(`IPv6 subnet ${n.ipv6.subnet} of network ${n.name} is now used by host interface ${clash6.iface}`, { hint: 'recreate the network with another IPv6 --subnet' });
    }
    const prefix = n.subnet.split('/')[1];
    // nodad: the gateway address is usable at once (the subnet is checked to be ours alone).
    const v6 = n.ipv6 ? `addr add ${n.ipv6.gateway}/${n.ipv6.subnet.split('/')[1]} dev ${n.bridge} nodad\n` : '';
    const r = execSync('ip', ['-force', '-batch', '-'], { input: `link add ${n.bridge}${n.options?.[MTU_OPT] ? ` mtu ${n.options[MTU_OPT]}` : ''} type bridge\naddr add ${n.gateway}/${prefix} dev ${n.bridge}\n${v6}link set ${n.bridge} up\n` });
    if (!fs.existsSync(`/sys/class/net/${n.bridge}`)) throw new BerthError('internal', `cannot create bridge ${n.bridge} for network ${n.name}: ${r.stderr.trim()}`);
    if (n.ipv6 && r.code !== 0) throw new BerthError('internal', `cannot give bridge ${n.bridge} the IPv6 address ${n.ipv6.gateway}: ${r.stderr.trim()}`, { hint: 'check that IPv6 is enabled (sysctl net.ipv6.conf.default.disable_ipv6=0)' });
  }
  // With isGateway on (IPv4-only networks) the bridge plugin turns on IPv4 forwarding; an --ipv6
  // network runs it with isGateway off, so berth does the IPv4 half itself (never the IPv6 one).
  if (n.ipv6) {
    try {
      if (fs.readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim() !== '1') fs.writeFileSync('/proc/sys/net/ipv4/ip_forward', '1');
    } catch {
      /* containers then reach only their own network */
    }
  }
  // 127.0.0.1:port -> container needs locally routed sources on the bridge (then masqueraded).
  try {
    fs.writeFileSync(`/proc/sys/net/ipv4/conf/${n.bridge}/route_localnet`, '1');
  } catch {
    /* published ports then answer on non-loopback addresses only */
  }
  ensureNetworkFirewall(n);
  fs.mkdirSync(path.dirname(marker), { recursive: true });
  fs.writeFileSync(marker, '');
}

/** The fixed addresses asked for on the container's i-th network: --ip/--ip6 for the primary, `network connect`'s for others. */
function staticAddressesFor(rec: ContainerRecord, n: NetworkRecord, i: number): { ip?: string; ip6?: string } {
  const cfg = rec.config.network;
  return normalizeFixed(i === 0 ? { ip: cfg.ip, ip6: cfg.ip6 } : (cfg.staticAddresses?.[n.name] ?? {}));
}

/** Only the addresses given; the IPv6 one in RFC 5952 text (as host-local names its reservation). */
function normalizeFixed(a: { ip?: string | undefined; ip6?: string | undefined }): { ip?: string; ip6?: string } {
  return { ...(a.ip ? { ip: a.ip } : {}), ...(a.ip6 ? { ip6: formatIp6(parseIp6(a.ip6)) } : {}) };
}

function endpoint(n: NetworkRecord, c: ContainerRecord, r: { ip: string; prefixLen: number; gateway: string; mac: string; ip6?: { ip: string; prefixLen: number; gateway: string } }, ifname: string, fixed: { ip?: string; ip6?: string }): Endpoint {
  const aliases = n.predefined ? null : [...c.config.network.aliases, c.config.id.slice(0, 12)];
  return {
    NetworkID: n.id,
    EndpointID: `${c.config.id.slice(0, 32)}${n.id.slice(0, 32)}`,
    Gateway: n.internal ? '' : r.gateway,
    IPAddress: r.ip,
    IPPrefixLen: r.prefixLen,
    MacAddress: r.mac,
    Aliases: aliases,
    DNSNames: n.predefined ? null : [c.config.name, ...c.config.network.aliases, c.config.id.slice(0, 12)],
    IPAMConfig: fixed.ip || fixed.ip6 ? { ...(fixed.ip ? { IPv4Address: fixed.ip } : {}), ...(fixed.ip6 ? { IPv6Address: fixed.ip6 } : {}) } : null,
    IPv6Gateway: r.ip6 && !n.internal ? r.ip6.gateway : '',
    GlobalIPv6Address: r.ip6?.ip ?? '',
    GlobalIPv6PrefixLen: r.ip6?.prefixLen ?? 0,
    Links: null,
    DriverOpts: null,
    Interface: ifname,
  };
}

// ------------------------------------------------------------------ container hooks

export async function setupContainerNetwork(engine: Engine, rec: ContainerRecord): Promise<{ netnsPath: string } | undefined> {
  const names = containerNetworks(rec);
  if (!names.length) return undefined;
  mark('network: setup');
  const svc = new NetworkService(engine);
  const nets = names.map((n) => svc.resolve(n));
  const id = rec.config.id;
  const cs = new ContainerStore(engine.db);
  const netnsPath = path.join(netnsDir(engine), id);
  const dataDir = ipamDataDir(engine);
  // Leftovers of an earlier run that was never torn down (killed berth): release them first.
  teardownContainerNetwork(engine, id);
  mark('network: leftovers checked');
  const st: ContainerNetworkState = { netns: netnsPath, ipAddress: '', gateway: '', macAddress: '', ipPrefixLen: 0, networks: {}, ports: [] };
  // Record the intent before any side effect, so a crash leaves something to clean up.
  cs.updateState(id, (s) => ({ ...s, network: st as unknown as Record<string, unknown> }));
  try {
    createNetns(netnsPath);
    mark('network: namespace');
    for (const [i, n] of nets.entries()) {
      ensureBridge(engine, n, false);
      const ifname = `eth${i}`;
      const fixed = staticAddressesFor(rec, n, i);
      checkStaticAddresses(n, fixed);
      const r = cniAdd(n, dataDir, { id, netns: netnsPath, ifname, ...fixed });
      mark(`network: CNI bridge ADD ${n.name}`);
      st.networks[n.name] = endpoint(n, rec, r, ifname, fixed);
      if (i === 0) Object.assign(st, { ipAddress: r.ip, gateway: n.internal ? '' : r.gateway, macAddress: r.mac, ipPrefixLen: r.prefixLen });
      if (i === 0 && r.ip6) Object.assign(st, { globalIPv6Address: r.ip6.ip, globalIPv6PrefixLen: r.ip6.prefixLen, ipv6Gateway: n.internal ? '' : r.ip6.gateway });
      cs.updateState(id, (s) => ({ ...s, network: { ...st } as unknown as Record<string, unknown> }));
    }
    if (rec.config.ports.length) {
      const ports = await resolvePorts(rec.config.ports, { dualStack: !!st.globalIPv6Address });
      // Allocation and check in one transaction: two concurrent runs cannot both get a port.
      writeTx(engine.db, () => {
        for (const other of cs.list()) {
          if (other.config.id === id) continue;
          const taken = ((other.state.network as ContainerNetworkState | undefined)?.ports ?? []) as PortBinding[];
          for (const p of ports) if (taken.some((t) => t.protocol === p.protocol && t.hostPort === p.hostPort && ipsClash(t.hostIp, p.hostIp))) throw portTaken(p);
        }
        st.ports = ports;
        cs.updateState(id, (s) => ({ ...s, network: { ...st } as unknown as Record<string, unknown> }));
      });
      const plan = planPorts(ports, st.ipAddress, st.globalIPv6Address);
      addPortRules(id, st.ipAddress, plan.rules4);
      if (plan.rules6.length) addPortRules(id, st.globalIPv6Address as string, plan.rules6, 'ip6');
      if (plan.proxied.length) {
        st.proxyPid = await startPortProxy({ root: engine.paths.root, runroot: engine.paths.runroot, id, netns: netnsPath, specs: plan.proxied });
        cs.updateState(id, (s) => ({ ...s, network: { ...st } as unknown as Record<string, unknown> }));
      }
    }
    fs.writeFileSync(hostsPath(engine, id), renderHosts(rec, st.ipAddress, [...linkPeers(engine, rec, st), ...peersOf(engine, rec, nets)], st.globalIPv6Address));
    mark('network: ports and hosts');
  } catch (e) {
    teardownContainerNetwork(engine, id);
    throw e;
  }
  refreshPeers(engine, nets.filter((n) => !n.predefined).map((n) => n.name), id);
  return { netnsPath };
}

/**
 * The network of one build step (RUN without --network: docker's builds reach the network by
 * default): a namespace at <runroot>/netns/<id> on the default bridge network with an address of its
 * own, NATed out like a container's. Nothing is recorded in the containers table: `release`
 * (idempotent, never throws) gives the address back and deletes the namespace; the step id carries
 * the builder's pid, so `system check` releases a killed build's leftovers and never a running one's.
 */
export function attachBuildStep(engine: Engine, id: string): { netnsPath: string; release(): void } {
  const n = new NetworkService(engine).resolve(DEFAULT_NETWORK);
  const netnsPath = path.join(netnsDir(engine), id);
  const dataDir = ipamDataDir(engine);
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    releaseNetwork(engine, id, { netns: netnsPath, networks: { [n.name]: { NetworkID: n.id, Interface: 'eth0' } as Endpoint } });
  };
  try {
    ensureBridge(engine, n, false);
    createNetns(netnsPath);
    cniAdd(n, dataDir, { id, netns: netnsPath, ifname: 'eth0' });
  } catch (e) {
    release();
    throw e;
  }
  return { netnsPath, release };
}

/**
 * Releases what setupContainerNetwork made for the container's last run: port rules, addresses,
 * the namespace (which takes the veths with it), and its entries in peers' hosts files.
 * With `startedAt`, only the run that started then (a newer run's network stays). Never throws.
 */
export function teardownContainerNetwork(engine: Engine, id: string, o: { startedAt?: number } = {}): void {
  const cs = new ContainerStore(engine.db);
  let claimed: ContainerNetworkState | undefined;
  try {
    cs.updateState(id, (s) => {
      if (!s.network || (o.startedAt !== undefined && s.startedAt !== o.startedAt)) return s;
      claimed = s.network as unknown as ContainerNetworkState;
      const { network: _n, ...rest } = s;
      return rest;
    });
  } catch {
    return; // no such container
  }
  if (!claimed) return;
  releaseNetwork(engine, id, claimed);
  refreshPeers(engine, Object.keys(claimed.networks ?? {}), id);
}

/** The teardown steps themselves; also used by system check for leftovers of unknown containers. */
export function releaseNetwork(engine: Engine, id: string, st: Partial<ContainerNetworkState>): string[] {
  const errors: string[] = [];
  const step = (what: string, fn: () => void) => {
    try {
      fn();
    } catch (e) {
      errors.push(`${what}: ${(e as Error).message}`);
    }
  };
  mark('network: release');
  if (st.proxyPid) step('port proxy', () => stopPortProxy(st.proxyPid as number, id));
  if (st.ports?.length) step('port rules', () => removePortRules(id));
  if (st.ports?.length && planPorts(st.ports, st.ipAddress ?? '', st.globalIPv6Address).rules6.length) step('IPv6 port rules', () => removePortRules(id, 'ip6'));
  step('namespace', () => removeNetns(st.netns ?? path.join(netnsDir(engine), id)));
  mark('network: namespace removed');
  const store = new NetworkStore(engine);
  for (const [name, ep] of Object.entries(st.networks ?? {})) {
    const n = store.get(ep.NetworkID) ?? store.list().find((x) => x.name === name);
    if (n) step(`address on ${name}`, () => cniReleaseAddress(n, ipamDataDir(engine), { id, ifname: ep.Interface }));
    mark(`network: address released on ${name}`);
  }
  return errors;
}

/** Removal hook (ContainerService.remove): whatever is still attached goes. */
export function onContainerRemove(engine: Engine, rec: ContainerRecord): void {
  // Nothing attached (the exit was recorded): skip the write transaction, which would wait for the
  // database lock while the exit command of the same container may hold it.
  if (!rec.state.network) return;
  teardownContainerNetwork(engine, rec.config.id);
}

export function hostsPath(engine: Engine, id: string): string {
  return path.join(engine.paths.containers, id, 'hosts');
}

/** Running members of the container's user-defined networks, with the names they answer to. */
function peersOf(engine: Engine, rec: ContainerRecord, nets: NetworkRecord[]): HostsPeer[] {
  const user = new Set(nets.filter((n) => !n.predefined).map((n) => n.id));
  if (!user.size) return [];
  const out: HostsPeer[] = [];
  for (const c of new ContainerStore(engine.db).list()) {
    if (c.config.id === rec.config.id) continue;
    for (const ep of endpoints(c)) {
      if (!user.has(ep.NetworkID)) continue;
      if (ep.IPAddress) out.push({ ip: ep.IPAddress, names: ep.DNSNames ?? [c.config.name] });
      if (ep.GlobalIPv6Address) out.push({ ip: ep.GlobalIPv6Address, names: ep.DNSNames ?? [c.config.name] });
    }
  }
  return out;
}

/**
 * `--link`ed containers for /etc/hosts: each must run (docker's message otherwise), and is reached at
 * its address on a network both share, else at its primary one; named by alias, name and short id.
 */
function linkPeers(engine: Engine, rec: ContainerRecord, own: ContainerNetworkState): HostsPeer[] {
  const out: HostsPeer[] = [];
  const cs = new ContainerStore(engine.db);
  for (const l of rec.config.network.links ?? []) {
    const [targetId, alias] = l.split(':') as [string, string];
    const t = cs.get(targetId);
    if (t?.state.status !== 'running') throw conflict(`Cannot link to a non running container: /${t?.config.name ?? targetId.slice(0, 12)} AS /${rec.config.name}/${alias}`);
    const eps = endpoints(t);
    const shared = eps.find((e) => Object.values(own.networks).some((o) => o.NetworkID === e.NetworkID));
    const ip = shared?.IPAddress || (t.state.network as ContainerNetworkState | undefined)?.ipAddress;
    if (!ip) throw conflict(`Cannot link to /${t.config.name}: it has no network address`);
    out.push({ ip, names: [...new Set([alias, t.config.name, t.config.id.slice(0, 12)])] });
  }
  return out;
}

/** Rewrites, in place, the hosts files of running members of the given networks (except `skip`). */
function refreshPeers(engine: Engine, networkNames: string[], skip?: string): void {
  if (!networkNames.length) return;
  const store = new NetworkStore(engine);
  const nets = store.list().filter((n) => networkNames.includes(n.name) && !n.predefined);
  if (!nets.length) return;
  const ids = new Set(nets.map((n) => n.id));
  for (const c of new ContainerStore(engine.db).list()) {
    if (c.config.id === skip) continue;
    const st = c.state.network as ContainerNetworkState | undefined;
    if (!st?.networks || !Object.values(st.networks).some((e) => ids.has(e.NetworkID))) continue;
    const mine = Object.values(st.networks).map((e) => store.get(e.NetworkID)).filter((x): x is NetworkRecord => !!x);
    try {
      // writeFileSync truncates and writes the same inode: the container's bind mount follows.
      fs.writeFileSync(hostsPath(engine, c.config.id), renderHosts(c, st.ipAddress, peersOf(engine, c, mine), st.globalIPv6Address));
    } catch {
      /* container being removed */
    }
  }
}

// ------------------------------------------------------------------ published ports

/** Two host IPs of bindings of one port clash in the same family when either is the wildcard or they are equal. */
function ipsClash(a: string, b: string): boolean {
  if (net.isIPv6(a) !== net.isIPv6(b)) return false;
  const any = (x: string) => x === '' || x === '0.0.0.0' || x === '::';
  return any(a) || any(b) || a === b;
}

function hostPortText(ip: string, port: number): string {
  const host = ip || '0.0.0.0';
  return net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
}

function portTaken(p: PortBinding): BerthError {
  return conflict(`Bind for ${hostPortText(p.hostIp, p.hostPort)} failed: port is already allocated`, { hint: 'choose another host port, or -p CONTAINER_PORT for a free one' });
}

/**
 * How each binding is carried: IPv4 ones by iptables DNAT; IPv6 ones of a container with an IPv6
 * address by ip6tables DNAT, except on loopback (no route_localnet for IPv6: [::1] and the loopback
 * side of [::] go through the port proxy, as docker-proxy does for docker); IPv6 ones of a container
 * without an IPv6 address through the proxy to its IPv4 address.
 */
function planPorts(ports: PortBinding[], ip4: string, ip6: string | undefined): { rules4: PortBinding[]; rules6: PortBinding[]; proxied: ProxySpec[] } {
  const v6 = ports.filter((p) => net.isIPv6(p.hostIp));
  const proxied = v6
    .filter((p) => !ip6 || p.hostIp === '::' || p.hostIp === '::1')
    .map((p) => ({ protocol: p.protocol, hostIp: p.hostIp, hostPort: p.hostPort, targetIp: ip6 ?? ip4, targetPort: p.containerPort }));
  return { rules4: ports.filter((p) => !net.isIPv6(p.hostIp)), rules6: ip6 ? v6.filter((p) => p.hostIp !== '::1') : [], proxied };
}

/**
 * Checks requested host ports against the host's listeners and picks free ones for port 0. With
 * `dualStack` (the container has an IPv6 address), a binding without a host IP is published on
 * both families, as docker does: 0.0.0.0:PORT and [::]:PORT, the same port.
 */
async function resolvePorts(ports: PortBinding[], o: { dualStack: boolean }): Promise<PortBinding[]> {
  const out: PortBinding[] = [];
  const check = async (p: PortBinding): Promise<number> => {
    try {
      return await probe(p.protocol, p.hostIp || '0.0.0.0', p.hostPort);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EADDRINUSE') throw portTaken(p);
      if (code === 'EADDRNOTAVAIL') throw invalidArgument(`Bind for ${hostPortText(p.hostIp, p.hostPort)} failed: cannot assign requested address (no such address on this host)`);
      throw new BerthError('internal', `checking host port ${hostPortText(p.hostIp, p.hostPort)}: ${(e as Error).message}`, { cause: e });
    }
  };
  for (const p of ports) out.push({ ...p, hostPort: await check(p) });
  if (o.dualStack) for (const p of [...out]) if (p.hostIp === '') out.push({ ...p, hostIp: '::', hostPort: await check({ ...p, hostIp: '::' }) });
  // Two bindings of one request may not share a port either.
  for (const [i, p] of out.entries()) if (out.some((q, j) => j < i && q.protocol === p.protocol && q.hostPort === p.hostPort && ipsClash(q.hostIp, p.hostIp))) throw portTaken(p);
  return out;
}

/** Binds and releases host:port (0 = any free port); resolves with the port. */
function probe(proto: 'tcp' | 'udp', host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const v6 = net.isIPv6(host);
    if (proto === 'udp') {
      const s = dgram.createSocket({ type: v6 ? 'udp6' : 'udp4', ipv6Only: v6 });
      s.once('error', reject);
      s.bind(port, host, () => {
        const got = s.address().port;
        s.close(() => resolve(got));
      });
      return;
    }
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen({ port, host, exclusive: true, ipv6Only: v6 }, () => {
      const got = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(got));
    });
  });
}

