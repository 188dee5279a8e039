import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { TestStore, eventually, httpGet } from './helpers.js';

/** GET http://127.0.0.1:port/ (or [::1]) until it answers (15 s) -> body (traffic to loopback only). */
async function eventuallyGet(port: number, host: '127.0.0.1' | '::1' = '127.0.0.1'): Promise<string> {
  const end = Date.now() + 15_000;
  for (;;) {
    try {
      return await httpGet(port, host);
    } catch (e) {
      if (Date.now() > end) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** Processes of this store's port proxies (their command line names the store). */
function proxiesOf(root: string): number[] {
  return fs
    .readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        const cmd = fs.readFileSync(`/proc/${p}/cmdline`, 'utf8');
        return cmd.includes('\0port-proxy\0') && cmd.includes(root);
      } catch {
        return false;
      }
    })
    .map(Number);
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(p));
    });
  });
}

describe('networks: CNI bridge, names, published ports', { skip: process.getuid?.() !== 0 && 'needs root' }, () => {
  const s = new TestStore('net');
  const www = path.join(s.dir, 'www');
  before(() => {
    s.busybox();
    fs.mkdirSync(www, { recursive: true });
    fs.writeFileSync(path.join(www, 'index.html'), 'hello from berth\n');
  });
  after(() => s.cleanup());

  test('a default run gets an address on the default bridge, --network none only loopback', () => {
    const out = s.ok(['run', '--rm', 'busybox', 'ip', '-o', '-4', 'addr', 'show', 'eth0']);
    assert.match(out, /inet 10\.(89|9[01])\.\d+\.\d+\//);
    const none = s.ok(['run', '--rm', '--network', 'none', 'busybox', 'ip', '-o', 'link']);
    assert.doesNotMatch(none, /eth0/);
  });

  test('the default bridge: concurrent first runs keep its subnet; one another interface took while it was down moves it', async () => {
    const ipam = () => (JSON.parse(s.ok(['network', 'inspect', 'bridge'])) as { IPAM: { Config: { Subnet: string; Gateway: string }[] }; Options: Record<string, string> }[])[0];
    const first = ipam();
    const bridge = first?.Options['com.docker.network.bridge.name'] as string;
    const subnet = first?.IPAM.Config[0]?.Subnet as string;
    const exitOf = (p: ReturnType<TestStore['spawn']>) =>
      new Promise<string>((resolve) => {
        let err = '';
        p.stderr.on('data', (d: Buffer) => (err += d.toString()));
        p.on('exit', (code) => resolve(code === 0 ? '' : `exited ${code}: ${err.trim()}`));
      });
    // The race seen in CI: a process that found the bridge missing read the routes after another brought it up.
    for (let round = 0; round < 3; round++) {
      if (fs.existsSync(`/sys/class/net/${bridge}`)) spawnSync('ip', ['link', 'del', bridge]);
      const results = await Promise.all(Array.from({ length: 12 }, () => exitOf(s.spawn(['run', '--rm', 'busybox', 'true']))));
      assert.deepEqual(results.filter(Boolean), [], `round ${round}: every concurrent first run starts`);
      assert.equal(ipam()?.IPAM.Config[0]?.Subnet, subnet, `round ${round}: the subnet stays`);
    }
    // Another interface takes the subnet while the bridge is down: the network moves, runs go on.
    spawnSync('ip', ['link', 'del', bridge]);
    const squatter = `bt${process.pid % 100000}sq`;
    try {
      for (const a of [['link', 'add', squatter, 'type', 'bridge'], ['addr', 'add', `${first?.IPAM.Config[0]?.Gateway}/24`, 'dev', squatter], ['link', 'set', squatter, 'up']])
        assert.equal(spawnSync('ip', a).status, 0, `ip ${a.join(' ')}`);
      const moved = ipam()?.IPAM.Config[0] as { Subnet: string; Gateway: string };
      assert.notEqual(moved.Subnet, subnet);
      const out = s.ok(['run', '--rm', 'busybox', 'ip', '-o', '-4', 'addr', 'show', 'eth0']);
      assert.match(out, new RegExp(`inet ${moved.Gateway.split('.').slice(0, 3).join('\\.')}\\.\\d+/24`), 'the container is on the moved subnet');
    } finally {
      spawnSync('ip', ['link', 'del', squatter]);
    }
  });

  test('network create --ip-range: addresses come from the range, a fixed --ip may be elsewhere in the subnet', () => {
    s.ok(['network', 'create', '--subnet', '10.251.11.0/24', '--ip-range', '10.251.11.128/26', 'rangenet']);
    try {
      const ip = (args: string[]) => /inet (\S+)\//.exec(s.ok(['run', '--rm', '--network', 'rangenet', ...args, 'busybox', 'ip', '-o', '-4', 'addr', 'show', 'eth0']))?.[1];
      for (let i = 0; i < 2; i++) assert.match(ip([]) ?? '', /^10\.251\.11\.(12[89]|1[3-8]\d|19[01])$/);
      assert.equal(ip(['--ip', '10.251.11.9']), '10.251.11.9');
      assert.deepEqual(JSON.parse(s.ok(['network', 'inspect', 'rangenet']))[0].IPAM.Config, [{ Subnet: '10.251.11.0/24', Gateway: '10.251.11.1', IPRange: '10.251.11.128/26' }]);
      assert.match(s.run(['network', 'create', '--subnet', '10.251.12.0/24', '--ip-range', '10.251.13.0/26', 'rangebad']).stderr, /not inside subnet/);
    } finally {
      s.run(['network', 'rm', 'rangenet']);
    }
  });

  test('network create -o: the bridge name and MTU options are applied (bridge, veths); others are refused', () => {
    const br = `bt${process.pid % 100000}`;
    s.ok(['network', 'create', '-o', `com.docker.network.bridge.name=${br}`, '-o', 'com.docker.network.driver.mtu=1400', 'optnet']);
    try {
      assert.match(spawnSync('ip', ['-o', 'link', 'show', br], { encoding: 'utf8' }).stdout, /mtu 1400/);
      assert.match(s.ok(['run', '--rm', '--network', 'optnet', 'busybox', 'ip', '-o', 'link', 'show', 'eth0']), /mtu 1400/);
      assert.deepEqual(JSON.parse(s.ok(['network', 'inspect', 'optnet']))[0].Options, { 'com.docker.network.bridge.name': br, 'com.docker.network.driver.mtu': '1400' });
      const taken = s.run(['network', 'create', '-o', `com.docker.network.bridge.name=${br}`, 'optnet2']);
      assert.equal(taken.code, 1);
      assert.match(taken.stderr, /bridge name .* is already in use/);
      const icc = s.run(['network', 'create', '-o', 'com.docker.network.bridge.enable_icc=false', 'optnet3']);
      assert.equal(icc.code, 1);
      assert.match(icc.stderr, /network option "com.docker.network.bridge.enable_icc" is not supported/);
      assert.doesNotMatch(s.ok(['network', 'ls', '--format', '{{.Name}}']), /optnet[23]/, 'refused creates left no network');
    } finally {
      s.run(['network', 'rm', 'optnet']);
    }
    assert.equal(fs.existsSync(`/sys/class/net/${br}`), false, 'rm took the named bridge');
  });

  test('--link on the default bridge: the linked container by alias and name in /etc/hosts; it must exist and run', () => {
    s.ok(['run', '-d', '--name', 'ldb', 'busybox', 'sh', '-c', 'while true; do echo db-here | nc -l -p 5432; done']);
    try {
      const out = s.ok(['run', '--rm', '--link', 'ldb:database', 'busybox', 'sh', '-c', 'for i in 1 2 3 4 5 6 7 8 9 10; do nc database 5432 && exit 0; sleep 0.3; done; exit 1']);
      assert.equal(out.trim(), 'db-here');
      s.ok(['create', '--name', 'lweb', '--link', 'ldb', 'busybox', 'true']);
      assert.deepEqual(JSON.parse(s.ok(['inspect', 'lweb']))[0].HostConfig.Links, ['/ldb:/lweb/ldb']);
      s.ok(['stop', '-t', '0', 'ldb']);
      const down = s.run(['start', 'lweb']);
      assert.equal(down.code, 1);
      assert.match(down.stderr, /Cannot link to a non running container: \/ldb AS \/lweb\/ldb/);
      const missing = s.run(['run', '--rm', '--link', 'nosuch', 'busybox', 'true']);
      assert.equal(missing.code, 125);
      assert.match(missing.stderr, /No such container: nosuch/);
    } finally {
      s.run(['rm', '-f', 'ldb', 'lweb']);
    }
  });

  test('containers on a user network reach each other by name and alias over TCP', async () => {
    s.ok(['network', 'create', 'appnet']);
    s.ok(['run', '-d', '--name', 'srv', '--network', 'appnet', '--network-alias', 'db', 'busybox', 'sh', '-c', 'while true; do echo pong | nc -l -p 8080; done']);
    const byName = s.ok(['run', '--rm', '--network', 'appnet', 'busybox', 'sh', '-c', 'for i in 1 2 3 4 5 6 7 8 9 10; do nc srv 8080 && exit 0; sleep 0.3; done; exit 1']);
    assert.equal(byName.trim(), 'pong');
    const byAlias = s.ok(['run', '--rm', '--network', 'appnet', 'busybox', 'nc', 'db', '8080']);
    assert.equal(byAlias.trim(), 'pong');
    // A peer that joins later appears in the running container's /etc/hosts.
    s.ok(['run', '-d', '--name', 'late', '--network', 'appnet', 'busybox', 'sleep', '60']);
    await eventually(() => s.ok(['exec', 'srv', 'cat', '/etc/hosts']).includes('late'));
    const doc = JSON.parse(s.ok(['network', 'inspect', 'appnet'])) as { Containers: Record<string, { Name: string }> }[];
    assert.deepEqual(Object.values(doc[0]?.Containers ?? {}).map((c) => c.Name).sort(), ['late', 'srv']);
    const rm = s.run(['network', 'rm', 'appnet']);
    assert.equal(rm.code, 1);
    assert.match(rm.stderr, /has active endpoints/);
    s.ok(['rm', '-f', 'srv', 'late']);
    s.ok(['network', 'rm', 'appnet']);
  });

  test('a published port answers on 127.0.0.1; berth port lists it; -P picks free ports', async () => {
    const port = await freePort();
    const id = s.ok(['run', '-d', '-p', `${port}:80`, '-v', `${www}:/www:ro`, 'busybox', 'httpd', '-f', '-p', '80', '-h', '/www']).trim();
    assert.equal(await eventuallyGet(port), 'hello from berth\n');
    assert.match(s.ok(['port', id]), new RegExp(`80/tcp -> 0\\.0\\.0\\.0:${port}`));
    const conflict = s.run(['run', '-d', '--name', 'clash', '-p', `${port}:80`, 'busybox', 'true']);
    assert.equal(conflict.code, 125);
    assert.match(conflict.stderr, new RegExp(`Bind for 0\\.0\\.0\\.0:${port} failed: port is already allocated`));
    const clash = JSON.parse(s.ok(['inspect', 'clash'])) as { NetworkSettings: { IPAddress: string } }[];
    assert.equal(clash[0]?.NetworkSettings.IPAddress, '', 'nothing is left attached after the failed start');
    s.ok(['rm', '-f', id, 'clash']);
    const pid = s.ok(['run', '-d', '-P', '--expose', '80', '-v', `${www}:/www:ro`, 'busybox', 'httpd', '-f', '-p', '80', '-h', '/www']).trim();
    const m = /80\/tcp -> 0\.0\.0\.0:(\d+)/.exec(s.ok(['port', pid]));
    assert.ok(m, 'an exposed port was published');
    assert.equal(await eventuallyGet(Number(m[1])), 'hello from berth\n');
    s.ok(['rm', '-f', pid]);
  });

  test('hairpin: a container and its bridge peers reach its published port through the host address', async () => {
    const port = await freePort();
    for (const net of ['bridge', 'hairnet']) {
      if (net !== 'bridge') s.ok(['network', 'create', net]);
      const id = s.ok(['run', '-d', '--network', net, '-p', `${port}:80`, '-v', `${www}:/www:ro`, 'busybox', 'httpd', '-f', '-p', '80', '-h', '/www']).trim();
      assert.equal(await eventuallyGet(port), 'hello from berth\n');
      // The host's address on the container's own bridge (the gateway): DNAT back into the same bridge.
      const gw = (JSON.parse(s.ok(['inspect', id])) as { NetworkSettings: { Networks: Record<string, { Gateway: string }> } }[])[0]?.NetworkSettings.Networks[net]?.Gateway ?? '';
      assert.match(gw, /^\d+\.\d+\.\d+\.\d+$/);
      const get = `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 ${gw} ${port}`;
      assert.match(s.ok(['exec', id, 'sh', '-c', get]), /200 OK[\s\S]*hello from berth\n$/, `${net}: the container reaches its own published port`);
      assert.match(s.ok(['run', '--rm', '--network', net, 'busybox', 'sh', '-c', get]), /200 OK[\s\S]*hello from berth\n$/, `${net}: a peer on the bridge reaches it`);
      s.ok(['rm', '-f', id]);
    }
    s.ok(['network', 'rm', 'hairnet']);
  });

  test('IPv6: a --ipv6 network gives containers v6 addresses; they reach each other over v6 by name', () => {
    const fwd = () => fs.readFileSync('/proc/sys/net/ipv6/conf/all/forwarding', 'utf8');
    const forwardingBefore = fwd();
    // A unique local subnet of the test's own (fd00::/8); nothing leaves the host.
    s.ok(['network', 'create', '--ipv6', '--subnet', 'fd42:6265:7274:9a::/64', 'v6net']);
    const net = (JSON.parse(s.ok(['network', 'inspect', 'v6net'])) as { Id: string; EnableIPv6: boolean; IPAM: { Config: { Subnet: string; Gateway: string }[] } }[])[0];
    assert.equal(net?.EnableIPv6, true);
    assert.deepEqual(net?.IPAM.Config[1], { Subnet: 'fd42:6265:7274:9a::/64', Gateway: 'fd42:6265:7274:9a::1' });
    assert.match(net?.IPAM.Config[0]?.Subnet ?? '', /^\d+\.\d+\.\d+\.\d+\/\d+$/, 'dual stack: an IPv4 subnet too');
    s.ok(['run', '-d', '--name', 'srv6', '--network', 'v6net', 'busybox', 'sh', '-c', 'while true; do echo pong6 | nc -l -p 8080; done']);
    type Doc = { NetworkSettings: { GlobalIPv6Address: string; GlobalIPv6PrefixLen: number; Networks: Record<string, { GlobalIPv6Address: string; IPv6Gateway: string }> } };
    const doc = (JSON.parse(s.ok(['inspect', 'srv6'])) as Doc[])[0];
    const v6 = doc?.NetworkSettings.Networks.v6net?.GlobalIPv6Address ?? '';
    assert.match(v6, /^fd42:6265:7274:9a::[0-9a-f]+$/);
    assert.equal(doc?.NetworkSettings.GlobalIPv6Address, v6);
    assert.equal(doc?.NetworkSettings.GlobalIPv6PrefixLen, 64);
    assert.equal(doc?.NetworkSettings.Networks.v6net?.IPv6Gateway, 'fd42:6265:7274:9a::1');
    const members = (JSON.parse(s.ok(['network', 'inspect', 'v6net'])) as { Containers: Record<string, { IPv6Address: string }> }[])[0]?.Containers ?? {};
    assert.deepEqual(Object.values(members).map((m) => m.IPv6Address), [`${v6}/64`]);
    assert.match(s.ok(['system', 'check']), /store is consistent/, 'the IPv6 reservation belongs to a running container');
    // The client resolves srv6 to its IPv6 address through /etc/hosts, then talks TCP over IPv6.
    const out = s.ok([
      'run', '--rm', '--network', 'v6net', 'busybox', 'sh', '-c',
      'ip -6 addr show dev eth0 scope global | grep -o "inet6 [0-9a-f:]*"; a=$(ping -6 -c 1 -W 2 srv6 | sed -n "s/^PING srv6 (\\(.*\\)).*/\\1/p"); echo "resolved $a"; for i in 1 2 3 4 5 6 7 8 9 10; do echo hi | nc "$a" 8080 && exit 0; sleep 0.3; done; exit 1',
    ]);
    assert.match(out, /^inet6 fd42:6265:7274:9a::[0-9a-f]+$/m, 'the client has an address of the subnet');
    assert.match(out, new RegExp(`^resolved ${v6}$`, 'm'));
    assert.match(out, /^pong6$/m);
    // Errors: an IPv6 subnet without --ipv6, an overlapping IPv6 subnet; nothing is created.
    const no6 = s.run(['network', 'create', '--subnet', 'fd42:6265:7274:9b::/64', 'bad6']);
    assert.equal(no6.code, 1);
    assert.match(no6.stderr, /needs --ipv6/);
    const ov = s.run(['network', 'create', '--ipv6', '--subnet', 'fd42:6265:7274:9a:8000::/72', 'bad6']);
    assert.equal(ov.code, 1);
    assert.match(ov.stderr, /overlaps fd42:6265:7274:9a::\/64 of network v6net/);
    assert.equal(s.run(['network', 'inspect', 'bad6']).code, 1);
    // --ipv6 alone picks a unique local /64.
    s.ok(['network', 'create', '--ipv6', 'auto6']);
    const auto = (JSON.parse(s.ok(['network', 'inspect', 'auto6'])) as { IPAM: { Config: { Subnet: string }[] } }[])[0];
    assert.match(auto?.IPAM.Config[1]?.Subnet ?? '', /^fd[0-9a-f]{2}:[0-9a-f]{1,4}:[0-9a-f]{1,4}:[0-9a-f]{1,4}::\/64$/);
    s.ok(['network', 'rm', 'auto6']);
    // Teardown: addresses released, ip6tables rules gone with the network, host forwarding untouched.
    s.ok(['rm', '-f', 'srv6']);
    const ipam = path.join(s.runroot, 'cni', 'networks', 'v6net');
    assert.deepEqual(fs.readdirSync(ipam).filter((f) => f.includes(':') || /^\d+\.\d+\.\d+\.\d+$/.test(f)), [], 'no reservations left');
    const bridge = `br-${net?.Id.slice(0, 12)}`;
    assert.match(spawnSync('ip6tables-save').stdout.toString(), new RegExp(`berth-net:${bridge}`));
    s.ok(['network', 'rm', 'v6net']);
    assert.doesNotMatch(spawnSync('ip6tables-save').stdout.toString(), new RegExp(`berth-net:${bridge}`));
    assert.equal(fwd(), forwardingBefore, 'net.ipv6.conf.all.forwarding is not changed');
  });

  test('--ip6 and network connect --ip6: a fixed IPv6 address, shown in inspect; docker\'s errors; nothing half set up', () => {
    // A unique local subnet of this test's own.
    s.ok(['network', 'create', '--ipv6', '--subnet', 'fd5e:3e01:6a1::/64', 'fix6']);
    s.ok(['network', 'create', 'only4']);
    type Ep = { IPAMConfig: { IPv4Address?: string; IPv6Address?: string } | null; GlobalIPv6Address: string };
    const ep = (name: string) => (JSON.parse(s.ok(['inspect', name])) as { NetworkSettings: { GlobalIPv6Address: string; Networks: Record<string, Ep> } }[])[0]?.NetworkSettings;
    s.ok(['run', '-d', '--name', 'fixed6', '--network', 'fix6', '--ip6', 'fd5e:3e01:6a1:0::10', 'busybox', 'sleep', '60']);
    const st = ep('fixed6');
    assert.equal(st?.GlobalIPv6Address, 'fd5e:3e01:6a1::10', 'the address in RFC 5952 form');
    assert.deepEqual(st?.Networks.fix6?.IPAMConfig, { IPv6Address: 'fd5e:3e01:6a1::10' });
    assert.match(s.ok(['exec', 'fixed6', 'ip', '-6', 'addr', 'show', 'eth0']), /inet6 fd5e:3e01:6a1::10\/64 scope global/);
    const ipam = path.join(s.runroot, 'cni', 'networks', 'fix6');
    const reserved = () => fs.readdirSync(ipam).filter((f) => f.includes(':') || /^\d+\.\d+\.\d+\.\d+$/.test(f)).sort();
    const before = reserved();
    const fails: [string[], RegExp][] = [
      [['--network', 'fix6', '--ip6', 'fd5e:3e01:6a1::10'], /Address already in use: fd5e:3e01:6a1::10/],
      [['--network', 'fix6', '--ip6', 'fd5e:3e01:6a2::10'], /no configured subnet or ip-range contain the IP address fd5e:3e01:6a2::10/],
      [['--network', 'only4', '--ip6', 'fd5e:3e01:6a1::11'], /user specified IP address is supported only when connecting to networks with user configured subnets/],
      [['--ip6', 'fd5e:3e01:6a1::11'], /user specified IP address is supported on user defined networks only/],
      [['--network', 'fix6', '--ip6', '10.0.0.1'], /invalid IPv6 address: 10\.0\.0\.1/],
    ];
    for (const [flags, msg] of fails) {
      const r = s.run(['run', '-d', '--name', 'bad6', ...flags, 'busybox', 'sleep', '60']);
      assert.equal(r.code, 125, flags.join(' '));
      assert.match(r.stderr, msg);
      s.run(['rm', '-f', 'bad6']);
    }
    assert.deepEqual(reserved(), before, 'no address is left reserved by the failed runs');
    // connect --ip6 to a running container: the new interface has the address; a taken address leaves nothing behind.
    s.ok(['run', '-d', '--name', 'joiner', 'busybox', 'sleep', '60']);
    const taken = s.run(['network', 'connect', '--ip6', 'fd5e:3e01:6a1::10', 'fix6', 'joiner']);
    assert.equal(taken.code, 1);
    assert.match(taken.stderr, /Address already in use/);
    assert.doesNotMatch(s.ok(['exec', 'joiner', 'ip', 'link']), /eth1/, 'the refused interface was removed');
    assert.deepEqual(Object.keys(ep('joiner')?.Networks ?? {}), ['bridge']);
    s.ok(['network', 'connect', '--ip6', 'fd5e:3e01:6a1::20', 'fix6', 'joiner']);
    assert.match(s.ok(['exec', 'joiner', 'ip', '-6', 'addr', 'show', 'eth1']), /inet6 fd5e:3e01:6a1::20\/64 scope global/);
    assert.deepEqual(ep('joiner')?.Networks.fix6?.IPAMConfig, { IPv6Address: 'fd5e:3e01:6a1::20' });
    // The address is kept in the configuration: the container gets it again after a restart.
    s.ok(['restart', '-t', '0', 'joiner']);
    assert.equal(ep('joiner')?.Networks.fix6?.GlobalIPv6Address, 'fd5e:3e01:6a1::20');
    const wrongNet = s.run(['network', 'connect', '--ip6', 'fd5e:3e01:6a1::21', 'only4', 'joiner']);
    assert.match(wrongNet.stderr, /user configured subnets/);
    s.ok(['rm', '-f', 'fixed6', 'joiner']);
    assert.deepEqual(reserved(), [], 'addresses released');
    s.ok(['network', 'rm', 'fix6', 'only4']);
  });

  test('IPv6 publishing: -p PORT on an --ipv6 network answers on 127.0.0.1 and [::1]; -p [::1]:P and ::1:P; port lists both families; nothing left after rm', async () => {
    const [p1, p2, p3, p4] = [await freePort(), await freePort(), await freePort(), await freePort()];
    s.ok(['network', 'create', '--ipv6', '--subnet', 'fd5e:3e01:6b1::/64', 'pub6']);
    const httpd = ['-v', `${www}:/www:ro`, 'busybox', 'httpd', '-f', '-p', '80', '-h', '/www'];
    const both = s.ok(['run', '-d', '--network', 'pub6', '-p', `${p1}:80`, ...httpd]).trim();
    assert.equal(s.ok(['port', both]), `80/tcp -> 0.0.0.0:${p1}\n80/tcp -> [::]:${p1}\n`, 'docker\'s two lines');
    assert.equal(await eventuallyGet(p1), 'hello from berth\n');
    assert.equal(await eventuallyGet(p1, '::1'), 'hello from berth\n', '[::1] answers (through the port proxy)');
    type Ports = Record<string, { HostIp: string; HostPort: string }[]>;
    const ports = (JSON.parse(s.ok(['inspect', both])) as { NetworkSettings: { Ports: Ports } }[])[0]?.NetworkSettings.Ports;
    assert.deepEqual(ports?.['80/tcp'], [{ HostIp: '0.0.0.0', HostPort: String(p1) }, { HostIp: '::', HostPort: String(p1) }]);
    // The non-loopback side of [::] is ip6tables DNAT to the container's IPv6 address.
    const short = both.slice(0, 12);
    assert.match(spawnSync('ip6tables-save', ['-t', 'nat']).stdout.toString(), new RegExp(`-A BERTH-DN-${short} -p tcp -m tcp --dport ${p1} -j DNAT --to-destination \\[fd5e:3e01:6b1::[0-9a-f]+\\]:80`));
    // Both families are allocated: a second container cannot take the port.
    const clash = s.run(['run', '-d', '--name', 'clash6', '--network', 'pub6', '-p', `${p1}:80`, 'busybox', 'true']);
    assert.equal(clash.code, 125);
    assert.match(clash.stderr, /port is already allocated/);
    s.ok(['rm', '-f', 'clash6']);
    // Loopback-only IPv6 bindings, bracketed and bare; and one on a container without IPv6 (default bridge), relayed to its IPv4 address.
    const lo = s.ok(['run', '-d', '--network', 'pub6', '-p', `[::1]:${p2}:80`, '-p', `::1:${p3}:80`, ...httpd]).trim();
    assert.equal(s.ok(['port', lo]), `80/tcp -> [::1]:${p2}\n80/tcp -> [::1]:${p3}\n`);
    assert.equal(await eventuallyGet(p2, '::1'), 'hello from berth\n');
    assert.equal(await eventuallyGet(p3, '::1'), 'hello from berth\n');
    await assert.rejects(httpGet(p2, '127.0.0.1'), 'not published on IPv4');
    const v4only = s.ok(['run', '-d', '-p', `[::1]:${p4}:80`, ...httpd]).trim();
    assert.equal(await eventuallyGet(p4, '::1'), 'hello from berth\n');
    // A host program holding [::1]:PORT: the [::] half of a default binding is refused, nothing is left running.
    const holder = net.createServer().listen({ host: '::1', port: await freePort(), ipv6Only: true });
    await new Promise((r) => holder.once('listening', r));
    const held = (holder.address() as net.AddressInfo).port;
    const taken = s.run(['run', '-d', '--name', 'taken6', '--network', 'pub6', '-p', `${held}:80`, 'busybox', 'sleep', '60']);
    holder.close();
    assert.equal(taken.code, 125);
    assert.match(taken.stderr, new RegExp(`Bind for \\[::\\]:${held} failed: port is already allocated`));
    s.ok(['rm', '-f', 'taken6']);
    assert.equal(proxiesOf(s.root).length, 3, 'one proxy per container with proxied ports');
    // rm: proxies stop, ip6tables chains go.
    s.ok(['rm', '-f', both, lo, v4only]);
    await eventually(() => proxiesOf(s.root).length === 0);
    assert.doesNotMatch(spawnSync('ip6tables-save', ['-t', 'nat']).stdout.toString(), new RegExp(`BERTH-DN-${short}`));
    await assert.rejects(httpGet(p1, '::1'));
    s.ok(['network', 'rm', 'pub6']);
  });

  test('the port proxy relays TCP and UDP from [::1] and ends by itself when the namespace goes (a killed berth)', async () => {
    // The proxy process alone, relaying to servers of this test on 127.0.0.1.
    const tcp = net.createServer((c) => c.end('tcp-echo\n')).listen(0, '127.0.0.1');
    const udp = dgram.createSocket('udp4');
    udp.on('message', (m, from) => udp.send(Buffer.concat([Buffer.from('udp:'), m]), from.port, from.address));
    await Promise.all([new Promise((r) => tcp.once('listening', r)), new Promise<void>((r) => udp.bind(0, '127.0.0.1', () => r()))]);
    const [pt, pu] = [await freePort(), await freePort()];
    const ns = path.join(s.dir, 'fake-netns');
    fs.writeFileSync(ns, '');
    const id = 'e'.repeat(64);
    const child = s.spawn(['container', 'port-proxy', id, ns, `tcp/::1/${pt}/127.0.0.1/${(tcp.address() as net.AddressInfo).port}`, `udp/::1/${pu}/127.0.0.1/${(udp.address() as net.AddressInfo).port}`]);
    const exited = new Promise<number | null>((r) => child.once('exit', r));
    let out = '';
    await eventually(() => {
      out += child.stdout.read()?.toString() ?? '';
      return out.startsWith('ready\n');
    });
    const got = await new Promise<string>((resolve, reject) => {
      const c = net.connect({ host: '::1', port: pt });
      let d = '';
      c.on('data', (b) => (d += b.toString()));
      c.on('end', () => resolve(d));
      c.on('error', reject);
    });
    assert.equal(got, 'tcp-echo\n');
    const client = dgram.createSocket('udp6');
    const reply = new Promise<string>((r) => client.once('message', (m) => r(m.toString())));
    client.send('ping', pu, '::1');
    assert.equal(await reply, 'udp:ping');
    client.close();
    // A second proxy for the same port reports the conflict.
    const again = s.run(['container', 'port-proxy', id, ns, `tcp/::1/${pt}/127.0.0.1/1`]);
    assert.equal(again.code, 1);
    assert.equal(again.stdout, `EADDRINUSE [::1]:${pt}\n`);
    fs.rmSync(ns);
    assert.equal(await exited, 0, 'the proxy noticed the namespace is gone and ended');
    tcp.close();
    udp.close();
  });

  test('the predefined host and none networks: listed, inspected, never removed, connected or pruned', () => {
    const ls = s.ok(['network', 'ls', '--format', '{{.Name}} {{.Driver}}']).trim().split('\n');
    for (const want of ['bridge bridge', 'host host', 'none null']) assert.ok(ls.includes(want), `${want} in ${JSON.stringify(ls)}`);
    assert.equal(s.ok(['network', 'ls', '-q', '--filter', 'type=builtin']).trim().split('\n').length, 3);
    const hostId = s.ok(['network', 'inspect', '-f', '{{.Id}}', 'host']).trim();
    assert.match(hostId, /^[0-9a-f]{64}$/);
    assert.equal(s.ok(['network', 'inspect', '-f', '{{.Name}}', hostId.slice(0, 12)]).trim(), 'host', 'found by its short id');
    assert.equal(s.ok(['network', 'inspect', '-f', '{{.Id}}', 'host']).trim(), hostId, 'the id stays the same');
    const none = (JSON.parse(s.ok(['network', 'inspect', 'none'])) as { Driver: string; IPAM: { Config: unknown[] }; Options: object }[])[0];
    assert.deepEqual([none?.Driver, none?.IPAM.Config, none?.Options], ['null', [], {}]);
    const id = s.ok(['run', '-d', '--network', 'host', '--name', 'on-host', 'busybox', 'sleep', '60']).trim();
    const plain = s.ok(['create', '--name', 'plain', 'busybox', 'true']).trim();
    try {
      assert.equal(s.ok(['network', 'inspect', '-f', '{{range $k, $v := .Containers}}{{$k}} {{$v.Name}}{{end}}', 'host']).trim(), `${id} on-host`);
      const eps = JSON.parse(s.ok(['inspect', '-f', '{{json .NetworkSettings.Networks}}', id])) as Record<string, { NetworkID: string; EndpointID: string; IPAddress: string }>;
      assert.deepEqual(Object.keys(eps), ['host'], 'docker shows the host network in the container');
      assert.equal(eps.host?.NetworkID, hostId);
      assert.match(eps.host?.EndpointID ?? '', /^[0-9a-f]{64}$/);
      assert.equal(eps.host?.IPAddress, '');
      for (const n of ['host', 'none']) {
        const rm = s.run(['network', 'rm', n]);
        assert.equal(rm.code, 1);
        assert.match(rm.stderr, new RegExp(`${n} is a pre-defined network and cannot be removed`));
      }
      const ch = s.run(['network', 'connect', 'host', 'plain']);
      assert.equal(ch.code, 1);
      assert.match(ch.stderr, /container cannot be disconnected from host network or connected to host network/);
      const cn = s.run(['network', 'connect', 'none', 'plain']);
      assert.equal(cn.code, 1);
      assert.match(cn.stderr, /private \(none\) mode/);
      assert.equal(s.ok(['inspect', '-f', '{{json .NetworkSettings.Networks}}', plain]).includes('"none"'), false, 'nothing half-connected');
      s.ok(['network', 'prune', '-f']);
      assert.equal(s.ok(['network', 'ls', '-q', '--filter', 'type=builtin']).trim().split('\n').length, 3, 'prune keeps them');
    } finally {
      s.ok(['rm', '-f', id, plain]);
    }
  });

  test('errors: overlapping subnet, unknown network', () => {
    s.ok(['network', 'create', '--subnet', '10.93.250.0/24', 'ov1']);
    const ov = s.run(['network', 'create', '--subnet', '10.93.250.128/25', 'ov2']);
    assert.equal(ov.code, 1);
    assert.match(ov.stderr, /Pool overlaps with other one on this address space/);
    s.ok(['network', 'rm', 'ov1']);
    const un = s.run(['run', '--rm', '--network', 'nosuchnet', 'busybox', 'true']);
    assert.equal(un.code, 125);
    assert.match(un.stderr, /network nosuchnet not found/);
    assert.equal(s.ok(['ps', '-aq']).trim(), '');
  });

  test('nothing leaks after rm: namespace, veth, iptables rules, address reservation', async () => {
    const port = await freePort();
    s.ok(['network', 'create', 'leaknet']);
    const id = s.ok(['run', '-d', '--network', 'leaknet', '-p', `${port}:80`, 'busybox', 'sleep', '60']).trim();
    const short = id.slice(0, 12);
    const ns = path.join(s.runroot, 'netns', id);
    assert.ok(fs.existsSync(ns));
    const ipam = path.join(s.runroot, 'cni', 'networks', 'leaknet');
    const reserved = () => fs.readdirSync(ipam).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f));
    assert.equal(reserved().length, 1);
    assert.match(spawnSync('iptables-save', ['-t', 'nat']).stdout.toString(), new RegExp(`BERTH-DN-${short}`));
    const bridge = `br-${(JSON.parse(s.ok(['network', 'inspect', 'leaknet'])) as { Id: string }[])[0]?.Id.slice(0, 12)}`;
    assert.ok(fs.readdirSync(`/sys/class/net/${bridge}/brif`).length === 1, 'one veth on the bridge');
    s.ok(['rm', '-f', id]);
    assert.ok(!fs.existsSync(ns), 'namespace removed');
    assert.deepEqual(reserved(), [], 'address released');
    assert.doesNotMatch(spawnSync('iptables-save', ['-t', 'nat']).stdout.toString(), new RegExp(`BERTH-DN-${short}`));
    await eventually(() => fs.readdirSync(`/sys/class/net/${bridge}/brif`).length === 0, 10_000);
    s.ok(['network', 'rm', 'leaknet']);
    assert.ok(!fs.existsSync(`/sys/class/net/${bridge}`), 'bridge removed with the network');
    assert.doesNotMatch(spawnSync('iptables-save').stdout.toString(), new RegExp(`berth-net:${bridge}`));
    assert.match(s.ok(['system', 'check']), /store is consistent/);
  });

  test('system check --repair releases a namespace left by a killed berth', () => {
    // Simulate the leftovers of a crash: a reservation and a namespace of an unknown container.
    const id = s.ok(['run', '-d', 'busybox', 'sleep', '60']).trim();
    const ns = path.join(s.runroot, 'netns', id);
    const copy = path.join(s.runroot, 'netns', 'f'.repeat(64));
    spawnSync('touch', [copy]);
    spawnSync('mount', ['--bind', ns, copy]);
    s.ok(['rm', '-f', id]);
    const r = s.run(['system', 'check']);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /network namespace of unknown container ffffffffffff/);
    s.ok(['system', 'check', '--repair']);
    assert.ok(!fs.existsSync(copy));
    assert.match(s.ok(['system', 'check']), /store is consistent/);
  });
});
