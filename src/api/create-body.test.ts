import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseArgs } from '../cli/args.js';
import { COMMANDS } from '../cli/commands.js';
import { createOptionsFromFlags } from '../cli/run-options.js';
import { createBodyFromOptions, createOptionsFromBody } from './create-body.js';

const run = COMMANDS.find((c) => c.path.join(' ') === 'container run');

/** What remote mode sends for `berth run ARGV`, read back by the service: must equal the local options. */
function roundTrip(argv: string[]) {
  if (!run) throw new Error('no run command');
  const local = createOptionsFromFlags(parseArgs(argv, run.flags, { interspersed: false }));
  const { body, name } = createBodyFromOptions(local);
  const remote = createOptionsFromBody(JSON.parse(JSON.stringify(body)) as Record<string, unknown>, name);
  return { local: withoutEmpty(local), remote: withoutEmpty(remote) };
}

/** Empty lists and maps mean "not set" on both sides. */
function withoutEmpty(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(withoutEmpty);
  if (v === null || typeof v !== 'object') return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) {
    const y = withoutEmpty(x);
    if (y === undefined || (Array.isArray(y) && y.length === 0) || (typeof y === 'object' && y !== null && !Array.isArray(y) && Object.keys(y).length === 0)) continue;
    out[k] = y;
  }
  return out;
}

test('run flags survive the trip through the create body (remote mode sends what local mode uses)', () => {
  const cases = [
    ['busybox'],
    ['--name', 'web', '-it', '-e', 'A=1', '-w', '/tmp', '-u', '1000:1000', '--entrypoint', 'sh', 'busybox', '-c', 'echo hi'],
    ['--entrypoint', '', 'busybox', 'true'],
    ['-p', '127.0.0.1:8080:80', '-p', '9000:9000/udp', '-p', '81', '-P', '--expose', '7000', 'busybox'],
    ['-p', '[::1]:8080:80', '-p', '::1:8081:81', '-p', '[::]::82/udp', 'busybox'],
    ['-v', '/tmp:/host:ro', '-v', 'data:/data', '-v', '/anon', '--mount', 'type=tmpfs,target=/t,tmpfs-size=1m,tmpfs-mode=1770', '--mount', 'type=volume,source=v2,target=/v2,volume-nocopy', '--tmpfs', '/run:size=64k', 'busybox'],
    ['--mount', 'type=volume,src=tv,dst=/t,volume-driver=local,volume-opt=type=tmpfs,volume-opt=device=tmpfs,"volume-opt=o=size=1m,uid=7",volume-label=a=b', '--mount', 'type=volume,dst=/anon,volume-opt=type=tmpfs,volume-opt=device=tmpfs', 'busybox'],
    ['-m', '64m', '--memory-swap', '128m', '--cpus', '1.5', '--cpu-shares', '512', '--cpuset-cpus', '0', '--pids-limit', '50', '--ulimit', 'nofile=100:200', '--shm-size', '32m', 'busybox'],
    ['--cap-add', 'NET_ADMIN', '--cap-drop', 'MKNOD', '--privileged', '--security-opt', 'no-new-privileges', '--read-only', '--init', '--sysctl', 'net.ipv4.ip_forward=1', 'busybox'],
    ['--restart', 'on-failure:3', '--stop-signal', 'SIGUSR1', '--stop-timeout', '3', '-l', 'a=b', '--hostname', 'h', '--domainname', 'example.org', 'busybox'],
    ['--network', 'net1', '--network-alias', 'db', '--ip', '10.1.2.3', '--ip6', 'fd00:1::3', '--dns', '1.1.1.1', '--dns-search', 'x.org', '--dns-option', 'ndots:2', '--add-host', 'a:1.2.3.4', 'busybox'],
    ['--health-cmd', 'true', '--health-interval', '2s', '--health-retries', '2', '--log-opt', 'max-size=1m', '--log-opt', 'max-file=2', '--volumes-from', 'other', 'busybox'],
    ['--no-healthcheck', '-i', '--rm', 'busybox', 'cat'],
  ];
  for (const argv of cases) {
    const { local, remote } = roundTrip(argv);
    assert.deepEqual(remote, local, argv.join(' '));
  }
});

test('HostConfig.ConsoleSize: [height, width] both ways; [0, 0] is unset; a wrong shape is refused', () => {
  const o = { image: 'busybox', tty: true, consoleSize: { rows: 41, cols: 103 } };
  const { body } = createBodyFromOptions(o);
  assert.deepEqual((body.HostConfig as Record<string, unknown>).ConsoleSize, [41, 103]);
  assert.deepEqual(createOptionsFromBody(body, undefined).consoleSize, { rows: 41, cols: 103 });
  assert.equal(createOptionsFromBody({ Image: 'busybox', HostConfig: { ConsoleSize: [0, 0] } }, undefined).consoleSize, undefined);
  for (const bad of [[24], [24, -1], ['24', '80'], 7]) assert.throws(() => createOptionsFromBody({ Image: 'busybox', HostConfig: { ConsoleSize: bad } }, undefined), /HostConfig\.ConsoleSize/);
});
