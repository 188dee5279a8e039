/**
 * Runs real containers with runc from buildSpec + defaultSeccomp. Needs root, runc and a static busybox;
 * skipped otherwise. Every container and cgroup is removed in `finally`, and the suite checks at the end
 * that nothing was left behind.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, rmdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cgroupLayout, cgroupPaths, oomKilled, readStats, removeCgroup } from './cgroups.js';
import { OciRuntime, classifyStartError } from './oci-runtime.js';
import { defaultSeccomp } from './seccomp.js';
import { DEFAULT_MASKED_PATHS, type OciSpec, type SpecInput, buildSpec, hostFacts, resolveCapabilities, specToJson } from './spec.js';

const BUSYBOX = '/bin/busybox';
const canRun = process.getuid?.() === 0 && existsSync(BUSYBOX) && spawnSync('runc', ['--version']).status === 0;
const skip = canRun ? false : 'needs root, runc and /bin/busybox';

const DOCKER_DEFAULT_CAPS = '00000000a80425fb';
const CG_PARENT = `/berth-test-${process.pid}`;

let work = '';
let rootfs = '';
let rt: OciRuntime;
let seq = 0;

function makeRootfs(dir: string): void {
  mkdirSync(join(dir, 'bin'), { recursive: true });
  for (const d of ['proc', 'sys', 'dev', 'etc', 'tmp']) mkdirSync(join(dir, d), { recursive: true });
  copyFileSync(BUSYBOX, join(dir, 'bin/busybox'));
  chmodSync(join(dir, 'bin/busybox'), 0o755);
  const applets = spawnSync(BUSYBOX, ['--list'], { encoding: 'utf8' }).stdout.split('\n').filter((a) => a !== '' && a !== 'busybox');
  for (const a of applets) symlinkSync('busybox', join(dir, 'bin', a));
  writeFileSync(join(dir, 'notexec'), '#!/bin/sh\necho hi\n', { mode: 0o644 });
  writeFileSync(join(dir, 'etc/passwd'), 'root:x:0:0:root:/:/bin/sh\n');
}

function specFor(id: string, over: Partial<SpecInput> = {}): OciSpec {
  const host = hostFacts();
  const caps = resolveCapabilities(over, host);
  const input: SpecInput = {
    id,
    rootfs,
    args: ['true'],
    env: ['PATH=/bin'],
    cwd: '/',
    terminal: false,
    user: { uid: 0, gid: 0, additionalGids: [] },
    hostname: id,
    seccomp: defaultSeccomp({ caps }),
    mounts: [],
    namespaces: {},
    resources: {},
    cgroupsPath: `${CG_PARENT}/${id}`,
    ...over,
  };
  return buildSpec(input, host);
}

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** `runc run` in the foreground, then delete and remove the cgroups whatever happened. */
async function runSpec(id: string, spec: OciSpec): Promise<RunResult> {
  const bundle = join(work, id);
  mkdirSync(bundle, { recursive: true });
  writeFileSync(join(bundle, 'config.json'), specToJson(spec));
  try {
    const t0 = performance.now();
    const child = spawn(rt.binary, [...rt.globalArgs, 'run', '--bundle', bundle, id], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    return { code, stdout, stderr, ms: performance.now() - t0 };
  } finally {
    rt.deleteSync(id, { force: true });
    removeCgroup(spec.linux.cgroupsPath);
    rmSync(bundle, { recursive: true, force: true });
  }
}

async function sh(script: string, over: Partial<SpecInput> = {}): Promise<RunResult> {
  const id = `t${process.pid}-${++seq}`;
  return runSpec(id, specFor(id, { args: ['sh', '-c', script], ...over }));
}

const status = (out: string, field: string) => new RegExp(`^${field}:\\s*(\\S+)`, 'm').exec(out)?.[1];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

describe('runc integration', { skip }, () => {
  before(() => {
    work = mkdtempSync(join(tmpdir(), 'berth-runc-'));
    rootfs = join(work, 'rootfs');
    makeRootfs(rootfs);
    rt = new OciRuntime({ root: join(work, 'state') });
  });

  after(() => {
    try {
      const leftovers = existsSync(rt.root) ? readdirSync(rt.root) : [];
      const cgLeft = cgroupPaths(CG_PARENT).flatMap((p) => (existsSync(p) ? readdirSync(p, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => join(p, e.name)) : []));
      for (const p of cgroupPaths(CG_PARENT)) {
        try {
          for (const e of existsSync(p) ? readdirSync(p, { withFileTypes: true }) : []) if (e.isDirectory()) rmdirSync(join(p, e.name));
          if (existsSync(p)) rmdirSync(p);
        } catch {
          // reported below
        }
      }
      assert.deepEqual(leftovers, [], 'runc state left behind');
      assert.deepEqual(cgLeft, [], 'cgroups left behind');
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });

  const maskedHere = DEFAULT_MASKED_PATHS.filter((p) => existsSync(p));

  it('default: Docker capability set, seccomp filter, masked and read-only paths', async () => {
    const r = await sh(
      'grep -E "^(Cap|Seccomp)" /proc/self/status; ' +
        // /proc/kcore does not exist on this kernel: check the masked paths that do exist on the host.
        `for p in ${maskedHere.join(' ')}; do if [ -d $p ]; then echo "masked $p $(ls -A $p | wc -l)"; else echo "masked $p $(cat $p | wc -c)"; fi; done; ` +
        '(echo 1 > /proc/sys/kernel/sysrq) 2>/dev/null && echo procsys=rw || echo procsys=ro; ' +
        '(mkdir /sys/fs/x || touch /sys/kernel/x) 2>/dev/null && echo sys=rw || echo sys=ro; ' +
        'grep -E " /sys sysfs " /proc/mounts; hostname; ls /proc/keys /proc/acpi 2>&1 | head -1',
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(status(r.stdout, 'CapEff'), DOCKER_DEFAULT_CAPS);
    assert.equal(status(r.stdout, 'CapBnd'), DOCKER_DEFAULT_CAPS);
    assert.equal(status(r.stdout, 'CapPrm'), DOCKER_DEFAULT_CAPS);
    assert.equal(status(r.stdout, 'CapInh'), '0000000000000000');
    assert.equal(status(r.stdout, 'Seccomp'), '2');
    assert.ok(maskedHere.length > 0);
    for (const p of maskedHere) assert.match(r.stdout, new RegExp(`^masked ${p} 0$`, 'm'));
    assert.match(r.stdout, /procsys=ro/);
    assert.match(r.stdout, /sys=ro/);
    assert.match(r.stdout, / \/sys sysfs ro,/);
  });

  it('--cap-drop NET_RAW removes it', async () => {
    const r = await sh('grep CapEff /proc/self/status', { capDrop: ['net_raw'] });
    assert.equal(r.code, 0, r.stderr);
    const mask = BigInt(`0x${status(r.stdout, 'CapEff')}`);
    assert.equal(mask, 0xa80425fbn & ~(1n << 13n));
  });

  it('--privileged: every capability Berth holds, no seccomp', async () => {
    const r = await sh('grep -E "^(CapEff|Seccomp):" /proc/self/status; echo kcore=$(wc -c < /proc/kcore 2>&1)', { privileged: true, seccomp: undefined });
    assert.equal(r.code, 0, r.stderr);
    const own = status(readFileSync('/proc/self/status', 'utf8'), 'CapBnd');
    assert.equal(status(r.stdout, 'CapEff'), own);
    assert.equal(status(r.stdout, 'Seccomp'), '0');
  });

  it('memory and pids limits land in the cgroup', async () => {
    const r = await sh(
      // The fork test comes last: its orphaned sleeps keep the pids budget used up.
      'cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max; ' +
        'sh -c "for i in 1 2 3 4 5 6 7 8; do sleep 1 & done; wait" 2>/dev/null; echo forked=$?',
      { resources: { memory: 32 * 1024 * 1024, pidsLimit: 5 } },
    );
    assert.equal(r.code, 0, r.stderr);
    const [mem, pids] = r.stdout.split('\n');
    assert.equal(Number(mem), 32 * 1024 * 1024);
    assert.equal(pids, '5');
    assert.match(r.stdout, /forked=2/, 'the shell fails to fork past the pids limit');
  });

  it('OOM kill is reported by oomKilled', async () => {
    const id = `t${process.pid}-oom`;
    const spec = specFor(id, { args: ['sh', '-c', 'head -c 64m /dev/zero > /dev/shm/big; echo survived'], resources: { memory: 16 << 20, memorySwap: 16 << 20 } });
    const bundle = join(work, id);
    mkdirSync(bundle);
    writeFileSync(join(bundle, 'config.json'), specToJson(spec));
    try {
      const res = spawnSync(rt.binary, [...rt.globalArgs, 'run', '-d', '--bundle', bundle, id], { stdio: 'ignore' });
      assert.equal(res.status, 0);
      for (let i = 0; i < 200 && (await rt.state(id))?.status !== 'stopped'; i++) await new Promise((r) => setTimeout(r, 25));
      assert.equal(oomKilled(spec.linux.cgroupsPath), true);
    } finally {
      rt.deleteSync(id, { force: true });
      removeCgroup(spec.linux.cgroupsPath);
    }
  });

  it('unknown command -> command_not_found (127), not executable -> cannot_invoke (126)', async () => {
    const a = await runSpec(`t${process.pid}-nf`, specFor(`t${process.pid}-nf`, { args: ['nosuchcmd'] }));
    assert.notEqual(a.code, 0);
    const e = classifyStartError(a.stderr);
    assert.equal(e.code, 'command_not_found', a.stderr);
    assert.match(e.message, /"nosuchcmd": executable file not found in \$PATH/);
    const b = await runSpec(`t${process.pid}-ni`, specFor(`t${process.pid}-ni`, { args: ['/notexec'] }));
    assert.equal(classifyStartError(b.stderr).code, 'cannot_invoke', b.stderr);
  });

  it('lifecycle through OciRuntime: state, ps, stats, readStats, update, pause, resume, kill, delete', async () => {
    const id = `t${process.pid}-life`;
    const spec = specFor(id, { args: ['sleep', '60'], resources: { memory: 64 << 20, pidsLimit: 20 } });
    const bundle = join(work, id);
    mkdirSync(bundle);
    writeFileSync(join(bundle, 'config.json'), specToJson(spec));
    try {
      assert.equal(await rt.state(id), undefined);
      const res = spawnSync(rt.binary, [...rt.globalArgs, 'run', '-d', '--bundle', bundle, id], { stdio: 'ignore' });
      assert.equal(res.status, 0);
      const st = await rt.state(id);
      assert.equal(st?.status, 'running');
      assert.ok((st?.pid ?? 0) > 0);
      assert.deepEqual(await rt.ps(id), [st?.pid]);
      const s1 = await rt.stats(id);
      assert.equal(s1.memoryLimit, 64 << 20);
      assert.equal(s1.pidsLimit, 20);
      assert.ok(s1.pidsCurrent >= 1);
      readStats(spec.linux.cgroupsPath); // warm: the first call reads /proc/self/mountinfo
      const t0 = performance.now();
      const s2 = readStats(spec.linux.cgroupsPath);
      const readMs = performance.now() - t0;
      const t1 = performance.now();
      await rt.stats(id);
      const eventsMs = performance.now() - t1;
      console.log(`stats: cgroup files ${readMs.toFixed(2)} ms, runc events --stats ${eventsMs.toFixed(1)} ms`);
      assert.equal(s2.memoryLimit, 64 << 20);
      assert.equal(s2.pidsCurrent, 1);
      assert.ok(s2.memoryUsage > 0 && s2.cpuTotalNs > 0);
      await rt.update(id, { memory: { limit: 128 << 20, swap: 256 << 20 }, pids: { limit: 30 } });
      const s3 = readStats(spec.linux.cgroupsPath);
      assert.equal(s3.memoryLimit, 128 << 20);
      assert.equal(s3.pidsLimit, 30);
      await rt.pause(id);
      assert.equal((await rt.state(id))?.status, 'paused');
      await assert.rejects(rt.pause(id), (e: unknown) => e instanceof Error && 'code' in e && e.code === 'conflict');
      await rt.resume(id);
      assert.equal((await rt.state(id))?.status, 'running');
      await rt.kill(id, 'KILL');
      for (let i = 0; i < 100 && (await rt.state(id))?.status !== 'stopped'; i++) await new Promise((r) => setTimeout(r, 20));
      assert.equal((await rt.state(id))?.status, 'stopped');
      assert.equal(oomKilled(spec.linux.cgroupsPath), false);
      await rt.delete(id);
      assert.equal(await rt.state(id), undefined);
      await assert.rejects(rt.delete(id), (e: unknown) => e instanceof Error && 'code' in e && e.code === 'not_found');
      assert.ok(cgroupPaths(spec.linux.cgroupsPath).every((p) => !existsSync(p)), 'runc delete removes the cgroups');
    } finally {
      rt.deleteSync(id, { force: true });
      removeCgroup(spec.linux.cgroupsPath);
    }
  });

  it('removeCgroup removes leftovers, nested ones too', () => {
    const p = `${CG_PARENT}/leftover`;
    for (const d of cgroupPaths(p)) mkdirSync(join(d, 'inner'), { recursive: true });
    const removed = removeCgroup(p);
    assert.equal(removed.length, cgroupLayout().mounts.length * 2);
    assert.ok(cgroupPaths(p).every((d) => !existsSync(d)));
    assert.deepEqual(removeCgroup(p), []);
  });

  it('timing: runc run with the full spec vs a minimal one (printed)', async () => {
    const full: number[] = [];
    const minimal: number[] = [];
    for (let i = 0; i < 7; i++) {
      const a = `t${process.pid}-tf${i}`;
      full.push((await runSpec(a, specFor(a))).ms);
      const b = `t${process.pid}-tm${i}`;
      const m = specFor(b, { seccomp: 'unconfined' });
      m.mounts = m.mounts.filter((x) => x.destination === '/proc' || x.destination === '/dev');
      delete m.linux.maskedPaths;
      delete m.linux.readonlyPaths;
      m.linux.resources = {};
      m.linux.namespaces = [{ type: 'mount' }, { type: 'pid' }];
      delete m.hostname;
      const r = await runSpec(b, m);
      assert.equal(r.code, 0, r.stderr);
      minimal.push(r.ms);
    }
    console.log(`runc run true: full spec median ${median(full).toFixed(1)} ms, minimal spec median ${median(minimal).toFixed(1)} ms`);
  });
});
