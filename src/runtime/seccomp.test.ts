import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { isBerthError } from '../errors.js';
import { DEFAULT_SECCOMP_PROFILE, type DockerSeccompProfile, convertSeccompProfile, defaultSeccomp, loadSeccompProfile } from './seccomp.js';
import { DEFAULT_CAPABILITIES } from './spec.js';

const PROFILE: DockerSeccompProfile = {
  defaultAction: 'SCMP_ACT_ERRNO',
  defaultErrnoRet: 38,
  archMap: [
    { architecture: 'SCMP_ARCH_X86_64', subArchitectures: ['SCMP_ARCH_X86', 'SCMP_ARCH_X32'] },
    { architecture: 'SCMP_ARCH_AARCH64', subArchitectures: ['SCMP_ARCH_ARM'] },
  ],
  syscalls: [
    { names: ['read', 'write'], action: 'SCMP_ACT_ALLOW', args: [], includes: {}, excludes: {} },
    { names: ['personality'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 8, valueTwo: 0, op: 'SCMP_CMP_EQ' }] },
    { names: ['arch_prctl'], action: 'SCMP_ACT_ALLOW', includes: { arches: ['amd64', 'x32'] } },
    { names: ['bpf'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_ADMIN'] } },
    { names: ['bpf'], action: 'SCMP_ACT_ERRNO', errnoRet: 1, excludes: { caps: ['CAP_SYS_ADMIN'] } },
    { names: ['newcall'], action: 'SCMP_ACT_ALLOW', includes: { minKernel: '5.8' } },
    { name: 'old', action: 'SCMP_ACT_ALLOW', excludes: { arches: ['arm64'] } },
  ],
};

const names = (s: { syscalls?: { names: string[] }[] }) => (s.syscalls ?? []).flatMap((r) => r.names);

describe('convertSeccompProfile', () => {
  it('keeps rules by caps, arch and kernel, as Docker', () => {
    const s = convertSeccompProfile(PROFILE, { caps: ['CAP_CHOWN'], arch: 'x64', kernel: '6.1.0-13-amd64' });
    assert.equal(s.defaultAction, 'SCMP_ACT_ERRNO');
    assert.equal(s.defaultErrnoRet, 38);
    assert.deepEqual(s.architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
    assert.deepEqual(names(s), ['read', 'write', 'personality', 'arch_prctl', 'bpf', 'newcall', 'old']);
    assert.deepEqual(s.syscalls?.find((r) => r.names[0] === 'bpf'), { names: ['bpf'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 });
    assert.deepEqual(s.syscalls?.[1].args, [{ index: 0, value: 8, op: 'SCMP_CMP_EQ' }]);
    assert.equal(s.syscalls?.[0].args, undefined);
  });
  it('leaves SCMP_ARCH_X32 out on a kernel without the x32 ABI', () => {
    const s = convertSeccompProfile(PROFILE, { caps: [], arch: 'x64', kernel: '6.1', x32Abi: false });
    assert.deepEqual(s.architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86']);
    assert.ok(names(s).includes('arch_prctl'), 'rules are unchanged');
    const withX32 = convertSeccompProfile(PROFILE, { caps: [], arch: 'x64', kernel: '6.1', x32Abi: true });
    assert.deepEqual(withX32.architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
  });
  it('a held capability switches the rule', () => {
    const s = convertSeccompProfile(PROFILE, { caps: ['CAP_SYS_ADMIN'], arch: 'amd64', kernel: '5.4.0' });
    assert.deepEqual(s.syscalls?.find((r) => r.names[0] === 'bpf')?.action, 'SCMP_ACT_ALLOW');
    assert.ok(!names(s).includes('newcall'), 'minKernel 5.8 > 5.4');
  });
  it('arm64 gets its own arch list and arch rules', () => {
    const s = convertSeccompProfile(PROFILE, { caps: [], arch: 'arm64', kernel: '6.1' });
    assert.deepEqual(s.architectures, ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM']);
    assert.ok(!names(s).includes('arch_prctl') && !names(s).includes('old'));
  });
  it('rejects a profile without defaultAction', () => {
    assert.throws(() => convertSeccompProfile({} as DockerSeccompProfile, { caps: [] }), (e) => isBerthError(e, 'invalid_argument'));
  });
});

describe('default profile', () => {
  it('converts /usr/share/containers/seccomp.json for Docker default caps on x86_64', { skip: !process.arch.startsWith('x') && 'x86_64 only' }, () => {
    const s = defaultSeccomp({ caps: DEFAULT_CAPABILITIES });
    assert.deepEqual(s.architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
    const allowed = new Set(s.syscalls?.filter((r) => r.action === 'SCMP_ACT_ALLOW').flatMap((r) => r.names));
    assert.ok(allowed.has('read') && allowed.has('arch_prctl') && allowed.has('chroot'));
    assert.ok(!allowed.has('bpf'), 'bpf needs CAP_SYS_ADMIN');
    const admin = defaultSeccomp({ caps: [...DEFAULT_CAPABILITIES, 'CAP_SYS_ADMIN'] });
    assert.ok(admin.syscalls?.some((r) => r.action === 'SCMP_ACT_ALLOW' && r.names.includes('bpf')));
  });
  it('returns copies: editing one result does not change the next', () => {
    const a = defaultSeccomp({ caps: ['CAP_CHOWN'] });
    a.syscalls?.splice(0);
    assert.ok((defaultSeccomp({ caps: ['CAP_CHOWN'] }).syscalls?.length ?? 0) > 0);
  });
  it('is cheap (measured, printed)', () => {
    const t0 = performance.now();
    defaultSeccomp({ caps: ['CAP_KILL', 'CAP_MKNOD'], kernel: '9.9' });
    const t1 = performance.now();
    defaultSeccomp({ caps: ['CAP_KILL', 'CAP_MKNOD'], kernel: '9.9' });
    const t2 = performance.now();
    console.log(`seccomp: convert ${DEFAULT_SECCOMP_PROFILE} ${(t1 - t0).toFixed(2)} ms, memoized ${(t2 - t1).toFixed(3)} ms`);
  });
});

describe('loadSeccompProfile', () => {
  it('not_found for a missing file, invalid_argument for bad JSON', () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-seccomp-'));
    try {
      assert.throws(() => loadSeccompProfile(join(dir, 'none.json'), { caps: [] }), (e) => isBerthError(e, 'not_found'));
      writeFileSync(join(dir, 'bad.json'), '{not json');
      assert.throws(() => loadSeccompProfile(join(dir, 'bad.json'), { caps: [] }), (e) => isBerthError(e, 'invalid_argument'));
      writeFileSync(join(dir, 'p.json'), JSON.stringify(PROFILE));
      assert.deepEqual(names(loadSeccompProfile(join(dir, 'p.json'), { caps: [], arch: 'x64', kernel: '6.1' })).slice(0, 2), ['read', 'write']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
