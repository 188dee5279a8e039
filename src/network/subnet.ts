/** IPv4 subnet arithmetic for network records and IPAM checks (no I/O). */
import { invalidArgument } from '../errors.js';

export interface Subnet {
  /** Network address as an unsigned 32-bit number. */
  base: number;
  prefix: number;
}

export function parseIp(s: string): number {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m || m.slice(1).some((x) => Number(x) > 255)) throw invalidArgument(`invalid IPv4 address: ${s}`);
  return ((Number(m[1]) << 24) | (Number(m[2]) << 16) | (Number(m[3]) << 8) | Number(m[4])) >>> 0;
}

export function formatIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export function mask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** Parses `a.b.c.d/n`; host bits must be zero (docker refuses 10.1.1.1/24 as a subnet too). */
export function parseSubnet(s: string): Subnet {
  const m = /^([\d.]+)\/(\d{1,2})$/.exec(s);
  if (!m || Number(m[2]) > 32) throw invalidArgument(`invalid subnet ${s}: expected CIDR notation like 10.90.0.0/24`);
  const prefix = Number(m[2]);
  const ip = parseIp(m[1] as string);
  const base = (ip & mask(prefix)) >>> 0;
  if (base !== ip) throw invalidArgument(`invalid subnet ${s}: host bits are set, use ${formatIp(base)}/${prefix}`);
  if (prefix > 30) throw invalidArgument(`subnet ${s} is too small: use a prefix of /30 or shorter`);
  return { base, prefix };
}

/**
 * `--ip-range`: a CIDR (host bits zero, up to /32) inside `subnet`, as the first and last address
 * host-local may hand out (the subnet's network and broadcast addresses excluded).
 */
export function ipRangeBounds(range: string, subnet: Subnet): { first: string; last: string } {
  const m = /^([\d.]+)\/(\d{1,2})$/.exec(range);
  if (!m || Number(m[2]) > 32) throw invalidArgument(`invalid ip-range ${range}: expected CIDR notation like 10.90.0.128/25`);
  const prefix = Number(m[2]);
  const base = parseIp(m[1] as string);
  if (((base & mask(prefix)) >>> 0) !== base) throw invalidArgument(`invalid ip-range ${range}: host bits are set, use ${formatIp((base & mask(prefix)) >>> 0)}/${prefix}`);
  if (prefix < subnet.prefix || !contains(subnet, base)) throw invalidArgument(`ip-range ${range} is not inside subnet ${formatSubnet(subnet)}`);
  const size = 2 ** (32 - prefix);
  const broadcast = subnet.base + 2 ** (32 - subnet.prefix) - 1;
  const first = Math.max(base, subnet.base + 1);
  const last = Math.min(base + size - 1, broadcast - 1);
  if (first > last) throw invalidArgument(`ip-range ${range} holds no usable address of subnet ${formatSubnet(subnet)}`);
  return { first: formatIp(first), last: formatIp(last) };
}

export function formatSubnet(s: Subnet): string {
  return `${formatIp(s.base)}/${s.prefix}`;
}

export function contains(s: Subnet, ip: number): boolean {
  return ((ip & mask(s.prefix)) >>> 0) === s.base;
}

export function overlaps(a: Subnet, b: Subnet): boolean {
  const p = Math.min(a.prefix, b.prefix);
  return ((a.base & mask(p)) >>> 0) === ((b.base & mask(p)) >>> 0);
}

/** The first usable address: docker's default gateway. */
export function firstHost(s: Subnet): string {
  return formatIp(s.base + 1);
}

/** The first `/prefix` inside `pool` that overlaps none of `taken`, or undefined. */
export function firstFree(pool: Subnet, prefix: number, taken: Subnet[]): Subnet | undefined {
  const step = 2 ** (32 - prefix);
  const count = 2 ** (prefix - pool.prefix);
  for (let i = 0; i < count; i++) {
    const cand = { base: (pool.base + i * step) >>> 0, prefix };
    if (!taken.some((t) => overlaps(t, cand))) return cand;
  }
  return undefined;
}

/** IPv4 routes of the host's main table (/proc/net/route), including the subnets of its addresses. */
export function hostRoutes(text: string): { iface: string; subnet: Subnet }[] {
  const out: { iface: string; subnet: Subnet }[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8) continue;
    const le = (h: string) => Buffer.from(h, 'hex').readUInt32LE(0);
    const dest = le(f[1] as string);
    const m = le(f[7] as string);
    if (m === 0) continue; // default route
    const prefix = popcount(m);
    out.push({ iface: f[0] as string, subnet: { base: (dest & mask(prefix)) >>> 0, prefix } });
  }
  return out;
}

/**
 * The interface, other than `own`, that routes part of `subnet` (a network's own bridge never takes
 * its subnet away, even while another process is bringing it up).
 */
export function routedElsewhere(subnet: Subnet, own: string, routes: { iface: string; subnet: Subnet }[]): string | undefined {
  return routes.find((r) => r.iface !== own && overlaps(r.subnet, subnet))?.iface;
}

function popcount(n: number): number {
  let c = 0;
  for (let x = n >>> 0; x; x >>>= 1) c += x & 1;
  return c;
}
