/**
 * The port proxy: published ports that netfilter cannot carry, relayed in user space as docker's
 * userland proxy (docker-proxy) does.
 *
 * Why: IPv6 has no route_localnet. A connection to [::1]:port DNATed to a container would leave
 * the loopback interface with source ::1, which the kernel drops (RFC 4291), so ip6tables can never
 * publish a port on [::1]; docker leaves loopback to docker-proxy for the same reason (its ip6tables
 * OUTPUT jump has `! -d ::1/128`, like ours). Likewise an IPv6 host address of a container that has
 * no IPv6 address needs a relay from IPv6 to IPv4.
 *
 * One detached process per container (`berth container port-proxy ID NETNS SPEC...`, not one per
 * port as docker does) listens on every such binding and relays TCP connections and UDP datagrams
 * to the container. It reports "ready" (or the bind error) on stdout before the caller goes on, so a
 * port answers as soon as `run -d` returns. It ends on SIGTERM (teardown) and also by itself when
 * the container's network namespace goes or is replaced (a killed berth never leaves it behind for
 * long). The proxy keeps the host port bound, so other host programs cannot take it meanwhile.
 */
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import { BerthError, conflict } from '../errors.js';
import { berthBin } from '../util/berth-bin.js';

export interface ProxySpec {
  protocol: 'tcp' | 'udp';
  hostIp: string;
  hostPort: number;
  targetIp: string;
  targetPort: number;
}

/** `tcp/::1/8080/fd00::2/80`: slashes, as IPv6 addresses have colons. */
export function formatProxySpec(s: ProxySpec): string {
  return `${s.protocol}/${s.hostIp}/${s.hostPort}/${s.targetIp}/${s.targetPort}`;
}

export function parseProxySpec(text: string): ProxySpec {
  const [protocol, hostIp, hostPort, targetIp, targetPort] = text.split('/');
  if ((protocol !== 'tcp' && protocol !== 'udp') || !net.isIP(hostIp ?? '') || !net.isIP(targetIp ?? '') || !/^\d+$/.test(hostPort ?? '') || !/^\d+$/.test(targetPort ?? ''))
    throw new BerthError('invalid_argument', `invalid port proxy spec "${text}": expected PROTO/HOST_IP/HOST_PORT/TARGET_IP/TARGET_PORT`);
  return { protocol, hostIp: hostIp as string, hostPort: Number(hostPort), targetIp: targetIp as string, targetPort: Number(targetPort) };
}

const READY = 'ready';
const UDP_IDLE_MS = 90_000;

/**
 * Starts the proxy process for a container and resolves with its pid once every listener is bound.
 * A host port taken meanwhile fails with conflict (docker's "port is already allocated").
 */
export function startPortProxy(o: { root: string; runroot: string; id: string; netns: string; specs: ProxySpec[] }): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [berthBin(), '--root', o.root, '--runroot', o.runroot, 'container', 'port-proxy', o.id, o.netns, ...o.specs.map(formatProxySpec)], {
      detached: true,
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    let out = '';
    const done = (err?: Error) => {
      child.stdout.removeAllListeners();
      child.removeAllListeners();
      child.stdout.destroy();
      child.unref();
      if (err) reject(err);
      else resolve(child.pid as number);
    };
    child.once('error', (e) => done(new BerthError('internal', `starting the port proxy: ${e.message}`, { cause: e })));
    child.once('exit', (code) => done(portProxyError(out, code)));
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.startsWith(`${READY}\n`)) done();
      else if (out.includes('\n')) {
        try {
          process.kill(child.pid as number, 'SIGTERM');
        } catch {
          /* gone */
        }
        done(portProxyError(out, null));
      }
    });
  });
}

function portProxyError(out: string, code: number | null): BerthError {
  const line = out.split('\n')[0] ?? '';
  const m = /^EADDRINUSE (\S+)$/.exec(line);
  if (m) return conflict(`Bind for ${m[1]} failed: port is already allocated`, { hint: 'choose another host port, or -p CONTAINER_PORT for a free one' });
  return new BerthError('internal', `the port proxy failed${line ? `: ${line}` : ` (exit ${code})`}`);
}

