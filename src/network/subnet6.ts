/** IPv6 subnet arithmetic for `network create --ipv6` (no I/O; addresses as 128-bit bigints). */
import { createHash } from 'node:crypto';
import net from 'node:net';
import { invalidArgument } from '../errors.js';

export interface Subnet6 {
  base: bigint;
  prefix: number;
}

const ALL = (1n << 128n) - 1n;

export function parseIp6(s: string): bigint {
  if (!net.isIPv6(s) || s.includes('%')) throw invalidArgument(`invalid IPv6 address: ${s}`);
  let text = s;
  // An embedded IPv4 tail (::ffff:1.2.3.4) becomes two groups.
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const b = (v4[1] as string).split('.').map(Number) as [number, number, number, number];
    text = `${text.slice(0, v4.index)}${((b[0] << 8) | b[1]).toString(16)}:${((b[2] << 8) | b[3]).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? (text.split('::') as [string, string]) : [text, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  let n = 0n;
  for (const g of groups) n = (n << 16n) | BigInt(parseInt(g, 16));
  return n;
}

/** RFC 5952 text: lower case, the longest run of two or more zero groups as `::`. */
export function formatIp6(n: bigint): string {
  const g: number[] = [];
  for (let i = 7; i >= 0; i--) g.push(Number((n >> BigInt(i * 16)) & 0xffffn));
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j;
  }
  const hex = g.map((x) => x.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

function mask6(prefix: number): bigint {
  return prefix === 0 ? 0n : (ALL << BigInt(128 - prefix)) & ALL;
}

export function isIp6Subnet(s: string): boolean {
  return s.includes(':');
}

/** Parses `fd42:1::/64`; host bits must be zero; at most /120 (host-local needs room for a range). */
export function parseSubnet6(s: string): Subnet6 {
  const m = /^([0-9a-fA-F:.]+)\/(\d{1,3})$/.exec(s);
  if (!m || Number(m[2]) > 128) throw invalidArgument(`invalid subnet ${s}: expected IPv6 CIDR notation like fd42:1:2:3::/64`);
  const prefix = Number(m[2]);
  const ip = parseIp6(m[1] as string);
  const base = ip & mask6(prefix);
  if (base !== ip) throw invalidArgument(`invalid subnet ${s}: host bits are set, use ${formatIp6(base)}/${prefix}`);
  if (prefix > 120) throw invalidArgument(`IPv6 subnet ${s} is too small: use a prefix of /120 or shorter (/64 is usual)`);
  const top = Number(base >> 112n);
  if ((top & 0xffc0) === 0xfe80) throw invalidArgument(`IPv6 subnet ${s} is link-local (fe80::/10): use a unique local subnet (fd00::/8)`);
  if ((top & 0xff00) === 0xff00) throw invalidArgument(`IPv6 subnet ${s} is multicast: use a unique local subnet (fd00::/8)`);
  return { base, prefix };
}

export function formatSubnet6(s: Subnet6): string {
  return `${formatIp6(s.base)}/${s.prefix}`;
}

export function contains6(s: Subnet6, ip: bigint): boolean {
  return (ip & mask6(s.prefix)) === s.base;
}

export function overlaps6(a: Subnet6, b: Subnet6): boolean {
  const m = mask6(Math.min(a.prefix, b.prefix));
  return (a.base & m) === (b.base & m);
}

export function firstHost6(s: Subnet6): string {
  return formatIp6(s.base + 1n);
}

/**
 * A unique local /64 for `--ipv6` without a v6 `--subnet`: fdXX:XXXX:XXXX:YYYY::/64 from a hash of
 * the store and the network (RFC 4193 style global ID), skipping taken ones.
 */
export function pickUla64(seed: string, taken: Subnet6[]): Subnet6 {
  for (let i = 0; i < 256; i++) {
    const h = createHash('sha256').update(`${seed}/${i}`).digest();
    let n = 0xfdn;
    for (let k = 0; k < 7; k++) n = (n << 8n) | BigInt(h[k] as number);
    const cand = { base: n << 64n, prefix: 64 };
    if (!taken.some((t) => overlaps6(t, cand))) return cand;
  }
  throw invalidArgument('no free unique local IPv6 subnet found: give one with --subnet fdXX:...::/64');
}

/** IPv6 routes of the host (/proc/net/ipv6_route) that could clash: not default, link-local, multicast or host routes. */
export function hostRoutes6(text: string): { iface: string; subnet: Subnet6 }[] {
  const out: { iface: string; subnet: Subnet6 }[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10) continue;
    const prefix = parseInt(f[1] as string, 16);
    if (prefix === 0 || prefix === 128) continue;
    const base = BigInt(`0x${f[0]}`) & mask6(prefix);
    const top = Number(base >> 112n);
    if ((top & 0xffc0) === 0xfe80 || (top & 0xff00) === 0xff00) continue;
    out.push({ iface: f[9] as string, subnet: { base, prefix } });
  }
  return out;
}
