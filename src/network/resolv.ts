/**
 * The /etc/resolv.conf of a container with a network namespace of its own, from the host's, as
 * docker makes it: nameservers on the host's loopback (systemd-resolved's 127.0.0.53, a local
 * dnsmasq) cannot be reached from the container's namespace and are dropped; when none is left,
 * docker's defaults (Google's public resolvers) take their place. Search and options lines stay.
 */
const DEFAULT_NAMESERVERS = ['8.8.8.8', '8.8.4.4'];

function loopback(addr: string): boolean {
  const a = addr.split('%')[0] as string;
  return /^127\./.test(a) || a === '::1' || a === '0:0:0:0:0:0:0:1';
}

export function containerResolvConf(host: string): string {
  const lines = host.split('\n');
  const kept: string[] = [];
  let servers = 0;
  let dropped = 0;
  for (const l of lines) {
    const m = /^\s*nameserver\s+(\S+)/.exec(l);
    if (m) {
      if (loopback(m[1] as string)) {
        dropped++;
        continue;
      }
      servers++;
    }
    kept.push(l);
  }
  if (servers === 0 && dropped > 0) {
    while (kept.length && kept[kept.length - 1] === '') kept.pop();
    kept.push(...DEFAULT_NAMESERVERS.map((s) => `nameserver ${s}`), '');
  }
  return kept.join('\n');
}
