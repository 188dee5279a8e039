import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BIN, TestStore, conmonsFor, eventually, mountsUnder, sleep } from './helpers.js';

describe('containers: lifecycle on runc + conmon', { skip: process.getuid?.() !== 0 && 'needs root' }, () => {
  const s = new TestStore('ctr');
  before(() => s.busybox());
  after(() => s.cleanup());

  test('run prints output and returns the container exit code', () => {
    const r = s.run(['run', '--rm', 'busybox', 'sh', '-c', 'echo out; echo err >&2; exit 3']);
    assert.equal(r.stdout, 'out\n');
    assert.equal(r.stderr, 'err\n');
    assert.equal(r.code, 3);
    assert.equal(s.ok(['ps', '-aq']).trim(), '', '--rm removed the container');
  });

  test('exit codes: 127 command not found, 126 not executable, 125 engine error', () => {
    const nf = s.run(['run', '--rm', 'busybox', 'nosuchcommand']);
    assert.equal(nf.code, 127, nf.stderr);
    assert.match(nf.stderr, /nosuchcommand/);
    const ne = s.run(['run', '--rm', 'busybox', '/etc/passwd']);
    assert.equal(ne.code, 126, ne.stderr);
    const ni = s.run(['run', '--rm', 'nosuchimage']);
    assert.equal(ni.code, 125);
    assert.match(ni.stderr, /Unable to find image 'nosuchimage(:latest)?' locally/);
    assert.match(ni.stderr, /blocked/, 'the test registries config keeps Docker Hub out of reach');
    const bf = s.run(['run', '--memory', 'lots', 'busybox']);
    assert.equal(bf.code, 125);
    assert.equal(s.ok(['ps', '-aq']).trim(), '', 'failed runs with --rm leave nothing');
  });

  test('tutorial walkthrough: writable layer is per container; commit keeps changes', () => {
    s.ok(['run', '--name', 'w1', 'busybox', 'sh', '-c', 'echo hello > /greeting']);
    assert.match(s.ok(['diff', 'w1']), /^A \/greeting$/m);
    const rm = s.run(['rm', 'w1']);
    assert.equal(rm.code, 0);
    assert.match(rm.stderr, /writable layer held 1 changed file/);
    const fresh = s.run(['run', '--rm', 'busybox', 'cat', '/greeting']);
    assert.notEqual(fresh.code, 0, 'a fresh container does not see the removed one\'s file');
    s.ok(['run', '--name', 'w2', 'busybox', 'sh', '-c', 'echo kept > /greeting']);
    const id = s.ok(['commit', '-m', 'add greeting', 'w2', 'greeted:1']).trim();
    assert.match(id, /^sha256:/);
    assert.equal(s.ok(['run', '--rm', 'greeted:1', 'cat', '/greeting']), 'kept\n');
    assert.notEqual(s.run(['run', '--rm', 'busybox', 'cat', '/greeting']).code, 0, 'the original image is unchanged');
    assert.match(s.ok(['history', 'greeted:1']), /add greeting/);
    s.ok(['rm', 'w2']);
  });

  test('stop leaves a kept container\'s unmount (and its sync) to a background process; start, diff and rm right after it wait for it', async () => {
    const id = s.ok(['run', '-d', '--name', 'bgu', 'busybox', 'sh', '-c', '[ -f /mark ] || echo $RANDOM > /mark; exec sleep 1000']).trim();
    const merged = path.join(s.runroot, 'containers', id, 'merged');
    const mark = s.ok(['exec', 'bgu', 'cat', '/mark']);
    for (let i = 0; i < 3; i++) {
      s.ok(['stop', '-t', '0', 'bgu']);
      s.ok(['start', 'bgu']);
      assert.equal(s.ok(['exec', 'bgu', 'cat', '/mark']), mark, 'the restarted container sees its writable layer');
    }
    s.ok(['stop', '-t', '0', 'bgu']);
    assert.match(s.ok(['diff', 'bgu']), /^A \/mark$/m);
    s.ok(['stop', '-t', '0', 'bgu']);
    await eventually(() => !mountsUnder(s.runroot).includes(merged) && !fs.existsSync(`${merged}.unmount-lock`));
    // A pending unmount holds the lock: rm waits for it (here a stand-in holder, so the order is certain).
    const held = path.join(s.dir, 'held');
    const released = path.join(s.dir, 'released');
    const holder = spawn('flock', [`${merged}.unmount-lock`, 'sh', '-c', `touch ${held}; sleep 0.5; touch ${released}`], { stdio: 'ignore' });
    await eventually(() => fs.existsSync(held));
    s.ok(['rm', 'bgu']);
    assert.equal(fs.existsSync(released), true, 'rm waited for the unmount in progress');
    await new Promise((r) => holder.on('exit', r));
    s.ok(['run', '-d', '--name', 'bgu', 'busybox', 'sleep', '1000']);
    s.ok(['stop', '-t', '0', 'bgu']);
    s.ok(['rm', 'bgu']);
    assert.deepEqual(mountsUnder(s.dir), [], 'rm right after stop leaves no mount');
    assert.equal(fs.existsSync(path.join(s.runroot, 'containers', id)), false);
    assert.equal(fs.existsSync(path.join(s.root, 'containers', id)), false);
  });

  test('a --rm container\'s writable layer is mounted volatile (nothing synced at exit) and remounts on restart; a kept one is not volatile', () => {
    const rootLine = (out: string) => out.split('\n').find((l) => l.split(' ')[1] === '/') ?? '';
    assert.match(rootLine(s.ok(['run', '--rm', 'busybox', 'cat', '/proc/mounts'])), /\bvolatile\b/);
    const kept = s.ok(['run', '--name', 'kept', 'busybox', 'cat', '/proc/mounts']);
    assert.match(rootLine(kept), /^overlay \/ overlay /);
    assert.doesNotMatch(rootLine(kept), /\bvolatile\b/);
    s.ok(['rm', 'kept']);
    // Overlay refuses to mount a volatile mount's directories again until its marker is gone:
    // restart unmounts and mounts them again.
    const id = s.ok(['run', '-d', '--rm', 'busybox', 'sleep', '60']).trim();
    s.ok(['restart', '-t', '0', id]);
    assert.match(rootLine(s.ok(['exec', id, 'cat', '/proc/mounts'])), /\bvolatile\b/);
    // Its log goes with it too: conmon does not fsync it at exit (a kept container's is synced).
    const kept2 = s.ok(['run', '-d', 'busybox', 'sleep', '60']).trim();
    const args = (cid: string) => conmonsFor(cid).map((pid) => fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0'));
    assert.equal(args(id).length, 1);
    assert.ok(args(id)[0]?.includes('--no-sync-log'));
    assert.equal(args(kept2).length, 1);
    assert.ok(!args(kept2)[0]?.includes('--no-sync-log'));
    s.ok(['rm', '-f', id, kept2]);
  });

  test('detached: ps, logs, exec, stop, start, restart, rm; nothing leaks', async () => {
    const id = s.ok(['run', '-d', '--name', 'web', '-l', 'app=demo', 'busybox', 'sh', '-c', 'echo started; trap "echo bye; exit 0" TERM; while true; do sleep 0.1; done']).trim();
    assert.match(id, /^[0-9a-f]{64}$/);
    const ps = s.ok(['ps']);
    assert.match(ps, /^CONTAINER ID\s+IMAGE\s+COMMAND\s+CREATED\s+STATUS\s+PORTS\s+NAMES$/m);
    assert.match(ps, new RegExp(`^${id.slice(0, 12)}\\s+busybox\\s+"sh -c .*"\\s+.*\\s+Up .*\\s+web$`, 'm'));
    assert.equal(s.ok(['ps', '--filter', 'label=app=demo', '--format', '{{.Names}}']).trim(), 'web');
    assert.equal(s.ok(['ps', '--filter', 'status=exited', '-q']).trim(), '');
    await eventually(() => s.ok(['logs', 'web']).includes('started'));
    assert.equal(s.ok(['exec', 'web', 'cat', '/etc/hostname']).trim(), id.slice(0, 12));
    assert.equal(s.ok(['exec', '-e', 'X=1', '-w', '/tmp', 'web', 'sh', '-c', 'echo $X $(pwd)']).trim(), '1 /tmp');
    assert.equal(s.run(['exec', 'web', 'sh', '-c', 'exit 7']).code, 7);
    const top = s.ok(['top', 'web']);
    assert.match(top, /PID/);
    const inspect = JSON.parse(s.ok(['inspect', 'web']))[0];
    assert.equal(inspect.State.Status, 'running');
    assert.equal(inspect.Name, '/web');
    assert.equal(inspect.HostConfig.LogConfig.Type, 'k8s-file');
    assert.equal(s.ok(['stop', 'web']).trim(), 'web');
    assert.match(s.ok(['logs', 'web']), /bye/);
    assert.match(s.ok(['ps', '-a', '--format', '{{.Status}}']), /^Exited \(0\) /);
    const stopAgain = s.run(['stop', 'web']);
    assert.equal(stopAgain.code, 0, 'stop of a stopped container is a no-op as in docker');
    s.ok(['start', 'web']);
    assert.equal(JSON.parse(s.ok(['inspect', 'web']))[0].State.Running, true);
    s.ok(['restart', '-t', '1', 'web']);
    const rmRunning = s.run(['rm', 'web']);
    assert.equal(rmRunning.code, 1);
    assert.match(rmRunning.stderr, /container is running.*force/);
    s.ok(['rm', '-f', 'web']);
    assert.deepEqual(mountsUnder(s.dir), []);
    await eventually(() => conmonsFor(s.dir).length === 0);
    assert.deepEqual(fs.readdirSync(path.join(s.runroot, 'containers')), []);
  });

  test('pause, unpause, kill -s, wait, rename', async () => {
    s.ok(['run', '-d', '--name', 'p1', 'busybox', 'sh', '-c', 'trap "exit 143" TERM; while true; do sleep 0.1; done']);
    s.ok(['pause', 'p1']);
    assert.match(s.ok(['ps', '--format', '{{.Status}}']), /\(Paused\)/);
    assert.equal(s.run(['pause', 'p1']).code, 1);
    s.ok(['unpause', 'p1']);
    s.ok(['rename', 'p1', 'p2']);
    const waiter = s.spawn(['wait', 'p2']);
    let out = '';
    waiter.stdout.on('data', (d: Buffer) => (out += d.toString()));
    await sleep(300);
    s.ok(['kill', '-s', 'TERM', 'p2']);
    await new Promise((r) => waiter.on('close', r));
    assert.equal(out.trim(), '143');
    s.ok(['rm', 'p2']);
  });

  test('restart policy on-failure:2 restarts twice then stays exited', async () => {
    s.ok(['run', '-d', '--name', 'flaky', '--restart', 'on-failure:2', 'busybox', 'sh', '-c', 'echo run; exit 1']);
    await eventually(() => {
      const st = JSON.parse(s.ok(['inspect', 'flaky']))[0];
      return st.RestartCount === 2 && st.State.Status === 'exited';
    }, 20_000);
    assert.equal((s.ok(['logs', 'flaky']).match(/run/g) ?? []).length, 3);
    s.ok(['rm', 'flaky']);
  });

  test('healthcheck without a daemon', async () => {
    s.ok(['run', '-d', '--name', 'hc', '--health-cmd', 'test -f /tmp/ok', '--health-interval', '200ms', '--health-retries', '1', 'busybox', 'sh', '-c', 'touch /tmp/ok; sleep 100']);
    await eventually(() => s.ok(['ps', '--format', '{{.Status}}']).includes('(healthy)'), 15_000);
    s.ok(['exec', 'hc', 'rm', '/tmp/ok']);
    await eventually(() => s.ok(['ps', '--format', '{{.Status}}']).includes('(unhealthy)'), 15_000);
    s.ok(['rm', '-f', 'hc']);
  });

  test('security defaults as docker: caps, seccomp, masked and read-only /proc', () => {
    const status = s.ok(['run', '--rm', 'busybox', 'cat', '/proc/self/status']);
    assert.match(status, /^CapEff:\s+00000000a80425fb$/m);
    assert.match(status, /^CapBnd:\s+00000000a80425fb$/m);
    assert.match(status, /^Seccomp:\s+2$/m);
    assert.match(s.ok(['run', '--rm', '--cap-drop', 'NET_RAW', 'busybox', 'grep', 'CapEff', '/proc/self/status']), /a80405fb/);
    assert.notEqual(s.run(['run', '--rm', 'busybox', 'sh', '-c', 'echo 1 > /proc/sys/kernel/domainname']).code, 0);
    assert.equal(s.ok(['run', '--rm', 'busybox', 'sh', '-c', 'cat /proc/timer_list | wc -c']).trim(), '0');
    assert.notEqual(s.run(['run', '--rm', 'busybox', 'mount', '-t', 'tmpfs', 'x', '/mnt']).code, 0);
    assert.match(s.ok(['run', '--rm', '--privileged', 'busybox', 'grep', 'Seccomp:', '/proc/self/status']), /Seccomp:\s+0/);
    assert.equal(s.ok(['run', '--rm', '-u', '65534:65534', 'busybox', 'id', '-u']).trim(), '65534');
    assert.equal(s.ok(['run', '--rm', '-u', 'nobody', 'busybox', 'id', '-un']).trim(), 'nobody');
    assert.notEqual(s.run(['run', '--rm', '--read-only', 'busybox', 'touch', '/x']).code, 0);
  });

  test('limits land in cgroups', () => {
    const mem = s.ok(['run', '--rm', '--memory', '64m', '--pids-limit', '50', 'busybox', 'sh', '-c', 'cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max']);
    assert.deepEqual(mem.trim().split('\n'), [String(64 * 1024 * 1024), '50']);
  });

  test('env, workdir, entrypoint, hostname, init, env-file', () => {
    const envFile = path.join(s.dir, 'env.list');
    fs.writeFileSync(envFile, '# comment\nFROM_FILE=yes\n');
    assert.equal(s.ok(['run', '--rm', '-e', 'A=1', '--env-file', envFile, '-w', '/tmp', '-h', 'box', 'busybox', 'sh', '-c', 'echo $A $FROM_FILE $(pwd) $(hostname)']).trim(), '1 yes /tmp box');
    assert.equal(s.ok(['run', '--rm', '--entrypoint', 'echo', 'busybox', 'hi']).trim(), 'hi');
    assert.match(s.ok(['run', '--rm', '--init', 'busybox', 'ps', '-o', 'pid,comm']), /1 docker-init|1 catatonit/);
  });

  test('cp both directions and export', () => {
    s.ok(['run', '--name', 'files', 'busybox', 'sh', '-c', 'mkdir -p /data && echo inside > /data/f.txt']);
    const out = path.join(s.dir, 'cp-out');
    fs.mkdirSync(out);
    s.ok(['cp', 'files:/data/f.txt', out]);
    assert.equal(fs.readFileSync(path.join(out, 'f.txt'), 'utf8'), 'inside\n');
    fs.writeFileSync(path.join(out, 'up.txt'), 'from host\n');
    s.ok(['cp', path.join(out, 'up.txt'), 'files:/data/']);
    s.ok(['start', '-a', 'files']);
    const exported = s.run(['export', 'files']);
    assert.equal(exported.code, 0);
    assert.ok(exported.stdout.length > 100_000);
    const tarOut = s.run(['cp', 'files:/data', '-']);
    assert.match(tarOut.stdout, /up\.txt/);
    s.ok(['rm', 'files']);
  });

  test('name conflicts and bad names', () => {
    s.ok(['create', '--name', 'dup', 'busybox']);
    const r = s.run(['create', '--name', 'dup', 'busybox']);
    assert.equal(r.code, 125);
    assert.match(r.stderr, /The container name "\/dup" is already in use/);
    assert.equal(s.run(['create', '--name', 'bad name', 'busybox']).code, 125);
    assert.match(s.ok(['ps', '-a', '--format', '{{.Status}}']), /^Created$/m);
    s.ok(['container', 'prune', '-f']);
    assert.equal(s.ok(['ps', '-aq']).trim(), '');
  });

  test('a container whose monitor was killed is reconciled by the next command', async () => {
    s.ok(['run', '-d', '--name', 'orphan', 'busybox', 'sleep', '100']);
    const pid = JSON.parse(s.ok(['inspect', 'orphan']))[0].State.Pid as number;
    for (const c of conmonsFor(s.dir)) process.kill(c, 'SIGKILL');
    process.kill(pid, 'SIGKILL');
    await sleep(200);
    await eventually(() => JSON.parse(s.ok(['inspect', 'orphan']))[0].State.Status === 'exited');
    s.ok(['rm', 'orphan']);
    assert.match(s.ok(['system', 'check', '--quick']), /store is consistent/);
  });

  test('run -it gets a terminal; stdin reaches the container', () => {
    // The terminal's size is in the container's process spec: it holds from the first instruction.
    const cmd = `stty rows 35 cols 101; ${[BIN, ...s.args(['run', '--rm', '-it', 'busybox', 'sh', '-c', 'echo size=$(stty size); tty'])].map((a) => `'${a}'`).join(' ')}`;
    const r = spawnSync('script', ['-qfec', cmd, '/dev/null'], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /\/dev\/pts\/\d+/);
    assert.match(r.stdout, /size=35 101/);
    const piped = s.run(['run', '--rm', '-i', 'busybox', 'sh', '-c', 'read line; echo got:$line'], { input: 'hello\n' });
    assert.equal(piped.stdout, 'got:hello\n');
    const cat = s.run(['run', '--rm', '-i', 'busybox', 'wc', '-c'], { input: 'x'.repeat(100_000) });
    assert.equal(cat.stdout.trim(), '100000');
    // exec -it: the terminal's size holds from the command's first instruction.
    s.ok(['run', '-d', '--name', 'ttyx', 'busybox', 'sleep', '100']);
    const ex = `stty rows 33 cols 99; ${[BIN, ...s.args(['exec', '-it', 'ttyx', 'stty', 'size'])].map((a) => `'${a}'`).join(' ')}`;
    const e = spawnSync('script', ['-qfec', ex, '/dev/null'], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(e.status, 0, e.stdout + e.stderr);
    assert.match(e.stdout, /33 99\r?$/m);
    s.ok(['rm', '-f', 'ttyx']);
  });

  test('logs: --tail, --since, -t, -f follows until exit, stderr kept apart', async () => {
    s.ok(['run', '-d', '--name', 'lg', 'busybox', 'sh', '-c', 'for i in 1 2 3 4 5; do echo line$i; done; echo oops >&2; sleep 1; echo last']);
    const f = s.spawn(['logs', '-f', 'lg']);
    let out = '';
    let err = '';
    f.stdout.on('data', (d: Buffer) => (out += d.toString()));
    f.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise((r) => f.on('close', r));
    assert.equal(code, 0);
    assert.equal(out, 'line1\nline2\nline3\nline4\nline5\nlast\n');
    assert.equal(err, 'oops\n');
    assert.equal(s.ok(['logs', '--tail', '2', 'lg']), 'last\n');
    assert.match(s.ok(['logs', '-t', '--tail', '1', 'lg']), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z last$/m);
    assert.equal(s.ok(['logs', '--since', '2099-01-01T00:00:00Z', 'lg']), '');
    s.ok(['rm', 'lg']);
  });

  test('--log-opt max-file keeps N files of max-size: logs and logs -f read across rotations without a gap', async () => {
    const id = s.ok(['run', '-d', '--name', 'rot', '--log-opt', 'max-size=2k', '--log-opt', 'max-file=3', 'busybox', 'sh', '-c', 'i=0; while true; do echo line$i; i=$((i+1)); sleep 0.01; done']).trim();
    try {
      const follower = s.spawn(['logs', '-f', 'rot']);
      let followed = '';
      follower.stdout.on('data', (c: Buffer) => (followed += c.toString()));
      const logPath = JSON.parse(s.ok(['inspect', 'rot']))[0].LogPath as string;
      // Rotated twice at least: the oldest file is then number 2, and there is never a third.
      await eventually(() => fs.existsSync(`${logPath}.2`), 20_000);
      await sleep(1500);
      const numbers = (text: string) => [...text.matchAll(/line(\d+)/g)].map((m) => Number(m[1]));
      const contiguous = (ns: number[]) => ns.every((n, i) => i === 0 || n === (ns[i - 1] as number) + 1);
      const all = numbers(s.ok(['logs', 'rot']));
      assert.ok(all.length > 80, `the three files hold more than one file's worth (${all.length} lines)`);
      assert.ok(contiguous(all), `logs reads the files in order without a gap: ${all.slice(0, 5)} ... ${all.slice(-5)}`);
      assert.ok(!fs.existsSync(`${logPath}.3`), 'at most max-file files');
      const rotator = () =>
        fs.readdirSync('/proc').filter((p) => {
          try {
            return /^\d+$/.test(p) && fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(`berth-logrotate\0${logPath}`);
          } catch {
            return false;
          }
        });
      assert.equal(rotator().length, 1, 'one rotator beside the monitor');
      s.ok(['stop', '-t', '0', 'rot']);
      await new Promise((r) => follower.once('close', r));
      const seen = numbers(followed);
      assert.equal(seen[0], 0);
      const gap = seen.findIndex((n, i) => i > 0 && n !== (seen[i - 1] as number) + 1);
      assert.ok(contiguous(seen), `logs -f saw every line across the rotations (at ${gap}: ${seen.slice(Math.max(0, gap - 3), gap + 3)})`);
      await eventually(() => rotator().length === 0, 5_000);
      s.ok(['rm', id]);
      assert.ok(!fs.existsSync(logPath) && !fs.existsSync(`${logPath}.1`), 'rm removes every log file');
    } finally {
      // A failure above must not leave the container to the next tests.
      s.run(['rm', '-f', id]);
    }
  });

  test('log size is bounded by --log-opt max-size', () => {
    s.ok(['run', '--name', 'big', '--log-opt', 'max-size=64k', 'busybox', 'sh', '-c', 'i=0; while [ $i -lt 4000 ]; do echo "line $i padding padding padding padding"; i=$((i+1)); done']);
    const logPath = JSON.parse(s.ok(['inspect', 'big']))[0].LogPath as string;
    assert.ok(fs.statSync(logPath).size <= 64 * 1024 + 4096, `log is ${fs.statSync(logPath).size} bytes`);
    assert.match(s.ok(['logs', '--tail', '1', 'big']), /line 3999/);
    s.ok(['rm', 'big']);
  });

  test('exit ownership: stop removes a detached --rm container; a killed foreground run --rm is still cleaned up', async () => {
    const exits = path.join(s.runroot, 'exits');
    const id = s.ok(['run', '-d', '--rm', 'busybox', 'sleep', '100']).trim();
    s.ok(['stop', '-t', '1', id]);
    assert.equal(s.run(['inspect', id]).code, 1, 'stop of a --rm container removes it (conmon\'s exit command was skipped)');
    // A foreground run claims the exit; killed, its claim is void and conmon's exit command removes the container.
    const fg = s.spawn(['run', '--rm', '--name', 'orphaned', 'busybox', 'sleep', '5']);
    await eventually(() => s.run(['ps', '-q', '--filter', 'name=orphaned']).stdout.trim(), 20_000);
    assert.ok(fs.readdirSync(exits).some((f) => f.endsWith('.owner')), 'the foreground run claimed the exit');
    fg.kill('SIGKILL');
    await eventually(() => s.run(['ps', '-aq', '--filter', 'name=orphaned']).stdout.trim() === '', 20_000);
    // Foreground runs that finish normally leave no claim behind, with or without --rm.
    s.ok(['run', '--rm', 'busybox', 'true']);
    s.ok(['run', '--name', 'kept', 'busybox', 'true']);
    s.ok(['rm', 'kept']);
    assert.deepEqual(fs.readdirSync(exits).filter((f) => f.endsWith('.owner')), []);
  });

  test('OOM kills are recorded', () => {
    const r = s.run(['run', '--name', 'oom', '--memory', '16m', '--memory-swap', '16m', 'busybox', 'sh', '-c', 'x=$(head -c 64000000 /dev/zero | tr "\\0" a); echo $x | wc -c']);
    assert.equal(r.code, 137);
    assert.equal(JSON.parse(s.ok(['inspect', 'oom']))[0].State.OOMKilled, true);
    s.ok(['rm', 'oom']);
  });

  test('stats --no-stream, cpus and cpuset land in the cgroup', () => {
    s.ok(['run', '-d', '--name', 'st', '--cpus', '0.5', '--cpu-shares', '512', '--cpuset-cpus', '0', '--ulimit', 'nofile=512:1024', 'busybox', 'sleep', '100']);
    const out = s.ok(['stats', '--no-stream', '--format', '{{.Name}} {{.PIDs}} {{.MemUsage}}']);
    assert.match(out, /^st 1 \S+ \/ \S+$/m);
    const inside = s.ok(['exec', 'st', 'sh', '-c', 'cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.shares /sys/fs/cgroup/cpuset/cpuset.cpus 2>/dev/null; ulimit -n; ulimit -Hn']);
    assert.deepEqual(inside.trim().split('\n'), ['50000', '512', '0', '512', '1024']);
    s.ok(['rm', '-f', 'st']);
  });

  test('update: a running container\'s new limits land in its cgroup, a stopped one\'s at its next start; refusals record nothing', { skip: !fs.existsSync('/sys/fs/cgroup/memory') && 'reads cgroup v1 files' }, () => {
    s.ok(['run', '-d', '--network', 'none', '--name', 'upd', '--memory', '64m', 'busybox', 'sleep', '1000']);
    const cg = () => s.ok(['exec', 'upd', 'cat', '/sys/fs/cgroup/memory/memory.limit_in_bytes', '/sys/fs/cgroup/memory/memory.soft_limit_in_bytes', '/sys/fs/cgroup/cpu/cpu.cfs_quota_us', '/sys/fs/cgroup/pids/pids.max']).trim().split('\n');
    const hc = () => JSON.parse(s.ok(['inspect', 'upd']))[0].HostConfig;
    const before = cg();
    assert.equal(before[0], String(64 << 20));
    assert.deepEqual(before.slice(2), ['-1', 'max']);
    assert.equal(s.ok(['update', '--memory', '128m', '--memory-reservation', '32m', '--cpus', '0.5', '--pids-limit', '40', '--restart', 'on-failure:2', 'upd']), 'upd\n');
    assert.deepEqual(cg(), [String(128 << 20), String(32 << 20), '50000', '40']);
    const h = hc();
    assert.deepEqual(
      { m: h.Memory, r: h.MemoryReservation, c: h.NanoCpus, p: h.PidsLimit, rp: h.RestartPolicy },
      { m: 128 << 20, r: 32 << 20, c: 5e8, p: 40, rp: { Name: 'on-failure', MaximumRetryCount: 2 } },
    );
    // Refused by Berth (docker's rules) or by runc: exit 1, the reason, nothing recorded.
    const mixed = s.run(['update', '--cpu-quota', '20000', 'upd']);
    assert.equal(mixed.code, 1);
    assert.match(mixed.stderr, /NanoCPUs has already been set/);
    const cpus = s.run(['update', '--cpuset-cpus', String(os.cpus().length + 7), 'upd']);
    assert.equal(cpus.code, 1);
    assert.match(cpus.stderr, /Cannot update container [0-9a-f]{64}: .*cpuset/);
    assert.equal(hc().CpusetCpus, '', 'a limit the runtime refused is not recorded');
    const none = s.run(['update', 'upd']);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /one or more flags/);
    // -1 lifts the pids limit.
    s.ok(['update', '--pids-limit', '-1', 'upd']);
    assert.equal(cg()[3], 'max');
    // Stopped: recorded now, applied by the next start.
    s.ok(['stop', '-t', '0', 'upd']);
    s.ok(['update', '--memory', '96m', 'upd']);
    s.ok(['start', 'upd']);
    assert.equal(cg()[0], String(96 << 20));
    s.ok(['rm', '-f', 'upd']);
    s.ok(['run', '-d', '--rm', '--network', 'none', '--name', 'upd-rm', 'busybox', 'sleep', '1000']);
    const rp = s.run(['update', '--restart', 'always', 'upd-rm']);
    assert.equal(rp.code, 1);
    assert.match(rp.stderr, /AutoRemove is enabled/);
    s.ok(['rm', '-f', 'upd-rm']);
  });

  test('--device, --device-cgroup-rule, --pid, --uts, --ipc, --oom-score-adj and --cidfile', () => {
    // A node of the fuse device (10:229), which docker's default device rules do not allow.
    const node = path.join(s.dir, 'fusedev');
    fs.rmSync(node, { force: true });
    assert.equal(spawnSync('mknod', [node, 'c', '10', '229']).status, 0);
    const probe = 'ls -ln /dev/myfuse | cut -c1-10; exec 4>/dev/myfuse && echo write-ok';
    const ro = s.run(['run', '--rm', '--network', 'none', '--device', `${node}:/dev/myfuse:r`, 'busybox', 'sh', '-c', probe]);
    assert.match(ro.stdout, /^crw/);
    assert.doesNotMatch(ro.stdout, /write-ok/);
    assert.match(ro.stderr, /Operation not permitted/, 'the device cgroup allows reads only');
    const rule = s.run(['run', '--rm', '--network', 'none', '--device', `${node}:/dev/myfuse:r`, '--device-cgroup-rule', 'c 10:229 rw', 'busybox', 'sh', '-c', probe]);
    assert.doesNotMatch(rule.stderr, /Operation not permitted/, 'the rule adds writes');
    const missing = s.run(['run', '--rm', '--network', 'none', '--device', '/dev/no-such-device', 'busybox', 'true']);
    assert.equal(missing.code, 125);
    assert.match(missing.stderr, /error gathering device information while adding custom device "\/dev\/no-such-device": no such file or directory/);
    assert.match(s.run(['run', '--rm', '--device-cgroup-rule', 'x 1:2 r', 'busybox', 'true']).stderr, /invalid device cgroup rule/);

    // --pid container: sees the other container's processes; --pid host the host's.
    s.ok(['run', '-d', '--network', 'none', '--name', 'pidsrc', 'busybox', 'sleep', '1000']);
    const ps = s.ok(['run', '--rm', '--network', 'none', '--pid', 'container:pidsrc', 'busybox', 'ps', '-o', 'pid,args']);
    assert.match(ps, /^\s*1 sleep 1000$/m);
    assert.equal(JSON.parse(s.ok(['inspect', 'pidsrc']))[0].HostConfig.PidMode, '');
    // --ipc container: the same IPC namespace (System V IPC), not the host's.
    const ipcOf = (args: string[]) => s.ok(['run', '--rm', '--network', 'none', ...args, 'busybox', 'readlink', '/proc/self/ns/ipc']).trim();
    const donor = s.ok(['exec', 'pidsrc', 'readlink', '/proc/self/ns/ipc']).trim();
    assert.equal(ipcOf(['--ipc', 'container:pidsrc']), donor);
    assert.notEqual(ipcOf([]), donor);
    s.ok(['rm', '-f', 'pidsrc']);
    assert.match(s.ok(['run', '--rm', '--network', 'none', '--pid', 'host', 'busybox', 'ps', '-o', 'pid']), new RegExp(`^\\s*${process.pid}$`, 'm'), 'the test runner is visible');
    assert.match(s.run(['run', '--rm', '--pid', 'bogus', 'busybox', 'true']).stderr, /invalid PID mode: bogus/);

    assert.equal(s.ok(['run', '--rm', '--network', 'none', '--uts', 'host', 'busybox', 'hostname']).trim(), os.hostname());
    assert.match(s.run(['run', '--rm', '--uts', 'host', '-h', 'x', 'busybox', 'true']).stderr, /Conflicting options: hostname and the UTS mode/);
    // --ipc host: the host's /dev/shm.
    const shmFile = `/dev/shm/berth-test-${process.pid}`;
    fs.writeFileSync(shmFile, 'shared');
    try {
      assert.equal(s.ok(['run', '--rm', '--network', 'none', '--ipc', 'host', 'busybox', 'cat', shmFile]), 'shared');
    } finally {
      fs.rmSync(shmFile, { force: true });
    }
    assert.equal(s.ok(['run', '--rm', '--network', 'none', '--oom-score-adj', '321', 'busybox', 'cat', '/proc/self/oom_score_adj']).trim(), '321');
    assert.match(s.run(['run', '--rm', '--oom-score-adj', '5000', 'busybox', 'true']).stderr, /range for oom score adj is \[-1000, 1000\]/);

    const cid = path.join(s.dir, 'cid');
    fs.rmSync(cid, { force: true });
    const id = s.ok(['run', '-d', '--network', 'none', '--cidfile', cid, 'busybox', 'sleep', '1000']).trim();
    assert.equal(fs.readFileSync(cid, 'utf8'), id);
    const again = s.run(['run', '-d', '--network', 'none', '--cidfile', cid, 'busybox', 'true']);
    assert.equal(again.code, 125);
    assert.match(again.stderr, /Container ID file found/);
    s.ok(['rm', '-f', id]);
    assert.equal(s.ok(['ps', '-aq']).trim(), '', 'no refused run left a container');
  });

  test('--log-driver none: attached output still flows, nothing is kept, logs says it cannot read', async () => {
    assert.equal(s.ok(['run', '--rm', '--network', 'none', '--log-driver', 'none', 'busybox', 'echo', 'attached']), 'attached\n');
    const id = s.ok(['run', '-d', '--network', 'none', '--name', 'nolog', '--log-driver', 'none', 'busybox', 'sh', '-c', 'echo secret-line; sleep 1000']).trim();
    await sleep(300);
    const l = s.run(['logs', 'nolog']);
    assert.equal(l.code, 1);
    assert.match(l.stderr, /configured logging driver does not support reading/);
    assert.deepEqual(JSON.parse(s.ok(['inspect', 'nolog']))[0].HostConfig.LogConfig, { Type: 'none', Config: {} });
    assert.equal(fs.readFileSync(path.join(s.root, 'containers', id, 'ctr.log'), 'utf8'), '', 'conmon kept nothing');
    s.ok(['rm', '-f', 'nolog']);
    assert.match(s.run(['run', '--rm', '--log-driver', 'syslog', 'busybox', 'true']).stderr, /logging driver "syslog" is not supported/);
  });

  test('kill then start at once: the late exit command of the killed run never tears down the new run', () => {
    // Before the run lock, conmon's exit command for the killed run could delete the namespace and
    // root file system the new start had just set up (about 1 in 30 under load). Probabilistic.
    s.ok(['run', '-d', '--name', 'ks', 'busybox', 'sleep', '1000']);
    try {
      for (let i = 0; i < 10; i++) {
        s.ok(['kill', 'ks']);
        const r = s.run(['start', 'ks']);
        assert.equal(r.code, 0, `round ${i}: ${r.stderr}`);
        assert.equal(s.ok(['exec', 'ks', 'echo', 'alive']), 'alive\n', `round ${i}: the new run works`);
      }
    } finally {
      s.run(['rm', '-f', 'ks']);
    }
    assert.match(s.ok(['system', 'check', '--quick']), /store is consistent/);
  });

  test('attach and detach with ctrl-p ctrl-q leaves the container running', async () => {
    s.ok(['run', '-d', '-i', '--name', 'att', 'busybox', 'sh', '-c', 'while read l; do echo echo:$l; done']);
    const a = s.spawn(['attach', 'att']);
    let out = '';
    a.stdout.on('data', (d: Buffer) => (out += d.toString()));
    await sleep(300);
    a.stdin.write('ping\n');
    await eventually(() => out.includes('echo:ping'));
    a.stdin.write(Buffer.from([16, 17]));
    const code = await new Promise((r) => a.on('close', r));
    assert.equal(code, 0);
    assert.equal(JSON.parse(s.ok(['inspect', 'att']))[0].State.Running, true);
    s.ok(['rm', '-f', 'att']);
  });

  test('an unknown runtime and crun failures are clear engine errors, nothing left behind', () => {
    const r = s.run(['run', '--rm', '--runtime', 'nosuchruntime', 'busybox', 'true']);
    assert.equal(r.code, 125);
    assert.match(r.stderr, /runtime/);
    assert.equal(s.ok(['ps', '-aq']).trim(), '');
    assert.deepEqual(mountsUnder(s.dir), []);
  });

  test('without conmon on PATH: an engine error that says to install it, and nothing left behind', () => {
    // A PATH with node and the runtime but no conmon.
    const bin = path.join(s.dir, 'no-conmon-bin');
    fs.mkdirSync(bin, { recursive: true });
    if (!fs.existsSync(path.join(bin, 'node'))) fs.symlinkSync(process.execPath, path.join(bin, 'node'));
    const monitorsBefore = conmonsFor(s.dir).length;
    const r = s.run(['run', '--rm', 'busybox', 'true'], { env: { PATH: `${bin}:/usr/sbin:/sbin` } });
    assert.equal(r.code, 125, r.stderr);
    assert.match(r.stderr, /cannot run conmon/);
    assert.match(r.stderr, /apt-get install conmon/);
    assert.equal(s.ok(['ps', '-aq']).trim(), '');
    assert.deepEqual(mountsUnder(s.dir), []);
    assert.equal(conmonsFor(s.dir).length, monitorsBefore, 'no monitor was started');
  });
});
