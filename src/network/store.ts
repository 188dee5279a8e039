/** Network records in the `networks` table (id, name, created, config JSON). */
import { createHash, randomBytes } from 'node:crypto';
import path from 'node:path';
import type { Engine } from '../engine/engine.js';
import { DEFAULT_ROOT } from '../engine/paths.js';
import { BerthError, conflict, notFound } from '../errors.js';
import { writeTx } from '../metadata/db.js';
import { sha256Hex } from '../util/random.js';

export interface NetworkRecord {
  id: string;
  name: string;
  created: number;
  /** bridge for every stored network; host and null for the driver-less host and none (service.ts). */
  driver: 'bridge' | 'host' | 'null';
  /** Host bridge interface (at most 15 characters); empty for host and none. */
  bridge: string;
  subnet: string;
  gateway: string;
  /** `--ip-range`: a CIDR inside the subnet that addresses are handed out from (fixed --ip addresses may be anywhere in the subnet). */
  ipRange?: string;
  /** `--ipv6`: the network's IPv6 subnet and the bridge's address in it (absent: IPv4 only). */
  ipv6?: { subnet: string; gateway: string };
  /** No route out of the network: no masquerading, forwarding only between its members. */
  internal: boolean;
  labels: Record<string, string>;
  options: Record<string, string>;
  /** The predefined `bridge` network: no name resolution between members, as with docker. */
  predefined: boolean;
}

export const DEFAULT_NETWORK = 'bridge';
/** The default network of the default store; other stores get a /24 from the user pool. */
export const DEFAULT_SUBNET = '10.89.0.0/16';
/** Subnets for networks created without --subnet (docker uses 172.17-31; podman 10.88). */
export const USER_POOL = '10.90.0.0/15';
/** Names berth gives network modes that are not networks. */
export const SPECIAL_MODES = ['none', 'host', 'default'];

/** The id of the driver-less predefined network `host` or `none` of the store at `root` (stable, never stored). */
export function driverlessNetworkId(root: string, name: 'host' | 'none'): string {
  return sha256Hex(`${root}\0${name}`);
}

/** The endpoint id of a container in host or none mode (docker gives one; nothing is set up for it). */
export function driverlessEndpointId(containerId: string, name: 'host' | 'none'): string {
  return sha256Hex(`${containerId}\0${name}`);
}

interface Row {
  id: string;
  name: string;
  created: number;
  config: string;
}

export class NetworkStore {
  constructor(readonly engine: Engine) {}

  private toRecord(r: Row): NetworkRecord {
    return { ...(JSON.parse(r.config) as Omit<NetworkRecord, 'id' | 'name' | 'created'>), id: r.id, name: r.name, created: r.created };
  }

  list(): NetworkRecord[] {
    return (this.engine.db.prepare('SELECT * FROM networks ORDER BY created').all() as Row[]).map((r) => this.toRecord(r));
  }

  get(id: string): NetworkRecord | undefined {
    const r = this.engine.db.prepare('SELECT * FROM networks WHERE id = ?').get(id) as Row | undefined;
    return r ? this.toRecord(r) : undefined;
  }

  /** By full name, full ID, then unique ID prefix (docker's order). Fails with not_found. */
  resolve(nameOrId: string): NetworkRecord {
    const db = this.engine.db;
    const r =
      (db.prepare('SELECT * FROM networks WHERE name = ?').get(nameOrId) as Row | undefined) ??
      (db.prepare('SELECT * FROM networks WHERE id = ?').get(nameOrId) as Row | undefined);
    if (r) return this.toRecord(r);
    if (/^[0-9a-f]+$/.test(nameOrId)) {
      const rows = db.prepare("SELECT * FROM networks WHERE id LIKE ? || '%'").all(nameOrId) as Row[];
      if (rows.length === 1) return this.toRecord(rows[0] as Row);
      if (rows.length > 1) throw new BerthError('invalid_argument', `network ${nameOrId} is ambiguous (${rows.length} matches found)`);
    }
    throw notFound(`network ${nameOrId} not found`, { hint: 'list networks with: berth network ls' });
  }

  insert(rec: NetworkRecord): void {
    const { id, name, created, ...config } = rec;
    try {
      writeTx(this.engine.db, () => {
        this.engine.db.prepare('INSERT INTO networks (id, name, created, config) VALUES (?, ?, ?, ?)').run(id, name, created, JSON.stringify(config));
      });
    } catch (e) {
      if ((e as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE' || (e as { code?: string }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY')
        throw conflict(`network with name ${name} already exists`);
      throw e;
    }
  }

  update(rec: NetworkRecord): void {
    const { id, name: _n, created: _c, ...config } = rec;
    writeTx(this.engine.db, () => {
      this.engine.db.prepare('UPDATE networks SET config = ? WHERE id = ?').run(JSON.stringify(config), id);
    });
  }

  delete(id: string): void {
    writeTx(this.engine.db, () => {
      this.engine.db.prepare('DELETE FROM networks WHERE id = ?').run(id);
    });
  }

  static newId(): string {
    return randomBytes(32).toString('hex');
  }
}

/** Bridge name of the predefined network: berth0 for the default store, berth<hash> for others. */
export function defaultBridgeName(engine: Engine): string {
  if (path.resolve(engine.paths.root) === DEFAULT_ROOT) return 'berth0';
  return `berth${createHash('sha256').update(path.resolve(engine.paths.root)).digest('hex').slice(0, 10)}`;
}

/** Where host-local keeps its reservations (per boot, like the rest of runroot). */
export function ipamDataDir(engine: Engine): string {
  return path.join(engine.paths.runroot, 'cni', 'networks');
}

export function netnsDir(engine: Engine): string {
  return path.join(engine.paths.runroot, 'netns');
}
