/**
 * `berth --host` (remote mode) against `berth system service`: the everyday commands give the same
 * output and exit codes as local mode on the same store; what cannot go remote exits 125 and says
 * so. Also the service's POST /auth against a registry with htpasswd, TTY resize of containers and
 * execs (dockerode), and logs --follow of a container that was created but not started yet.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import Docker from 'dockerode';
import { freePort, startDistribution, writeHtpasswd } from '../src/registry/test-support.js';
import { type ServiceHandle, dockerCli, json, request, startService } from './api-support.js';
import { BIN, TestStore, eventually, isRoot, which } from './helpers.js';

async function serveBerthRegistry(root: string): Promise<{ host: string; stop(): Promise<void> }> {
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const child: ChildProcess = spawn(BIN, ['registry', 'serve', '--addr', host, '--root', root], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout?.on('data', (c: Buffer) => (log += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (log += c.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  await eventually(() => log.includes('listening') || child.exitCode !== null, 20_000);
  if (child.exitCode !== null) throw new Error(`berth registry serve exited: ${log}`);
  return {
    host,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}

describe('remote mode and API session 2 fixes', { skip: !isRoot && 'needs root' }, () => {
  const store = new TestStore('api-remote');
  let svc: ServiceHandle;
  let H: string[];
  const remote = (args: string[], opts: { input?: string } = {}) => store.run([...H, ...args], { ...opts, timeout: 90_000 });
  const rok = (args: string[], opts: { input?: string } = {}) => {
    const r = remote(args, opts);
    assert.equal(r.code, 0, `berth --host ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  before(async () => {
    store.busybox();
    svc = await startService(store);
    H = ['--host', `unix://${svc.socket}`];
  });
  after(async () => {
    await svc?.stop();
    store.cleanup();
  });

  it('run attached: output, exit code and --rm as locally; -i feeds stdin', () => {
    const cmd = ['run', '--rm', '--network', 'none', 'busybox', 'sh', '-c', 'echo out; echo err >&2; exit 3'];
    const r = remote(cmd);
    const l = store.run(cmd);
    assert.deepEqual({ code: r.code, stdout: r.stdout, stderr: r.stderr }, { code: l.code, stdout: l.stdout, stderr: l.stderr });
    assert.equal(r.code, 3);
    assert.equal(r.stdout, 'out\n');
    assert.equal(store.ok(['ps', '-aq']).trim(), '', 'both --rm containers are gone');
    assert.equal(rok(['run', '-i', '--rm', '--network', 'none', 'busybox', 'tr', 'a-z', 'A-Z'], { input: 'hello remote\n' }), 'HELLO REMOTE\n');
    const missing = remote(['run', '--rm', '--network', 'none', 'busybox', 'no-such-binary']);
    assert.equal(missing.code, store.run(['run', '--rm', '--network', 'none', 'busybox', 'no-such-binary']).code);
    const noImage = remote(['run', '--pull', 'never', 'nope/nothing:1']);
    assert.equal(noImage.code, 125);
  });

  it('update through the API as locally: limits, restart policy, refusals', () => {
    rok(['run', '-d', '--network', 'none', '--name', 'rupd', '--memory', '64m', 'busybox', 'sleep', '1000']);
    assert.equal(rok(['update', '--memory', '128m', '--memory-reservation', '16m', '--pids-limit', '25', '--restart', 'always', 'rupd']), 'rupd\n');
    const h = JSON.parse(store.ok(['inspect', 'rupd']))[0].HostConfig;
    assert.deepEqual({ m: h.Memory, r: h.MemoryReservation, p: h.PidsLimit, rp: h.RestartPolicy.Name }, { m: 128 << 20, r: 16 << 20, p: 25, rp: 'always' });
    assert.equal(store.ok(['exec', 'rupd', 'cat', '/sys/fs/cgroup/pids/pids.max']).trim(), '25');
    rok(['update', '--pids-limit', '0', 'rupd']);
    assert.equal(store.ok(['exec', 'rupd', 'cat', '/sys/fs/cgroup/pids/pids.max']).trim(), 'max', '0 lifts the limit, as in docker');
    const local = store.run(['update', '--memory', '256m', '--memory-swap', '200m', 'rupd']);
    const r = remote(['update', '--memory', '256m', '--memory-swap', '200m', 'rupd']);
    assert.deepEqual({ code: r.code, err: r.stderr }, { code: local.code, err: local.stderr });
    assert.equal(r.code, 1);
    const nothing = remote(['update', 'rupd']);
    assert.equal(nothing.code, 1);
    assert.match(nothing.stderr, /one or more flags/);
    rok(['rm', '-f', 'rupd']);
  });

  it('stats --no-stream as locally: names, limits, pids, the CPU share of a busy container', () => {
    rok(['run', '-d', '--network', 'none', '--name', 'st1', '--memory', '64m', 'busybox', 'sh', '-c', 'while true; do :; done']);
    rok(['create', '--name', 'st2', 'busybox', 'true']);
    const fmt = ['stats', '--no-stream', '-a', '--format', '{{.Name}} {{.MemUsage}} {{.PIDs}}'];
    const norm = (t: string) => t.split('\n').filter(Boolean).map((l) => l.replace(/^(\S+) \S+ \/ /, '$1 ')).sort();
    assert.deepEqual(norm(rok(fmt)), norm(store.ok(fmt)));
    assert.deepEqual(norm(rok(fmt)), ['st1 64MiB 1', 'st2 -- 0'].sort());
    const cpu = Number.parseFloat(rok(['stats', '--no-stream', '--format', '{{.CPUPerc}}', 'st1']));
    assert.ok(cpu > 20, `a spinning shell shows its CPU share (${cpu}%)`);
    rok(['rm', '-f', 'st1', 'st2']);
  });

  it('cp both ways (files, directories, renames, tar streams) as locally', () => {
    const work = fs.mkdtempSync(path.join(store.dir, 'cp-'));
    fs.mkdirSync(path.join(work, 'd', 'sub'), { recursive: true });
    fs.writeFileSync(path.join(work, 'd', 'sub', 'f'), 'hello\n');
    fs.writeFileSync(path.join(work, 't.txt'), 'top\n');
    fs.chownSync(path.join(work, 't.txt'), 1234, 1234);
    rok(['run', '-d', '--network', 'none', '--name', 'cp1', 'busybox', 'sleep', '1000']);
    rok(['cp', path.join(work, 't.txt'), 'cp1:/tmp/']);
    rok(['cp', path.join(work, 'd'), 'cp1:/tmp/dcopy']);
    rok(['cp', path.join(work, 't.txt'), 'cp1:/tmp/renamed.txt']);
    assert.equal(store.ok(['exec', 'cp1', 'sh', '-c', 'cat /tmp/t.txt /tmp/dcopy/sub/f /tmp/renamed.txt; stat -c %u:%g /tmp/t.txt']), 'top\nhello\ntop\n0:0\n', 'without -a the files belong to root, as docker does');
    rok(['cp', 'cp1:/tmp/dcopy', path.join(work, 'out')]);
    assert.equal(fs.readFileSync(path.join(work, 'out', 'sub', 'f'), 'utf8'), 'hello\n');
    fs.mkdirSync(path.join(work, 'into'));
    rok(['cp', 'cp1:/tmp/t.txt', `${path.join(work, 'into')}/`]);
    assert.equal(fs.readFileSync(path.join(work, 'into', 't.txt'), 'utf8'), 'top\n');
    const tarOut = remote(['cp', 'cp1:/tmp/t.txt', '-']);
    assert.equal(tarOut.code, 0, tarOut.stderr);
    assert.equal(tarOut.stdout.slice(0, 5), 't.txt', 'a tar stream whose entry is the file');
    const missing = remote(['cp', 'cp1:/nonexist', path.join(work, 'x')]);
    assert.equal(missing.code, store.run(['cp', 'cp1:/nonexist', path.join(work, 'x')]).code);
    assert.match(missing.stderr, /Could not find the file \/nonexist/);
    assert.equal(remote(['cp', '-L', 'cp1:/tmp/t.txt', path.join(work, 'x')]).code, 125, 'refused, not silently ignored');
    rok(['rm', '-f', 'cp1']);
  });

  it('exec, pause/unpause, restart, rename, top, diff, kill, wait as locally', () => {
    rok(['run', '-d', '--network', 'none', '--name', 'r1', 'busybox', 'sleep', '1000']);
    const e = remote(['exec', 'r1', 'sh', '-c', 'echo x; echo y >&2; touch /newfile; exit 4']);
    assert.deepEqual([e.code, e.stdout, e.stderr], [4, 'x\n', 'y\n']);
    assert.equal(rok(['exec', '-i', 'r1', 'cat'], { input: 'piped' }), 'piped');
    assert.equal(remote(['exec', 'r1', 'no-such-binary']).code, store.run(['exec', 'r1', 'no-such-binary']).code);
    assert.equal(rok(['exec', '-e', 'V=7', '-w', '/tmp', 'r1', 'sh', '-c', 'echo $V $(pwd)']), '7 /tmp\n');
    assert.equal(rok(['diff', 'r1']), store.ok(['diff', 'r1']));
    assert.match(rok(['diff', 'r1']), /^A \/newfile$/m);
    assert.equal(rok(['pause', 'r1']), 'r1\n');
    assert.equal(store.ok(['inspect', '--format', '{{.State.Status}}', 'r1']).trim(), 'paused');
    assert.equal(remote(['exec', 'r1', 'true']).code, 125);
    assert.equal(rok(['unpause', 'r1']), 'r1\n');
    const started = store.ok(['inspect', '--format', '{{.State.StartedAt}}', 'r1']);
    assert.equal(rok(['restart', '-t', '0', 'r1']), 'r1\n');
    assert.notEqual(store.ok(['inspect', '--format', '{{.State.StartedAt}}', 'r1']), started);
    rok(['rename', 'r1', 'r2']);
    assert.equal(store.ok(['inspect', '--format', '{{.Name}}', 'r2']).trim(), '/r2');
    const top = rok(['top', 'r2']);
    assert.match(top.split('\n')[0] as string, /PID/);
    assert.match(top, /sleep 1000/);
    rok(['run', '-d', '--network', 'none', '--name', 'at1', 'busybox', 'sh', '-c', 'sleep 1; echo late; exit 6']);
    const att = remote(['attach', '--no-stdin', 'at1']);
    assert.deepEqual([att.code, att.stdout], [6, 'late\n']);
    rok(['rm', 'at1']);
    assert.equal(rok(['kill', 'r2']), 'r2\n');
    assert.equal(rok(['wait', 'r2']), '137\n');
    const bad = remote(['kill', 'nope']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /Error response from daemon: .*nope/);
    rok(['rm', 'r2']);
  });

  it('ps, inspect, port, logs, create/start, prune print what local mode prints', () => {
    rok(['create', '--network', 'none', '--name', 'c1', '-p', '127.0.0.1:18080:80', '-l', 'k=v', 'busybox', 'sh', '-c', 'echo hi']);
    assert.equal(rok(['port', 'c1']), store.ok(['port', 'c1']));
    const fmt = ['ps', '-a', '--format', '{{.ID}}|{{.Names}}|{{.Image}}|{{.Command}}|{{.Ports}}|{{.Labels}}|{{.State}}|{{.CreatedAt}}'];
    assert.equal(rok(fmt), store.ok(fmt));
    assert.equal(rok(['ps', '-aq']), store.ok(['ps', '-aq']));
    const sfmt = ['ps', '-a', '-s', '--format', '{{.Names}} {{.Size}}'];
    assert.equal(rok(sfmt), store.ok(sfmt));
    assert.equal(rok(['start', 'c1']), 'c1\n');
    assert.equal(rok(['wait', 'c1']), '0\n');
    assert.equal(rok(['logs', 'c1']), 'hi\n');
    // The API tells clients json-file (the format its /logs serves); the local CLI names the file's own format.
    const viaApi = JSON.parse(rok(['inspect', 'c1'])) as { HostConfig: { LogConfig: { Type: string } } }[];
    const local = JSON.parse(store.ok(['inspect', 'c1'])) as typeof viaApi;
    assert.equal(viaApi[0]?.HostConfig.LogConfig.Type, 'json-file');
    for (const d of [...viaApi, ...local]) d.HostConfig.LogConfig.Type = 'k8s-file';
    assert.deepEqual(viaApi, local);
    const pruned = rok(['container', 'prune', '-f']);
    assert.match(pruned, /Deleted Containers:\n[0-9a-f]{64}\n\nTotal reclaimed space: /);
  });

  it('volume and network commands', () => {
    assert.equal(rok(['volume', 'create', '--label', 'a=b', 'rv1']), 'rv1\n');
    const vfmt = ['volume', 'ls', '--format', '{{.Driver}} {{.Name}} {{.Labels}} {{.Mountpoint}}'];
    assert.equal(rok(vfmt), store.ok(vfmt));
    assert.deepEqual(JSON.parse(rok(['volume', 'inspect', 'rv1'])), JSON.parse(store.ok(['volume', 'inspect', 'rv1'])));
    assert.equal(rok(['volume', 'rm', 'rv1']), 'rv1\n');
    const gone = remote(['volume', 'inspect', 'rv1']);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /Error response from daemon: .*rv1/);
    const id = rok(['network', 'create', '--subnet', '10.251.7.0/24', '--label', 'x=y', 'rnet']).trim();
    assert.match(id, /^[0-9a-f]{64}$/);
    const nfmt = ['network', 'ls', '--format', '{{.ID}} {{.Name}} {{.Driver}} {{.Labels}} {{.Internal}}'];
    assert.equal(rok(nfmt), store.ok(nfmt));
    store.ok(['create', '--network', 'none', '--name', 'nc1', 'busybox', 'true']);
    const conn = remote(['network', 'connect', '--alias', 'db', 'rnet', 'nc1']);
    const connLocal = conn.code === 0 ? undefined : store.run(['network', 'connect', '--alias', 'db', 'rnet', 'nc1']);
    assert.equal(conn.code, connLocal?.code ?? 0, `remote connect: ${conn.stderr} / local: ${connLocal?.stderr}`);
    assert.deepEqual(JSON.parse(rok(['network', 'inspect', 'rnet'])), JSON.parse(store.ok(['network', 'inspect', 'rnet'])));
    store.ok(['rm', 'nc1']);
    assert.equal(rok(['network', 'rm', 'rnet']), 'rnet\n');
  });

  it('system df and events match local mode', () => {
    const dfmt = ['system', 'df', '--format', '{{.Type}} {{.TotalCount}} {{.Active}} {{.Size}} {{.Reclaimable}}'];
    assert.equal(rok(dfmt), store.ok(dfmt));
    const since = String(Math.floor(Date.now() / 1000) - 600);
    const until = String(Math.floor(Date.now() / 1000) + 1);
    const ev = ['events', '--since', since, '--until', until, '--filter', 'type=container'];
    const out = rok(ev);
    assert.equal(out, store.ok(ev));
    assert.match(out, /^\S+Z container create [0-9a-f]{64} \(.*name=r1.*\)$/m);
    assert.match(out, /container destroy/);
  });

  it('tag, push, rmi, pull through a loopback registry; build from a directory with .dockerignore', async () => {
    const reg = await serveBerthRegistry(path.join(store.dir, 'registry'));
    try {
      const ref = `${reg.host}/remote/bb:1`;
      assert.equal(rok(['tag', 'busybox', ref]), '');
      const pushed = rok(['push', ref]);
      assert.match(pushed, /Pushed|Layer already exists|Mounted from/);
      assert.match(pushed, /1: digest: sha256:[0-9a-f]{64}/);
      const rmi = rok(['rmi', ref]);
      assert.match(rmi, new RegExp(`^Untagged: ${ref.replace(/\./g, '\\.')}$`, 'm'));
      const pulled = rok(['pull', ref]);
      assert.equal(pulled.trim().split('\n').pop(), ref);
      assert.match(store.ok(['images', '--format', '{{.Repository}}:{{.Tag}}']), new RegExp(`^${ref.replace(/\./g, '\\.')}$`, 'm'));
      const ifmt = ['images', '--format', '{{.Repository}} {{.Tag}} {{.ID}} {{.Size}} {{.CreatedAt}}'];
      assert.equal(rok(ifmt), store.ok(ifmt));
    } finally {
      await reg.stop();
    }
    const ctx = path.join(store.dir, 'build-ctx');
    fs.mkdirSync(path.join(ctx, 'sub'), { recursive: true });
    fs.writeFileSync(path.join(ctx, 'Dockerfile'), 'FROM busybox\nRUN echo built > /b\nCOPY . /ctx/\n');
    fs.writeFileSync(path.join(ctx, 'sub', 'f'), 'file-in-context\n');
    fs.writeFileSync(path.join(ctx, 'secret.txt'), 'must not be sent\n');
    fs.writeFileSync(path.join(ctx, '.dockerignore'), 'secret.txt\n');
    const b = remote(['build', '--progress', 'plain', '-t', 'remote-built:1', ctx]);
    assert.equal(b.code, 0, b.stderr);
    assert.match(b.stderr, /^#\d+ \[2\/3\] RUN echo built > \/b$/m);
    assert.match(b.stderr, /^#\d+ DONE \d+\.\ds$/m);
    assert.match(b.stderr, /^writing image sha256:[0-9a-f]{64} done$/m);
    assert.match(b.stderr, /^naming to .*remote-built:1 done$/m);
    const run = remote(['run', '--rm', '--network', 'none', 'remote-built:1', 'sh', '-c', 'cat /b /ctx/sub/f; ls /ctx']);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^built\nfile-in-context\n/);
    assert.doesNotMatch(run.stdout, /secret\.txt/);
    const q = remote(['build', '-q', '-f', path.join(ctx, 'Dockerfile'), ctx]);
    assert.match(q.stdout, /^sha256:[0-9a-f]{64}\n$/);
    // A Dockerfile outside the context travels in the tar under a name of its own.
    const outside = path.join(store.dir, 'Outside.Dockerfile');
    fs.writeFileSync(outside, 'FROM busybox\nRUN echo outside > /o\n');
    const o = remote(['build', '-q', '-f', outside, '-t', 'remote-outside', ctx]);
    assert.equal(o.code, 0, o.stderr);
    assert.equal(rok(['run', '--rm', '--network', 'none', 'remote-outside', 'cat', '/o']), 'outside\n');
  });

  it('docker run --rm whose start fails: the service removes the container, the client exits 127 (no hang)', { skip: !fs.existsSync('/usr/local/bin/docker') && 'needs docker v28' }, () => {
    const r = dockerCli('/usr/local/bin/docker', svc.socket, ['run', '--rm', '--network', 'none', 'busybox', '/no/such/binary'], { timeout: 30_000 });
    assert.equal(r.code, 127, r.stderr);
    assert.match(r.stderr, /no such file or directory|not found/);
    assert.equal(store.ok(['ps', '-aq']).trim(), '');
  });

  it('run -it and exec -it through a pty: the terminal size reaches the container (berth --host and docker v28)', { skip: !which('script') && 'needs script(1)' }, async () => {
    const berth = `${BIN} --host unix://${svc.socket}`;
    // script's stdin stays open until the command ends, as a user's terminal does.
    const inPty = async (cmd: string) => {
      const child = spawn('script', ['-qec', cmd, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, DOCKER_HOST: `unix://${svc.socket}`, DOCKER_CONFIG: path.join(store.dir, 'docker-config') } });
      let out = '';
      child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
      const status = await Promise.race([new Promise<number | null>((r) => child.once('exit', (c) => r(c))), new Promise<null>((r) => setTimeout(() => r(null), 60_000))]);
      child.stdin?.end();
      if (child.exitCode === null) child.kill('SIGKILL');
      return { status, stdout: out };
    };
    // The size travels in the create body (HostConfig.ConsoleSize): it holds from the first instruction.
    const r = await inPty(`stty rows 41 cols 103; ${berth} run --rm -it --network none busybox sh -c 'stty size; exit 4'`);
    assert.equal(r.status, 4, r.stdout);
    assert.match(r.stdout, /41 103\r*$/m);
    if (fs.existsSync('/usr/local/bin/docker')) {
      const d = await inPty(`stty rows 27 cols 95; /usr/local/bin/docker run --name dcs -it --network none busybox stty size`);
      assert.equal(d.status, 0, d.stdout);
      assert.match(d.stdout, /27 95\r*$/m);
      assert.equal(store.ok(['inspect', '--format', '{{json .HostConfig.ConsoleSize}}', 'dcs']).trim(), '[27,95]', 'docker sent the size with the create');
      rok(['rm', 'dcs']);
    }
    rok(['run', '-d', '--network', 'none', '--name', 'tty1', 'busybox', 'sleep', '1000']);
    const e = await inPty(`stty rows 37 cols 91; ${berth} exec -it tty1 sh -c 'stty size; tty'`);
    assert.equal(e.status, 0, e.stdout);
    assert.match(e.stdout, /37 91\r*$/m);
    assert.match(e.stdout, /\/dev\/pts\/\d+/);
    if (fs.existsSync('/usr/local/bin/docker')) {
      // docker sends ConsoleSize with the exec: the size holds from the first instruction.
      const d = await inPty(`stty rows 29 cols 77; /usr/local/bin/docker exec -it tty1 stty size`);
      assert.equal(d.status, 0, d.stdout);
      assert.match(d.stdout, /29 77\r*$/m);
    }
    rok(['rm', '-f', 'tty1']);
  });

  it('run -it: the detach keys leave the container running (berth --host)', { skip: !which('script') && 'needs script(1)' }, async () => {
    const berth = `${BIN} --host unix://${svc.socket}`;
    const child = spawn('script', ['-qec', `${berth} run -it --name dt1 --network none busybox sh`, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    const code = new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    await eventually(() => store.run(['inspect', '--format', '{{.State.Status}}', 'dt1']).stdout.trim() === 'running', 20_000);
    await new Promise((r) => setTimeout(r, 500));
    child.stdin?.write('echo still-here\r');
    await eventually(() => out.includes('still-here'), 10_000);
    child.stdin?.write('\x10\x11');
    assert.equal(await Promise.race([code, new Promise((r) => setTimeout(() => r('timeout'), 15_000))]), 0, out);
    assert.match(out, /read escape sequence/);
    assert.equal(store.ok(['inspect', '--format', '{{.State.Status}}', 'dt1']).trim(), 'running');
    rok(['rm', '-f', 'dt1']);
  });

  it('attach with stdin to a TTY container: without detachKeys the service detaches on ctrl-p ctrl-q, as dockerd does', async () => {
    const id = rok(['run', '-dit', '--name', 'dt2', '--network', 'none', 'busybox', 'sh']).trim();
    const sock = net.connect(svc.socket);
    let got = '';
    const ended = new Promise<void>((r) => sock.once('close', () => r()));
    sock.on('data', (d: Buffer) => (got += d.toString('latin1')));
    sock.write(`POST /v1.45/containers/${id}/attach?stream=1&stdin=1&stdout=1&stderr=1 HTTP/1.1\r\nHost: berth\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n`);
    await eventually(() => got.includes('101'), 10_000);
    sock.write('echo still-here\n');
    await eventually(() => got.includes('still-here'), 10_000);
    sock.write('\x10\x11');
    const result = await Promise.race([ended.then(() => 'closed'), new Promise((r) => setTimeout(() => r('timeout'), 10_000))]);
    sock.destroy();
    assert.equal(result, 'closed', 'the service ended the attach on the default detach keys');
    assert.equal(store.ok(['inspect', '--format', '{{.State.Status}}', 'dt2']).trim(), 'running', 'detached, not stopped');
    rok(['rm', '-f', 'dt2']);
  });

  it('history, commit, export, save, load, import, image prune', () => {
    const hfmt = ['history', '--format', '{{.ID}}|{{.CreatedBy}}|{{.Size}}|{{.Comment}}', 'busybox'];
    assert.equal(rok(hfmt), store.ok(hfmt));
    assert.equal(rok(['history', '-q', 'busybox']), store.ok(['history', '-q', 'busybox']));
    rok(['run', '-d', '--network', 'none', '--name', 'cm1', 'busybox', 'sleep', '1000']);
    rok(['exec', 'cm1', 'sh', '-c', 'echo kept > /kept']);
    const id = rok(['commit', '-m', 'remote commit', '-c', 'ENV X=1', 'cm1', 'committed:1']).trim();
    assert.match(id, /^sha256:[0-9a-f]{64}$/);
    assert.match(store.ok(['image', 'inspect', '--format', '{{.Config.Env}} {{.Comment}}', 'committed:1']), /X=1.*remote commit/);
    const exp = path.join(store.dir, 'export.tar');
    rok(['export', '-o', exp, 'cm1']);
    const entries = spawnSync('tar', ['tf', exp]).stdout.toString();
    assert.match(entries, /^(\.\/)?kept$/m);
    rok(['rm', '-f', 'cm1']);
    const imported = rok(['import', '-c', 'CMD ["/bin/sh"]', exp, 'imported:1']).trim();
    assert.match(imported, /^sha256:[0-9a-f]{64}$/);
    assert.equal(rok(['run', '--rm', '--network', 'none', 'imported:1', 'cat', '/kept']), 'kept\n');
    const saved = path.join(store.dir, 'saved.tar');
    rok(['save', '-o', saved, 'committed:1']);
    assert.match(spawnSync('tar', ['tf', saved]).stdout.toString(), /^manifest\.json$/m);
    rok(['rmi', 'committed:1']);
    assert.equal(rok(['load', '-i', saved]), 'Loaded image: committed:1\n');
    assert.equal(store.ok(['load', '-i', saved]), 'Loaded image: committed:1\n');
    const oci = store.run([...H, 'save', '--format', 'oci-dir', '-o', path.join(store.dir, 'oci'), 'committed:1']);
    assert.equal(oci.code, 125);
    assert.match(oci.stderr, /"berth image save --format oci-dir" does not run over --host\/BERTH_HOST: the API saves docker-archive only/);
    rok(['rmi', 'committed:1', 'imported:1']);
    assert.match(rok(['image', 'prune', '-f']), /Total reclaimed space: /);
  });

  it('refuses what cannot go remote with exit 125 and a reason', () => {
    const dry = remote(['system', 'prune', '--dry-run']);
    assert.equal(dry.code, 125);
    assert.match(dry.stderr, /"berth system prune --dry-run" does not run over --host\/BERTH_HOST: the API’s prune endpoints have no dry run/);
    const check = remote(['system', 'check']);
    assert.equal(check.code, 125);
    assert.match(check.stderr, /checks and repairs the store files of this machine; unset BERTH_HOST/);
    assert.match(check.stderr, /Commands that do: .*container exec.*login, logout.*system info, system prune/);
    const secret = remote(['build', '--secret', 'id=s,src=/etc/hostname', '.']);
    assert.equal(secret.code, 125);
    assert.match(secret.stderr, /"berth image build --secret" does not run over --host/);
    const env = spawnSync(BIN, ['ps', '-aq'], { env: { ...process.env, BERTH_HOST: 'unix:///nonexistent/berth.sock' } });
    assert.equal(env.status, 1);
    assert.match(env.stderr.toString(), /Cannot connect to the Berth API at unix:\/\/\/nonexistent\/berth\.sock/);
  });

  it('POST /auth checks the credentials with the registry: 401 with docker\'s message when wrong', { skip: !which('docker-registry') && 'needs docker-registry' }, async () => {
    const root = path.join(store.dir, 'auth-registry');
    fs.mkdirSync(root, { recursive: true });
    await writeHtpasswd(path.join(root, 'htpasswd'), 'alice', 'right-pass');
    const dist = await startDistribution(root, { htpasswd: path.join(root, 'htpasswd') });
    try {
      const wrong = await request(svc.socket, 'POST', '/v1.45/auth', { username: 'alice', password: 'wrong', serveraddress: dist.host });
      assert.equal(wrong.status, 401);
      assert.deepEqual(json(wrong), { message: `login attempt to http://${dist.host}/v2/ failed with status: 401 Unauthorized` });
      const ok = await request(svc.socket, 'POST', '/v1.45/auth', { username: 'alice', password: 'right-pass', serveraddress: `http://${dist.host}/` });
      assert.equal(ok.status, 200);
      assert.equal((json(ok) as { Status: string }).Status, 'Login Succeeded');
      if (fs.existsSync('/usr/local/bin/docker')) {
        const d = (args: string[], input: string) => dockerCli('/usr/local/bin/docker', svc.socket, args, { input });
        const bad = d(['login', '-u', 'alice', '--password-stdin', dist.host], 'wrong\n');
        assert.equal(bad.code, 1);
        assert.match(bad.stderr, new RegExp(`login attempt to http://${dist.host.replace(/\./g, '\\.')}/v2/ failed with status: 401 Unauthorized`));
        const good = d(['login', '-u', 'alice', '--password-stdin', dist.host], 'right-pass\n');
        assert.equal(good.code, 0, good.stderr);
        assert.match(good.stdout, /Login Succeeded/);
      }
    } finally {
      await dist.close();
    }
  });

  it('HostConfig.ConsoleSize on a raw create: the TTY has that size from the first instruction, inspect shows it', async () => {
    const create = async (hostConfig: Record<string, unknown>) => {
      const r = await request(svc.socket, 'POST', '/v1.45/containers/create', { Image: 'busybox', Cmd: ['stty', 'size'], Tty: true, HostConfig: { NetworkMode: 'none', ...hostConfig } });
      return { status: r.status, body: json(r) as { Id: string; message: string } };
    };
    const { status, body } = await create({ ConsoleSize: [31, 97] });
    assert.equal(status, 201);
    const id = body.Id;
    try {
      assert.equal((await request(svc.socket, 'POST', `/v1.45/containers/${id}/start`)).status, 204);
      assert.equal((json(await request(svc.socket, 'POST', `/v1.45/containers/${id}/wait`)) as { StatusCode: number }).StatusCode, 0);
      const logs = await request(svc.socket, 'GET', `/v1.45/containers/${id}/logs?stdout=1&stderr=1`);
      assert.equal(logs.body.toString().trim(), '31 97', 'a TTY log is raw, not stdcopy-framed');
      const doc = json(await request(svc.socket, 'GET', `/v1.45/containers/${id}/json`)) as { HostConfig: { ConsoleSize: number[] } };
      assert.deepEqual(doc.HostConfig.ConsoleSize, [31, 97]);
      // Kept with the container, like dockerd: a restart starts with the same size.
      assert.equal((await request(svc.socket, 'POST', `/v1.45/containers/${id}/start`)).status, 204);
      await request(svc.socket, 'POST', `/v1.45/containers/${id}/wait`);
      const again = await request(svc.socket, 'GET', `/v1.45/containers/${id}/logs?stdout=1`);
      assert.deepEqual(again.body.toString().trim().split(/\r?\n/), ['31 97', '31 97']);
    } finally {
      await request(svc.socket, 'DELETE', `/v1.45/containers/${id}?force=1`);
    }
    const bad = await create({ ConsoleSize: [31] });
    assert.equal(bad.status, 400);
    assert.match(bad.body.message, /HostConfig\.ConsoleSize/);
  });

  it('resize reaches the TTY of a container and of an exec (dockerode)', async () => {
    const docker = new Docker({ socketPath: svc.socket });
    const ctr = await docker.createContainer({ Image: 'busybox', Cmd: ['sh', '-c', 'while read x; do stty size; done'], Tty: true, OpenStdin: true, HostConfig: { NetworkMode: 'none' } });
    await ctr.start();
    try {
      const seen = async (stream: NodeJS.ReadWriteStream, want: string) => {
        let out = '';
        stream.on('data', (d: Buffer) => (out += d.toString()));
        for (let i = 0; i < 50 && !out.includes(want); i++) {
          stream.write('\n');
          await new Promise((r) => setTimeout(r, 100));
        }
        return out;
      };
      const att = (await ctr.attach({ stream: true, stdin: true, stdout: true, hijack: true })) as NodeJS.ReadWriteStream;
      await ctr.resize({ h: 31, w: 97 });
      assert.match(await seen(att, '31 97'), /31 97/);
      const ex = await ctr.exec({ Cmd: ['sh', '-c', 'while read x; do stty size; done'], AttachStdin: true, AttachStdout: true, Tty: true });
      const s = (await ex.start({ hijack: true, stdin: true, Tty: true })) as NodeJS.ReadWriteStream;
      await ex.resize({ h: 33, w: 111 });
      assert.match(await seen(s, '33 111'), /33 111/);
      await ex.resize({ h: 20, w: 70 });
      assert.match(await seen(s, '20 70'), /20 70/);
      s.end();
      att.end();
      const plain = await ctr.exec({ Cmd: ['true'], AttachStdout: true });
      await assert.rejects(plain.resize({ h: 10, w: 10 }), /no TTY/);
    } finally {
      await ctr.remove({ force: true });
    }
  });

  it('logs?follow=1 of a created container waits for its start, then ends with it', async () => {
    const docker = new Docker({ socketPath: svc.socket });
    const ctr = await docker.createContainer({ Image: 'busybox', Cmd: ['sh', '-c', 'echo first; sleep 0.3; echo second'], HostConfig: { NetworkMode: 'none' } });
    try {
      let body = '';
      let ended = false;
      const done = new Promise<void>((resolve, reject) => {
        http
          .get({ socketPath: svc.socket, path: `/v1.45/containers/${ctr.id}/logs?follow=1&stdout=1&stderr=1` }, (res) => {
            res.on('data', (d: Buffer) => (body += d.toString()));
            res.on('end', () => {
              ended = true;
              resolve();
            });
          })
          .on('error', reject);
      });
      await new Promise((r) => setTimeout(r, 1000));
      assert.equal(ended, false, 'the stream stays open while the container is only created');
      await ctr.start();
      await Promise.race([done, new Promise((_r, rej) => setTimeout(() => rej(new Error('logs did not end after the container stopped')), 20_000))]);
      assert.match(body, /first\n[\s\S]*second\n/);
    } finally {
      await ctr.remove({ force: true });
    }
  });

  it('info and system prune print what local mode prints (prompt, sections, total)', () => {
    const ifmt = ['info', '--format', '{{.ServerVersion}} {{.Containers}} {{.Images}} {{.DockerRootDir}}'];
    assert.equal(rok(ifmt), store.ok(ifmt));
    assert.equal(rok(['info']), store.ok(['info']));
    assert.match(rok(['info']), /^DockerRootDir: /m);

    // A running container keeps busybox; start from a pruned store so both rounds see the same.
    rok(['run', '-d', '--network', 'none', '--name', 'keep', 'busybox', 'sleep', '1000']);
    store.ok(['system', 'prune', '-a', '-f', '--volumes']);
    const ctx = path.join(store.dir, 'prune-ctx');
    fs.mkdirSync(ctx, { recursive: true });
    fs.writeFileSync(path.join(ctx, 'Dockerfile'), 'FROM busybox\nRUN echo cached > /c\n');
    const scenario = () => {
      store.ok(['run', '--network', 'none', '--name', 'gone', '-v', '/data', 'busybox', 'sh', '-c', 'echo x > /data/x; echo y > /y']);
      store.ok(['commit', 'gone', 'prunable:1']);
      store.ok(['commit', 'gone']);
      store.ok(['network', 'create', '--subnet', '10.251.9.0/24', 'prunenet']);
      store.ok(['build', '-q', '-t', 'bc:1', ctx]);
    };
    const norm = (t: string) => t.replace(/[0-9a-f]{64}/g, '<id>');
    scenario();
    const cancelled = remote(['system', 'prune', '-a', '--volumes'], { input: 'n\n' });
    const cancelledLocal = store.run(['system', 'prune', '-a', '--volumes'], { input: 'n\n' });
    assert.deepEqual([cancelled.code, cancelled.stdout, cancelled.stderr], [cancelledLocal.code, cancelledLocal.stdout, cancelledLocal.stderr]);
    assert.match(cancelled.stderr, /WARNING! This will remove:[\s\S]*all anonymous volumes[\s\S]*system prune has been cancelled/);
    const viaApi = remote(['system', 'prune', '-a', '--volumes'], { input: 'y\n' });
    assert.equal(viaApi.code, 0, viaApi.stderr);
    scenario();
    const local = store.run(['system', 'prune', '-a', '--volumes'], { input: 'y\n' });
    assert.equal(local.code, 0, local.stderr);
    assert.equal(norm(viaApi.stdout), norm(local.stdout));
    assert.equal(viaApi.stderr, local.stderr);
    for (const section of ['Deleted Containers:', 'Deleted Networks:\nprunenet', 'Deleted Volumes:', 'untagged: prunable:1', 'untagged: bc:1', 'Deleted build cache objects:'])
      assert.ok(viaApi.stdout.includes(section), `${section} in:\n${viaApi.stdout}`);
    assert.doesNotMatch(viaApi.stdout, /Total reclaimed space: 0B/);
    assert.equal(store.ok(['ps', '-a', '--format', '{{.Names}}']), 'keep\n');
    assert.match(store.ok(['images', '--format', '{{.Repository}}']), /busybox/);
    // Nothing left to prune: the same empty answer both ways.
    assert.equal(rok(['system', 'prune', '-f']), store.ok(['system', 'prune', '-f']));
    if (fs.existsSync('/usr/local/bin/docker')) {
      // The docker CLI's builder prune and system prune call the same endpoints.
      scenario();
      const b = dockerCli('/usr/local/bin/docker', svc.socket, ['builder', 'prune', '-a', '-f']);
      assert.equal(b.code, 0, b.stderr);
      assert.match(b.stdout, /Deleted build cache objects:\nsha256:[0-9a-f]{64}\n[\s\S]*Total reclaimed space: /);
      const d = dockerCli('/usr/local/bin/docker', svc.socket, ['system', 'prune', '-a', '-f']);
      assert.equal(d.code, 0, d.stderr);
      assert.match(d.stdout, /Deleted Containers:[\s\S]*Deleted Networks:\nprunenet[\s\S]*untagged: prunable:1[\s\S]*Total reclaimed space: /);
      assert.equal(store.ok(['ps', '-a', '--format', '{{.Names}}']), 'keep\n');
      store.ok(['volume', 'prune', '-f']);
    }
    rok(['rm', '-f', 'keep']);
  });

});