/** Stops a container's proxy; only a process whose command line names that container is signalled (pids are reused). */
export function stopPortProxy(pid: number, id: string): void {
  let cmdline = '';
  try {
    cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return;
  }
  if (!cmdline.includes('\0port-proxy\0') || !cmdline.includes(`\0${id}\0`)) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    /* already gone */
  }
}

function hostPortText(s: ProxySpec): string {
  return `${net.isIPv6(s.hostIp) ? `[${s.hostIp}]` : s.hostIp}:${s.hostPort}`;
}

/** The proxy process: binds every spec, prints "ready" (or "EADDRINUSE host:port"), relays until told to stop. */
export async function runPortProxy(netnsPath: string, specTexts: string[]): Promise<void> {
  const specs = specTexts.map(parseProxySpec);
  const closers: (() => void)[] = [];
  const stop = () => {
    for (const c of closers) c();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.on('SIGHUP', () => {});
  try {
    for (const s of specs) closers.push(await (s.protocol === 'tcp' ? listenTcp(s) : listenUdp(s)));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    process.stdout.write(code === 'EADDRINUSE' ? `EADDRINUSE ${(e as { spec?: string }).spec ?? ''}\n` : `${(e as Error).message}\n`);
    process.exit(1);
  }
  // The namespace identifies the container's current run: gone or replaced -> this proxy is stale.
  const nsIno = inode(netnsPath);
  process.stdout.write(`${READY}\n`);
  process.stdout.end?.();
  setInterval(() => {
    if (inode(netnsPath) !== nsIno) stop();
  }, 2000);
  await new Promise(() => {});
}

function inode(p: string): number | undefined {
  try {
    return fs.statSync(p).ino;
  } catch {
    return undefined;
  }
}

function tagged(e: Error, s: ProxySpec): Error {
  return Object.assign(e, { spec: hostPortText(s) });
}

function listenTcp(s: ProxySpec): Promise<() => void> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer({ pauseOnConnect: true }, (client) => {
      const upstream = net.connect({ host: s.targetIp, port: s.targetPort });
      upstream.once('connect', () => {
        client.pipe(upstream);
        upstream.pipe(client);
        client.resume();
      });
      const end = () => {
        client.destroy();
        upstream.destroy();
      };
      upstream.once('error', end);
      client.once('error', end);
      upstream.once('close', () => client.end());
      client.once('close', () => upstream.end());
    });
    srv.once('error', (e) => reject(tagged(e, s)));
    srv.listen({ host: s.hostIp, port: s.hostPort, ipv6Only: net.isIPv6(s.hostIp), exclusive: true }, () => resolve(() => srv.close()));
  });
}

/** UDP: one upstream socket per client address, dropped after 90 s without traffic (docker-proxy's idea). */
function listenUdp(s: ProxySpec): Promise<() => void> {
  return new Promise((resolve, reject) => {
    const v6 = net.isIPv6(s.hostIp);
    const sock = dgram.createSocket({ type: v6 ? 'udp6' : 'udp4', ipv6Only: v6 });
    const flows = new Map<string, { up: dgram.Socket; timer: NodeJS.Timeout }>();
    const drop = (key: string) => {
      const f = flows.get(key);
      if (!f) return;
      clearTimeout(f.timer);
      flows.delete(key);
      f.up.close();
    };
    const touch = (key: string) => {
      const f = flows.get(key);
      if (!f) return;
      clearTimeout(f.timer);
      f.timer = setTimeout(() => drop(key), UDP_IDLE_MS);
    };
    sock.on('message', (msg, from) => {
      const key = `${from.address}/${from.port}`;
      let f = flows.get(key);
      if (!f) {
        const up = dgram.createSocket(net.isIPv6(s.targetIp) ? 'udp6' : 'udp4');
        up.on('message', (reply) => {
          sock.send(reply, from.port, from.address);
          touch(key);
        });
        up.on('error', () => drop(key));
        f = { up, timer: setTimeout(() => drop(key), UDP_IDLE_MS) };
        flows.set(key, f);
      }
      f.up.send(msg, s.targetPort, s.targetIp);
      touch(key);
    });
    sock.once('error', (e) => reject(tagged(e, s)));
    sock.bind({ address: s.hostIp, port: s.hostPort, exclusive: true }, () => resolve(() => sock.close()));
  });
}
