import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isBerthError } from '../errors.js';
import { type CgroupLayout, cgroupPaths, parseCgroupMounts } from './cgroups.js';

const MOUNTINFO = [
  '30 23 0:26 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755',
  '31 30 0:27 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate',
  '32 30 0:28 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,xattr,name=systemd',
  '35 30 0:31 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,cpu,cpuacct',
  '36 30 0:32 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,memory',
  '37 30 0:32 / /mnt/again rw - cgroup cgroup rw,memory',
  '40 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw',
].join('\n');

describe('cgroup layout', () => {
  it('parses v1 hierarchies (joined and named) and the hybrid unified mount', () => {
    const mounts = parseCgroupMounts(MOUNTINFO);
    assert.deepEqual(mounts, [
      { mountpoint: '/sys/fs/cgroup/unified', controllers: [], version: 2 },
      { mountpoint: '/sys/fs/cgroup/systemd', controllers: ['name=systemd'], version: 1 },
      { mountpoint: '/sys/fs/cgroup/cpu,cpuacct', controllers: ['cpu', 'cpuacct'], version: 1 },
      { mountpoint: '/sys/fs/cgroup/memory', controllers: ['memory'], version: 1 },
    ]);
    const layout: CgroupLayout = { mode: 'v1', mounts };
    assert.deepEqual(cgroupPaths('/berth/c1', layout), [
      '/sys/fs/cgroup/unified/berth/c1',
      '/sys/fs/cgroup/systemd/berth/c1',
      '/sys/fs/cgroup/cpu,cpuacct/berth/c1',
      '/sys/fs/cgroup/memory/berth/c1',
    ]);
  });
  it('v2: one directory', () => {
    const layout: CgroupLayout = { mode: 'v2', mounts: [{ mountpoint: '/sys/fs/cgroup', controllers: [], version: 2 }] };
    assert.deepEqual(cgroupPaths('/berth/c1/', layout), ['/sys/fs/cgroup/berth/c1']);
  });
  it('refuses paths that could leave the hierarchy', () => {
    const layout: CgroupLayout = { mode: 'v2', mounts: [{ mountpoint: '/sys/fs/cgroup', controllers: [], version: 2 }] };
    for (const p of ['/', 'berth/c1', '/berth/../..']) assert.throws(() => cgroupPaths(p, layout), (e) => isBerthError(e, 'invalid_argument'));
  });
});
