import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isBerthError } from '../errors.js';
import {
  ALL_CAPABILITIES,
  DEFAULT_MASKED_PATHS,
  DEFAULT_READONLY_PATHS,
  type HostFacts,
  RLIM_INFINITY,
  type SpecInput,
  buildSpec,
  cgroupResources,
  capabilityMask,
  clampRlimits,
  parseDeviceCgroupRule,
  parseProcLimits,
  resolveCapabilities,
  specToJson,
} from './spec.js';

/** This machine's situation: every capability but CAP_SYS_RESOURCE, nofile hard 20000. */
const HOST: HostFacts = {
  rlimitHard: { RLIMIT_NOFILE: 20000, RLIMIT_NPROC: 96365, RLIMIT_CORE: 'unlimited', RLIMIT_STACK: 'unlimited' },
  capBounding: ALL_CAPABILITIES.filter((c) => c !== 'CAP_SYS_RESOURCE'),
  swapAccounting: true,
};

const SECCOMP = { defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW' }] };

function input(over: Partial<SpecInput> = {}): SpecInput {
  return {
    id: 'c1',
    rootfs: '/var/lib/berth/c1/merged',
    args: ['sh'],
    env: ['PATH=/bin'],
    cwd: '/',
    terminal: false,
    user: { uid: 0, gid: 0, additionalGids: [] },
    hostname: 'c1host',
    seccomp: SECCOMP,
    mounts: [],
    namespaces: {},
    resources: {},
    cgroupsPath: '/berth/c1',
    ...over,
  };
}

const rejectsWith = (code: string) => (e: unknown) => isBerthError(e) && e.code === code;

describe('capabilities', () => {
  it('defaults to Docker set (CapEff 0xa80425fb), inheritable and ambient empty', () => {
    const s = buildSpec(input(), HOST);
    assert.equal(capabilityMask(s.process.capabilities.bounding), 0xa80425fbn);
    assert.deepEqual(s.process.capabilities.effective, s.process.capabilities.bounding);
    assert.deepEqual(s.process.capabilities.permitted, s.process.capabilities.bounding);
    assert.deepEqual(s.process.capabilities.inheritable, []);
    assert.deepEqual(s.process.capabilities.ambient, []);
  });
  it('accepts names with or without CAP_, any case', () => {
    const caps = resolveCapabilities({ capAdd: ['net_admin', 'CAP_Sys_Ptrace'], capDrop: ['cap_net_raw', 'MKNOD'] }, HOST);
    assert.ok(caps.includes('CAP_NET_ADMIN') && caps.includes('CAP_SYS_PTRACE'));
    assert.ok(!caps.includes('CAP_NET_RAW') && !caps.includes('CAP_MKNOD'));
  });
  it('--cap-drop ALL keeps only the added ones', () => {
    assert.deepEqual(resolveCapabilities({ capDrop: ['ALL'], capAdd: ['chown', 'kill'] }, HOST), ['CAP_CHOWN', 'CAP_KILL']);
    assert.deepEqual(resolveCapabilities({ capDrop: ['all'] }, HOST), []);
  });
  it('--cap-add ALL gives every capability Berth holds, minus the dropped ones', () => {
    const caps = resolveCapabilities({ capAdd: ['ALL'], capDrop: ['MKNOD'] }, HOST);
    assert.equal(caps.length, ALL_CAPABILITIES.length - 2);
    assert.ok(!caps.includes('CAP_MKNOD') && !caps.includes('CAP_SYS_RESOURCE'));
  });
  it('unknown capability -> invalid_argument', () => {
    assert.throws(() => buildSpec(input({ capAdd: ['NOT_A_CAP'] }), HOST), rejectsWith('invalid_argument'));
    assert.throws(() => buildSpec(input({ capDrop: ['CAP_FOO'] }), HOST), rejectsWith('invalid_argument'));
  });
  it('adding a capability Berth lacks -> permission_denied', () => {
    assert.throws(() => buildSpec(input({ capAdd: ['SYS_RESOURCE'] }), HOST), rejectsWith('permission_denied'));
  });
});

describe('privileged', () => {
  it('all caps Berth holds, no seccomp, no masked or readonly paths, all devices, rw /sys', () => {
    const s = buildSpec(input({ privileged: true, seccomp: undefined }), HOST);
    assert.deepEqual(s.process.capabilities.bounding, HOST.capBounding);
    assert.equal(s.linux.seccomp, undefined);
    assert.equal(s.linux.maskedPaths, undefined);
    assert.equal(s.linux.readonlyPaths, undefined);
    assert.deepEqual(s.linux.resources.devices, [{ allow: true, access: 'rwm' }]);
    const sys = s.mounts.find((m) => m.destination === '/sys');
    assert.ok(sys && !sys.options?.includes('ro'));
  });
});

describe('defaults', () => {
  it('masked and readonly paths, device rules, mounts as Docker', () => {
    const s = buildSpec(input(), HOST);
    assert.deepEqual(s.linux.maskedPaths, [...DEFAULT_MASKED_PATHS]);
    assert.deepEqual(s.linux.readonlyPaths, [...DEFAULT_READONLY_PATHS]);
    assert.ok(s.linux.maskedPaths?.includes('/sys/devices/virtual/powercap'));
    assert.deepEqual(s.linux.resources.devices?.[0], { allow: false, access: 'rwm' });
    const allowed = s.linux.resources.devices?.filter((d) => d.allow && d.access === 'rwm').map((d) => `${d.major}:${d.minor ?? '*'}`);
    assert.deepEqual(allowed, ['1:3', '1:5', '1:7', '1:8', '1:9', '5:0', '5:1', '5:2', '136:*']);
    assert.deepEqual(s.mounts.map((m) => m.destination), ['/proc', '/dev', '/dev/pts', '/sys', '/sys/fs/cgroup', '/dev/mqueue', '/dev/shm']);
    const byDest = Object.fromEntries(s.mounts.map((m) => [m.destination, m]));
    assert.ok(byDest['/dev'].options?.includes('size=65536k') && byDest['/dev'].options?.includes('mode=755'));
    assert.deepEqual(byDest['/dev/pts'].options, ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5']);
    assert.ok(byDest['/dev/shm'].options?.includes('size=67108864'));
    assert.ok(byDest['/sys'].options?.includes('ro') && byDest['/sys/fs/cgroup'].options?.includes('ro'));
    assert.equal(byDest['/sys/fs/cgroup'].type, 'cgroup');
    assert.equal(s.process.rlimits, undefined, 'no rlimits: inherit');
    assert.equal(s.process.oomScoreAdj, undefined);
    assert.equal(s.hostname, 'c1host');
    assert.deepEqual(s.linux.namespaces.map((n) => n.type), ['mount', 'pid', 'network', 'ipc', 'uts']);
    assert.equal(s.linux.cgroupsPath, '/berth/c1');
  });
  it('requires a seccomp filter unless unconfined or privileged', () => {
    assert.throws(() => buildSpec(input({ seccomp: undefined }), HOST), rejectsWith('invalid_argument'));
    assert.equal(buildSpec(input({ seccomp: 'unconfined' }), HOST).linux.seccomp, undefined);
    assert.deepEqual(buildSpec(input(), HOST).linux.seccomp, SECCOMP);
  });
  it('oomScoreAdj, noNewPrivileges, umask, readonly rootfs only when asked', () => {
    const s = buildSpec(input({ oomScoreAdj: 500, noNewPrivileges: true, readonlyRootfs: true, user: { uid: 1, gid: 2, additionalGids: [3], umask: 0o22 } }), HOST);
    assert.equal(s.process.oomScoreAdj, 500);
    assert.equal(s.process.noNewPrivileges, true);
    assert.equal(s.root.readonly, true);
    assert.deepEqual(s.process.user, { uid: 1, gid: 2, umask: 0o22, additionalGids: [3] });
  });
});

describe('mounts', () => {
  it('a user mount on a default destination replaces it; others sorted parents first', () => {
    const s = buildSpec(
      input({
        mounts: [
          { destination: '/data/sub', type: 'bind', source: '/h/b', options: ['rbind'] },
          { destination: '/dev/shm/', type: 'bind', source: '/h/shm', options: ['rbind'] },
          { destination: '/data', type: 'bind', source: '/h/a', options: ['rbind'] },
        ],
        tmpfs: { '/run': 'size=1m,exec' },
      }),
      HOST,
    );
    const dests = s.mounts.map((m) => m.destination);
    assert.equal(dests.filter((d) => d === '/dev/shm').length, 1);
    assert.equal(s.mounts.find((m) => m.destination === '/dev/shm')?.source, '/h/shm');
    assert.ok(dests.indexOf('/data') < dests.indexOf('/data/sub'));
    const run = s.mounts.find((m) => m.destination === '/run');
    assert.deepEqual(run?.options, ['nosuid', 'nodev', 'size=1m', 'exec']);
  });
  it('duplicate or relative destinations -> invalid_argument', () => {
    const m = { destination: '/x', type: 'bind', source: '/a', options: ['rbind'] };
    assert.throws(() => buildSpec(input({ mounts: [m, { ...m }] }), HOST), rejectsWith('invalid_argument'));
    assert.throws(() => buildSpec(input({ mounts: [{ ...m, destination: 'x' }] }), HOST), rejectsWith('invalid_argument'));
  });
  it('--ipc host shares /dev/shm and the host IPC namespace (its message queues through an mqueue mount)', () => {
    const s = buildSpec(input({ namespaces: { ipc: 'host' } }), HOST);
    assert.equal(s.mounts.find((m) => m.destination === '/dev/shm')?.source, '/dev/shm');
    assert.equal(s.mounts.find((m) => m.destination === '/dev/mqueue')?.type, 'mqueue');
    assert.ok(!s.linux.namespaces.some((n) => n.type === 'ipc'));
  });
});

describe('namespaces', () => {
  it('--pid / --ipc container:NAME join those namespaces by path', () => {
    const s = buildSpec(input({ namespaces: { pid: { path: '/proc/42/ns/pid' }, ipc: { path: '/proc/42/ns/ipc' } } }), HOST);
    assert.deepEqual(s.linux.namespaces.find((n) => n.type === 'pid'), { type: 'pid', path: '/proc/42/ns/pid' });
    assert.deepEqual(s.linux.namespaces.find((n) => n.type === 'ipc'), { type: 'ipc', path: '/proc/42/ns/ipc' });
  });
  it('host, new and joined', () => {
    const s = buildSpec(input({ namespaces: { network: { path: '/var/run/netns/n1' }, pid: 'host', uts: 'host' } }), HOST);
    assert.deepEqual(s.linux.namespaces, [{ type: 'mount' }, { type: 'network', path: '/var/run/netns/n1' }, { type: 'ipc' }]);
    assert.equal(s.hostname, undefined, 'no hostname without a UTS namespace');
    assert.ok(!buildSpec(input({ namespaces: { network: 'host' } }), HOST).linux.namespaces.some((n) => n.type === 'network'));
  });
});

describe('resources', () => {
  it('memory swap defaults to twice the memory, as Docker', () => {
    const s = buildSpec(input({ resources: { memory: 64 << 20, pidsLimit: 10, cpuShares: 512, cpuQuota: 50000, cpuPeriod: 100000, cpusetCpus: '0' } }), HOST);
    assert.deepEqual(s.linux.resources.memory, { limit: 64 << 20, swap: 128 << 20 });
    assert.deepEqual(s.linux.resources.pids, { limit: 10 });
    assert.deepEqual(s.linux.resources.cpu, { shares: 512, quota: 50000, period: 100000, cpus: '0' });
    assert.deepEqual(buildSpec(input({ resources: { memory: 64 << 20, memorySwap: -1 } }), HOST).linux.resources.memory, { limit: 64 << 20, swap: -1 });
    assert.deepEqual(buildSpec(input({ resources: { memory: 64 << 20 } }), { ...HOST, swapAccounting: false }).linux.resources.memory, { limit: 64 << 20 });
    assert.equal(buildSpec(input({ resources: { pidsLimit: -1 } }), HOST).linux.resources.pids, undefined);
  });
  it('cgroupResources (update) follows the same rules; an explicit unlimited pids value only when asked', () => {
    assert.deepEqual(cgroupResources({ memory: 96 << 20, memoryReservation: 32 << 20, cpuQuota: 50000, cpuPeriod: 100000, cpusetMems: '0' }, HOST), {
      memory: { limit: 96 << 20, swap: 192 << 20, reservation: 32 << 20 },
      cpu: { quota: 50000, period: 100000, mems: '0' },
    });
    assert.deepEqual(cgroupResources({ pidsLimit: -1 }, HOST, { unlimitedPids: true }), { pids: { limit: -1 } });
    assert.deepEqual(cgroupResources({ pidsLimit: -1 }, HOST), {});
    assert.throws(() => cgroupResources({ memorySwap: 64 << 20 }, HOST), rejectsWith('invalid_argument'));
  });
  it('rejects impossible memory settings', () => {
    assert.throws(() => buildSpec(input({ resources: { memory: 1 << 20 } }), HOST), rejectsWith('invalid_argument'));
    assert.throws(() => buildSpec(input({ resources: { memory: 64 << 20, memorySwap: 32 << 20 } }), HOST), rejectsWith('invalid_argument'));
  });
  it('device cgroup rules', () => {
    assert.deepEqual(parseDeviceCgroupRule('c 42:* rmw'), { allow: true, type: 'c', major: 42, access: 'rmw' });
    assert.throws(() => parseDeviceCgroupRule('x 1:2 r'), rejectsWith('invalid_argument'));
  });
});

describe('rlimits', () => {
  it('clamps to the hard limit Berth holds', () => {
    const { rlimits, warnings } = clampRlimits([{ type: 'nofile', soft: 1048576, hard: 1048576 }], HOST);
    assert.deepEqual(rlimits, [{ type: 'RLIMIT_NOFILE', soft: 20000, hard: 20000 }]);
    assert.equal(warnings.length, 1);
    const s = buildSpec(input({ rlimits: [{ type: 'RLIMIT_NOFILE', soft: 1024, hard: 50000 }] }), HOST);
    assert.deepEqual(s.process.rlimits, [{ type: 'RLIMIT_NOFILE', soft: 1024, hard: 20000 }]);
  });
  it('-1 is unlimited, written as the exact uint64', () => {
    const s = buildSpec(input({ rlimits: [{ type: 'core', soft: -1, hard: -1 }] }), HOST);
    assert.deepEqual(s.process.rlimits, [{ type: 'RLIMIT_CORE', soft: RLIM_INFINITY, hard: RLIM_INFINITY }]);
    assert.match(specToJson(s), /"hard":18446744073709551615,"soft":18446744073709551615/);
    // unlimited requested where Berth's hard limit is finite: clamped
    assert.deepEqual(clampRlimits([{ type: 'nofile', soft: -1, hard: -1 }], HOST).rlimits[0], { type: 'RLIMIT_NOFILE', soft: 20000, hard: 20000 });
  });
  it('rejects unknown names, soft > hard, duplicates', () => {
    assert.throws(() => clampRlimits([{ type: 'nofiles', soft: 1, hard: 1 }], HOST), rejectsWith('invalid_argument'));
    assert.throws(() => clampRlimits([{ type: 'nofile', soft: 2, hard: 1 }], HOST), rejectsWith('invalid_argument'));
    assert.throws(() => clampRlimits([{ type: 'nofile', soft: 1, hard: 1 }, { type: 'NOFILE', soft: 1, hard: 1 }], HOST), rejectsWith('invalid_argument'));
  });
  it('parses /proc/self/limits', () => {
    const text = [
      'Limit                     Soft Limit           Hard Limit           Units     ',
      'Max core file size        0                    unlimited            bytes     ',
      'Max processes             96365                96365                processes ',
      'Max open files            20000                20000                files     ',
      'Max nice priority         0                    0                    ',
    ].join('\n');
    assert.deepEqual(parseProcLimits(text), { RLIMIT_CORE: 'unlimited', RLIMIT_NPROC: 96365, RLIMIT_NOFILE: 20000, RLIMIT_NICE: 0 });
  });
});

describe('sysctls', () => {
  it('only namespaced ones, and not for a host namespace', () => {
    assert.deepEqual(buildSpec(input({ sysctls: { 'net.ipv4.ip_forward': '1', 'kernel.shmmax': '1' } }), HOST).linux.sysctl, {
      'net.ipv4.ip_forward': '1',
      'kernel.shmmax': '1',
    });
    assert.throws(() => buildSpec(input({ sysctls: { 'vm.swappiness': '1' } }), HOST), rejectsWith('invalid_argument'));
    assert.throws(() => buildSpec(input({ sysctls: { 'net.core.somaxconn': '1' }, namespaces: { network: 'host' } }), HOST), rejectsWith('invalid_argument'));
  });
});
