/**
 * `berth build` end to end on busybox: instructions and the resulting config, multi-stage, cache hits
 * and invalidation, .dockerignore, build args, heredocs, RUN mounts, secrets, failures, reproducibility,
 * stdin forms, and (printed, not asserted) timings of an 8-step 5,000-file context.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BIN, TestStore, isRoot, mountsUnder, which } from './helpers.js';

const store = new TestStore('build');
let n = 0;
function ctxDir(files: Record<string, string>): string {
  const dir = path.join(store.dir, `ctx-${n++}`);
  for (const [f, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
    fs.writeFileSync(path.join(dir, f), content);
  }
  return dir;
}
const config = (img: string) => JSON.parse(store.ok(['image', 'inspect', img, '--format', '{{json .Config}}'])) as Record<string, unknown>;
const cat = (img: string, file: string) => store.ok(['run', '--rm', img, 'cat', file]);

describe('build', { skip: !isRoot && 'needs root' }, () => {
  before(() => store.busybox());
  after(() => store.cleanup());

  it('applies every instruction to the config as docker does', () => {
    const dir = ctxDir({
      Dockerfile: [
        'FROM busybox',
        'LABEL a=1 "b c"=two',
        'MAINTAINER someone',
        'ENV A=x B="y z"',
        'ARG V=1',
        'WORKDIR /app',
        'WORKDIR sub',
        'USER 1000:1000',
        'EXPOSE 80 53/udp',
        'VOLUME /data',
        'STOPSIGNAL SIGINT',
        'HEALTHCHECK --interval=5s --retries=2 CMD true',
        'SHELL ["/bin/sh", "-ec"]',
        'ONBUILD RUN echo child',
        'ENTRYPOINT ["/bin/echo"]',
        'CMD hello $A',
      ].join('\n'),
    });
    store.ok(['build', '-q', '-t', 'all:1', dir]);
    const c = config('all:1');
    assert.deepEqual(c.Env, ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'A=x', 'B=y z']);
    assert.deepEqual(c.Labels, { a: '1', 'b c': 'two' });
    assert.equal(c.WorkingDir, '/app/sub');
    assert.equal(c.User, '1000:1000');
    assert.deepEqual(c.ExposedPorts, { '80/tcp': {}, '53/udp': {} });
    assert.deepEqual(c.Volumes, { '/data': {} });
    assert.equal(c.StopSignal, 'SIGINT');
    assert.deepEqual(c.Healthcheck, { Test: ['CMD-SHELL', 'true'], Interval: 5e9, Retries: 2 });
    assert.deepEqual(c.Shell, ['/bin/sh', '-ec']);
    assert.deepEqual(c.OnBuild, ['RUN echo child']);
    assert.deepEqual(c.Entrypoint, ['/bin/echo']);
    assert.deepEqual(c.Cmd, ['/bin/sh', '-ec', 'hello $A']);
    const hist = store.ok(['history', '--no-trunc', '--format', '{{.CreatedBy}}', 'all:1']);
    assert.match(hist, /^CMD \["\/bin\/sh" "-ec" "hello \$A"\]$/m);
    // BuildKit's history strings (Go's %v / %q of its values); WORKDIR and metadata steps get no suffix.
    assert.match(hist, /^WORKDIR \/app$/m);
    assert.match(hist, /^ARG V=1$/m);
    assert.match(hist, /^EXPOSE map\[53\/udp:\{\} 80\/tcp:\{\}\]$/m);
    assert.match(hist, /^VOLUME \[\/data\]$/m);
    assert.match(hist, /^SHELL \[\/bin\/sh -ec\]$/m);
    assert.match(hist, /^HEALTHCHECK &\{\["CMD-SHELL" "true"\] "5s" "0s" "0s" "0s" '\\x02'\}$/m);
    // The ONBUILD trigger fires in a child build and is not inherited.
    const child = ctxDir({ Dockerfile: 'FROM all:1\nUSER root\nRUN test -d /app/sub && echo fired > /fired\n' });
    store.ok(['build', '-q', '-t', 'child:1', child]);
    assert.equal(config('child:1').OnBuild ?? null, null);
    assert.equal(store.ok(['run', '--rm', '--entrypoint', 'cat', 'child:1', '/fired']), 'fired\n');
  });

  it('builds only the stages the target needs and copies between stages', () => {
    const dir = ctxDir({
      Dockerfile: [
        'FROM busybox AS base',
        'RUN echo base > /base',
        'FROM busybox AS unused',
        'RUN false',
        'FROM base AS build',
        'RUN echo built > /out',
        'FROM busybox',
        'COPY --from=build /out /base /res/',
        'COPY --from=0 /base /b0',
      ].join('\n'),
    });
    store.ok(['build', '-q', '-t', 'ms:1', dir]);
    assert.equal(cat('ms:1', '/res/out'), 'built\n');
    assert.equal(cat('ms:1', '/b0'), 'base\n');
    store.ok(['build', '-q', '-t', 'ms:base', '--target', 'build', dir]);
    assert.equal(cat('ms:base', '/out'), 'built\n');
  });

  it('runs a heredoc with a shebang under its interpreter and leaks no /.dockerenv into COPY --from', () => {
    const dir = ctxDir({
      Dockerfile: [
        'FROM busybox AS s',
        'RUN <<EOT',
        '#!/usr/bin/awk -f',
        'BEGIN { print "from-awk" > "/awk-out" }',
        'EOT',
        'FROM busybox',
        'COPY --from=s /awk-out /',
      ].join('\n'),
    });
    store.ok(['build', '-q', '-t', 'shebang:1', dir]);
    assert.equal(cat('shebang:1', '/awk-out'), 'from-awk\n');
    const leak = ctxDir({ Dockerfile: 'FROM busybox AS s\nRUN true\nFROM busybox\nCOPY --from=s /.dockerenv /x\n' });
    const r = store.run(['build', leak]);
    assert.notEqual(r.code, 0, 'COPY --from found a /.dockerenv the stage does not have');
    assert.match(r.stderr, /"\/\.dockerenv": not found/);
  });

  it('applies --chown and --chmod to copied files and directories', () => {
    const dir = ctxDir({
      Dockerfile: 'FROM busybox\nCOPY --chown=7:8 --chmod=640 f /f2\nCOPY --chown=1000:1000 tree /opt/tree/\nCOPY tree/sub/x /plain\n',
      f: 'f',
      'tree/sub/x': 'x',
      'tree/y': 'y',
    });
    fs.chmodSync(path.join(dir, 'tree/y'), 0o751);
    store.ok(['build', '-q', '-t', 'own:1', dir]);
    const out = store.ok(['run', '--rm', 'own:1', 'stat', '-c', '%n %u:%g %a', '/f2', '/opt', '/opt/tree', '/opt/tree/sub', '/opt/tree/sub/x', '/opt/tree/y', '/plain']);
    assert.deepEqual(out.trim().split('\n'), [
      '/f2 7:8 640',
      '/opt 1000:1000 755',
      '/opt/tree 1000:1000 755',
      '/opt/tree/sub 1000:1000 755',
      '/opt/tree/sub/x 1000:1000 644',
      '/opt/tree/y 1000:1000 751',
      '/plain 0:0 644',
    ]);
  });

  it('draws a live view on a terminal (--progress tty)', () => {
    const dir = ctxDir({ Dockerfile: 'FROM busybox\nRUN echo live-line\n' });
    const r = store.run(['build', '--progress', 'tty', '--no-cache', dir]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /\[\+\] Building \d+\.\ds \(\d+\/\d+\) FINISHED/);
    assert.match(r.stderr, / => \[2\/2\] RUN echo live-line +\d+\.\ds/);
    assert.match(r.stderr, /live-line/);
  });

  it('caches steps, invalidates from the first step reading a changed file, and honours --no-cache', () => {
    const dir = ctxDir({
      Dockerfile: 'FROM busybox\nCOPY a /a\nRUN echo run1\nCOPY b /b\nRUN cat /a /b > /ab\n',
      a: 'A\n',
      b: 'B\n',
    });
    store.ok(['build', '-t', 'cache:1', dir]);
    const again = store.run(['build', '--progress', 'plain', '-t', 'cache:1', dir]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal((again.stderr.match(/CACHED/g) ?? []).length, 4);
    fs.writeFileSync(path.join(dir, 'b'), 'B2\n');
    const changed = store.run(['build', '--progress', 'plain', '-t', 'cache:1', dir]);
    assert.equal((changed.stderr.match(/CACHED/g) ?? []).length, 2, changed.stderr);
    assert.equal(cat('cache:1', '/ab'), 'A\nB2\n');
    const nc = store.run(['build', '--progress', 'plain', '--no-cache', '-t', 'cache:1', dir]);
    assert.doesNotMatch(nc.stderr, /CACHED/);
    // Intermediate images stay hidden from `images`.
    const shown = store.ok(['images', '-q']).split('\n').filter(Boolean).length;
    const all = store.ok(['images', '-a', '-q']).split('\n').filter(Boolean).length;
    assert.ok(all >= shown + 4, `images -a shows ${all}, images ${shown}`);
  });

  it('honours .dockerignore and Dockerfile.dockerignore', () => {
    const dir = ctxDir({
      Dockerfile: 'FROM busybox\nCOPY . /c/\nRUN find /c -type f | sort\n',
      '.dockerignore': '*.log\nsecret/\n!secret/keep\n',
      'a.txt': 'a',
      'x.log': 'x',
      'secret/k': 'k',
      'secret/keep': 'keep',
    });
    store.ok(['build', '-q', '-t', 'ign:1', dir]);
    const files = store.ok(['run', '--rm', 'ign:1', 'find', '/c', '-type', 'f']).split('\n').filter(Boolean).sort();
    assert.deepEqual(files, ['/c/.dockerignore', '/c/Dockerfile', '/c/a.txt', '/c/secret/keep']);
  });

  it('passes build args and expands heredocs', () => {
    const dir = ctxDir({
      Dockerfile: [
        'FROM busybox',
        'ARG WHO=world',
        'RUN echo "hi $WHO" > /greet',
        'COPY <<EOF /h.txt',
        'hello ${WHO}',
        'EOF',
        'RUN <<EOF',
        'echo script >> /greet',
        'EOF',
      ].join('\n'),
    });
    store.ok(['build', '-q', '--build-arg', 'WHO=berth', '-t', 'args:1', dir]);
    assert.equal(cat('args:1', '/greet'), 'hi berth\nscript\n');
    assert.equal(cat('args:1', '/h.txt'), 'hello berth\n');
    const hist = store.ok(['history', '--no-trunc', '--format', '{{.CreatedBy}}', 'args:1']);
    assert.match(hist, /RUN \|1 WHO=berth \/bin\/sh -c echo "hi \$WHO" > \/greet # buildkit/);
  });

  it('keeps RUN --mount=type=cache across builds and never stores secrets in layers', () => {
    const secret = path.join(store.dir, 'tok');
    fs.writeFileSync(secret, 's3cr3t-value');
    const dir = ctxDir({
      Dockerfile: [
        'FROM busybox',
        'ARG N',
        'RUN --mount=type=cache,target=/cache echo $N >> /cache/log && cat /cache/log > /seen',
        'RUN --mount=type=secret,id=tok cp /run/secrets/tok /copied-len && wc -c < /run/secrets/tok > /len && rm /copied-len',
      ].join('\n'),
    });
    store.ok(['build', '-q', '--build-arg', 'N=1', '--secret', `id=tok,src=${secret}`, '-t', 'mnt:1', dir]);
    store.ok(['build', '-q', '--build-arg', 'N=2', '--secret', `id=tok,src=${secret}`, '-t', 'mnt:2', dir]);
    assert.equal(cat('mnt:2', '/seen'), '1\n2\n');
    assert.equal(cat('mnt:2', '/len').trim(), '12');
    const r = store.run(['run', '--rm', 'mnt:2', 'sh', '-c', 'ls /run/secrets /cache 2>&1; true']);
    assert.match(r.stdout, /No such file/);
    const saved = spawnSync(BIN, store.args(['save', 'mnt:2']), { maxBuffer: 64 << 20 });
    assert.ok(!saved.stdout.includes(Buffer.from('s3cr3t-value')), 'secret found in the saved image');
  });

  it('forwards an SSH agent to RUN --mount=type=ssh (build --ssh): a real ssh-add lists the key; the socket leaves no trace', { skip: !which('ssh-agent') && 'needs openssh-client' }, async () => {
    const work = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-sshtest-'));
    const sock = path.join(work, 'agent.sock');
    const agent = spawn('ssh-agent', ['-D', '-a', sock], { stdio: 'ignore' });
    try {
      for (let i = 0; i < 100 && !fs.existsSync(sock); i++) await new Promise((r) => setTimeout(r, 20));
      const key = path.join(work, 'id');
      assert.equal(spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'berth-test-key', '-f', key]).status, 0);
      const added = spawnSync('ssh-add', [key], { env: { ...process.env, SSH_AUTH_SOCK: sock } });
      assert.equal(added.status, 0, added.stderr.toString());
      const fingerprint = spawnSync('ssh-keygen', ['-lf', `${key}.pub`]).stdout.toString().split(' ')[1] as string;
      // busybox plus the host's ssh-add and the libraries it loads: a real agent client in the step.
      const files: Record<string, string> = {
        Dockerfile: [
          'FROM busybox',
          'COPY bits/ /',
          'RUN --mount=type=ssh ssh-add -l > /keys; echo "$SSH_AUTH_SOCK" >> /keys',
          'RUN --mount=type=ssh,id=other,target=/agent.sock,uid=1000,mode=0640 ls -ln /agent.sock | cut -c1-10 > /other; echo "$SSH_AUTH_SOCK" >> /other',
          'RUN --mount=type=ssh,id=absent echo "[$SSH_AUTH_SOCK]" > /absent',
        ].join('\n'),
      };
      const dir = ctxDir(files);
      const ldd = spawnSync('ldd', ['/usr/bin/ssh-add']).stdout.toString();
      const libs = ['/usr/bin/ssh-add', ...[...ldd.matchAll(/(\/\S+) \(0x/g)].map((m) => m[1] as string)];
      for (const f of libs) {
        const dst = path.join(dir, 'bits', f);
        fs.mkdirSync(path.dirname(dst), { recursive: true });
        fs.copyFileSync(f, dst);
        fs.chmodSync(dst, 0o755);
      }
      const b = store.run(['build', '-q', '--ssh', 'default', '--ssh', `other=${sock}`, '-t', 'sshfwd:1', dir], { env: { SSH_AUTH_SOCK: sock } });
      assert.equal(b.code, 0, b.stderr);
      const keys = cat('sshfwd:1', '/keys');
      assert.match(keys, new RegExp(`${fingerprint.replace(/[+/]/g, '\\$&')} berth-test-key`));
      assert.match(keys, /^\/run\/buildkit\/ssh_agent\.0$/m, 'SSH_AUTH_SOCK names the first agent mount');
      assert.equal(cat('sshfwd:1', '/other'), 'srw-r-----\n/agent.sock\n');
      assert.equal(cat('sshfwd:1', '/absent'), '[]\n', 'an agent not given leaves a mount that is not required out');
      const left = store.run(['run', '--rm', 'sshfwd:1', 'sh', '-c', 'ls -d /run/buildkit /agent.sock 2>&1; true']);
      assert.doesNotMatch(left.stdout, /^\/(run|agent)/m, 'no mount point stays in the image');
      assert.deepEqual(fs.readdirSync(os.tmpdir()).filter((f) => f.startsWith('berth-ssh-')), [], 'the relays are gone');
      // A required agent that was not given, and --ssh default without an agent: clear errors.
      const req = ctxDir({ Dockerfile: 'FROM busybox\nRUN --mount=type=ssh,required true\n' });
      const noAgent = store.run(['build', '-q', req]);
      assert.equal(noAgent.code, 1);
      assert.match(noAgent.stderr, /no SSH agent for RUN --mount=type=ssh,id=default[\s\S]*--ssh default/);
      const unset = store.run(['build', '-q', '--ssh', 'default', req], { env: { SSH_AUTH_SOCK: '' } });
      assert.notEqual(unset.code, 0);
      assert.match(unset.stderr, /SSH_AUTH_SOCK is not set|make sure SSH_AUTH_SOCK is set/);
      const keyFile = store.run(['build', '-q', '--ssh', `default=${key}`, req]);
      assert.match(keyFile.stderr, /not key files[\s\S]*ssh-add/);
    } finally {
      agent.kill();
      fs.rmSync(work, { recursive: true, force: true });
    }
  });

  it('counts RUN cache mounts in system df and removes them with builder prune, never one a running build holds', async () => {
    const dir = ctxDir({ Dockerfile: 'FROM busybox\nARG N\nRUN --mount=type=cache,id=bigc,target=/c head -c 400000 /dev/zero > /c/blob; echo $N\n' });
    store.ok(['build', '-q', '--build-arg', 'N=1', '-t', 'cmnt:1', dir]);
    const row = () => store.ok(['system', 'df', '--format', '{{.Type}}|{{.TotalCount}}|{{.Active}}|{{.Size}}']).split('\n').find((l) => l.startsWith('Build Cache'));
    assert.match(row() ?? '', /^Build Cache\|\d+\|0\|4\d\dkB$/);
    // A build that holds another cache mount while prune runs: that one stays, the idle one goes.
    const held = ctxDir({ Dockerfile: 'FROM busybox\nRUN --mount=type=cache,id=heldc,target=/h touch /h/started; sleep 4\n' });
    const child = spawn(BIN, store.args(['build', '-q', '--no-cache', held]), { stdio: 'ignore' });
    const exited = new Promise((r) => child.once('exit', r));
    const started = path.join(store.root, 'cache', 'build-mounts', Buffer.from('heldc').toString('base64url'), 'started');
    for (let i = 0; i < 300 && !fs.existsSync(started); i++) await new Promise((r) => setTimeout(r, 50));
    assert.ok(fs.existsSync(started), 'the held build reached its RUN step');
    assert.match(store.ok(['system', 'df', '-v']), /^ {2}heldc\t0B\tRUN --mount=type=cache, in use$/m);
    const pr = store.ok(['builder', 'prune', '-f']);
    assert.match(pr, /^cache mount bigc$/m);
    assert.doesNotMatch(pr, /heldc/);
    assert.match(pr, /Total reclaimed space: 4\d\dkB/);
    await exited;
    assert.match(store.ok(['builder', 'prune']), /^cache mount heldc$/m);
    assert.equal(row(), 'Build Cache|0|0|0B');
    // The next build starts from an empty cache directory, and the step cache is gone too (the RUN re-runs).
    const again = store.run(['build', '--progress', 'plain', '--build-arg', 'N=1', '-t', 'cmnt:2', dir]);
    assert.equal(again.code, 0, again.stderr);
    assert.doesNotMatch(again.stderr, /CACHED/);
    // What a prune killed mid-delete leaves: system check names it, --repair removes it.
    const half = path.join(store.root, 'cache', 'build-mounts', `${Buffer.from('gone').toString('base64url')}.trash-4194300`);
    fs.mkdirSync(path.join(half, 'sub'), { recursive: true });
    assert.match(store.run(['system', 'check', '--quick']).stdout, /problem: build: half-deleted RUN cache mount directory/);
    store.ok(['system', 'check', '--quick', '--repair']);
    assert.equal(fs.existsSync(half), false);
  });

  it('writes the result\'s files with --output: a directory (existing entries and symlinks replaced, not followed) or a tar', () => {
    const dir = ctxDir({
      Dockerfile: 'FROM busybox AS b\nRUN mkdir -p /out/sub && echo art > /out/sub/a.txt && chmod 640 /out/sub/a.txt && ln -s sub/a.txt /out/link && ln -s /etc /out/etc\nFROM scratch\nCOPY --from=b /out/ /\n',
    });
    const dest = path.join(store.dir, 'out-dir');
    const outside = path.join(store.dir, 'outside');
    fs.rmSync(dest, { recursive: true, force: true });
    fs.mkdirSync(outside, { recursive: true });
    fs.mkdirSync(dest);
    // A symlink already in the destination where the image has a directory: replaced, never written through.
    fs.symlinkSync(outside, path.join(dest, 'sub'));
    store.ok(['build', '-q', '-o', dest, dir]);
    assert.equal(fs.readFileSync(path.join(dest, 'sub', 'a.txt'), 'utf8'), 'art\n');
    assert.equal(fs.statSync(path.join(dest, 'sub', 'a.txt')).mode & 0o777, 0o640);
    assert.equal(fs.readlinkSync(path.join(dest, 'link')), 'sub/a.txt');
    assert.equal(fs.readlinkSync(path.join(dest, 'etc')), '/etc', 'an absolute link is copied as a link');
    assert.deepEqual(fs.readdirSync(outside), [], 'nothing went through the old symlink');
    const tarFile = path.join(store.dir, 'out.tar');
    store.ok(['build', '-q', '--output', `type=tar,dest=${tarFile}`, dir]);
    const listing = spawnSync('tar', ['tf', tarFile], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean).sort();
    assert.deepEqual(listing, ['etc', 'link', 'sub/', 'sub/a.txt']);
    const piped = spawnSync(BIN, store.args(['build', '-q', '-o', '-', dir]), { maxBuffer: 16 << 20 });
    assert.equal(piped.status, 0, piped.stderr.toString());
    assert.equal(piped.stdout.readUInt32BE(piped.stdout.length - 4), 0, 'stdout is the tar alone (its zero end blocks last), no image ID after it');
    const bad = store.run(['build', '-q', '-o', 'type=registry', dir]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /type "registry" is not supported/);
  });

  it('RUN reaches the network by default (the default bridge network, as docker builds); --network none and RUN --network=none do not', () => {
    store.ok(['run', '-d', '--name', 'bweb', 'busybox', 'sh', '-c', 'while true; do echo from-web | nc -l -p 8080; done']);
    try {
      const ip = JSON.parse(store.ok(['inspect', 'bweb']))[0].NetworkSettings.IPAddress as string;
      assert.match(ip, /^\d+\.\d+\.\d+\.\d+$/);
      const dir = ctxDir({
        Dockerfile: 'FROM busybox\nARG IP\nRUN for i in 1 2 3 4 5 6 7 8 9 10; do nc -w 3 $IP 8080 > /got && [ -s /got ] && exit 0; sleep 0.3; done; exit 1\nRUN --network=none sh -c \'nc -w 2 $IP 8080 && echo reached || echo isolated\' > /none\n',
      });
      const b = store.run(['build', '-q', '--build-arg', `IP=${ip}`, '-t', 'bnet:1', dir]);
      assert.equal(b.code, 0, b.stderr);
      assert.equal(cat('bnet:1', '/got'), 'from-web\n');
      assert.equal(cat('bnet:1', '/none'), 'isolated\n');
      const off = store.run(['build', '-q', '--no-cache', '--network', 'none', '--build-arg', `IP=${ip}`, dir]);
      assert.notEqual(off.code, 0, 'build --network none: the first RUN cannot fetch');
      const nsDir = path.join(store.runroot, 'netns');
      assert.deepEqual((fs.existsSync(nsDir) ? fs.readdirSync(nsDir) : []).filter((f) => f.startsWith('berth-build-')), [], 'the steps\' namespaces are gone');
      assert.doesNotMatch(store.ok(['system', 'check', '--quick']), /build step/);
    } finally {
      store.run(['rm', '-f', 'bweb']);
    }
  });

  it('a RUN bind mount\'s source is part of its cache key: a changed file re-runs the step', () => {
    const dir = ctxDir({ 'a.txt': 'one\n', Dockerfile: 'FROM busybox\nRUN --mount=type=bind,source=a.txt,target=/a cat /a > /out\n' });
    store.ok(['build', '-q', '-t', 'bindkey:1', dir]);
    const again = store.run(['build', '--progress', 'plain', '-t', 'bindkey:1', dir]);
    assert.match(again.stderr, /CACHED/, 'unchanged: cached');
    fs.writeFileSync(path.join(dir, 'a.txt'), 'two\n');
    const changed = store.run(['build', '--progress', 'plain', '-t', 'bindkey:2', dir]);
    assert.equal(changed.code, 0, changed.stderr);
    assert.doesNotMatch(changed.stderr, /CACHED/);
    assert.equal(cat('bindkey:2', '/out'), 'two\n');
  });

  it('--build-context: a directory for COPY --from and RUN --mount from=, an image for FROM; changes re-run the steps', () => {
    const extra = ctxDir({ 'sub/f': 'from-extra\n' });
    const dir = ctxDir({ Dockerfile: 'FROM base\nCOPY --from=extra sub/f /f\nRUN --mount=type=bind,from=extra,source=sub,target=/m cat /m/f > /g\n' });
    const args = ['--build-context', `extra=${extra}`, '--build-context', 'base=docker-image://busybox'];
    store.ok(['build', '-q', ...args, '-t', 'named:1', dir]);
    assert.equal(store.ok(['run', '--rm', 'named:1', 'cat', '/f', '/g']), 'from-extra\nfrom-extra\n');
    fs.writeFileSync(path.join(extra, 'sub', 'f'), 'changed\n');
    const again = store.run(['build', '--progress', 'plain', ...args, '-t', 'named:2', dir]);
    assert.equal(again.code, 0, again.stderr);
    assert.doesNotMatch(again.stderr, /CACHED/);
    assert.equal(store.ok(['run', '--rm', 'named:2', 'cat', '/f', '/g']), 'changed\nchanged\n');
    const asBase = store.run(['build', '-q', '--build-context', `base=${extra}`, dir]);
    assert.equal(asBase.code, 1);
    assert.match(asBase.stderr, /a directory build context cannot be a base image/);
    assert.match(store.run(['build', '-q', '--build-context', 'x=https://example.invalid/ctx.tar', dir]).stderr, /is not supported/);
  });

  it('fails a RUN with its output and exit code, tagging nothing and leaving nothing behind', () => {
    const dir = ctxDir({ Dockerfile: 'FROM busybox\nRUN echo before\nRUN echo oops; exit 3\n' });
    const r = store.run(['build', '--progress', 'plain', '-t', 'bad:1', dir]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /oops/);
    assert.match(r.stderr, /Dockerfile:3: process "\/bin\/sh -c echo oops; exit 3" did not complete successfully: exit code: 3/);
    assert.equal(store.run(['image', 'inspect', 'bad:1']).code, 1);
    assert.deepEqual(mountsUnder(store.dir), []);
    const runc = spawnSync('runc', ['--root', path.join(store.runroot, 'runtime', 'build'), 'list', '-q']).stdout.toString().trim();
    assert.equal(runc, '');
    const tmp = path.join(store.root, 'cache', 'build-tmp');
    assert.deepEqual(fs.existsSync(tmp) ? fs.readdirSync(tmp) : [], []);
  });

  it('names the Dockerfile line of errors', () => {
    const dir = ctxDir({ Dockerfile: 'FROM busybox\n\nCOPY missing /x\n' });
    const r = store.run(['build', dir]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /Dockerfile:3: .*"\/missing": not found/);
    const bad = ctxDir({ Dockerfile: 'FROM busybox\nFOO bar\n' });
    assert.match(store.run(['build', bad]).stderr, /Dockerfile:2: unknown instruction: FOO/i);
  });

  it('is reproducible with SOURCE_DATE_EPOCH', () => {
    const dir = ctxDir({ Dockerfile: 'FROM busybox\nCOPY f /f\nRUN echo x > /x\nCMD ["cat", "/f"]\n', f: 'data' });
    const a = store.ok(['build', '-q', '--no-cache', '--build-arg', 'SOURCE_DATE_EPOCH=1700000000', dir]).trim();
    const b = store.ok(['build', '-q', '--no-cache', '--build-arg', 'SOURCE_DATE_EPOCH=1700000000', dir]).trim();
    assert.equal(a, b);
  });

  it('reads the Dockerfile or a tar context from stdin', () => {
    const dir = ctxDir({ f: 'from-dir\n' });
    store.ok(['build', '-q', '-t', 'stdin:1', '-f', '-', dir], { input: 'FROM busybox\nCOPY f /f\n' });
    assert.equal(cat('stdin:1', '/f'), 'from-dir\n');
    const tdir = ctxDir({ Dockerfile: 'FROM busybox\nCOPY g /g\n', g: 'from-tar\n' });
    const tar = spawnSync('tar', ['-C', tdir, '-cf', '-', '.']).stdout;
    store.ok(['build', '-q', '-t', 'stdin:2', '-'], { input: tar });
    assert.equal(cat('stdin:2', '/g'), 'from-tar\n');
  });

  it('adds URLs with --checksum and extracts local archives', async () => {
    const server = http.createServer((_req, res) => res.end('remote\n'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const port = (server.address() as AddressInfo).port;
      const dir = ctxDir({ 'in/z': 'zz\n' });
      spawnSync('tar', ['-C', path.join(dir, 'in'), '-czf', path.join(dir, 'a.tgz'), '.']);
      const sum = 'sha256:0f3d7e2c4bdd3a7b64b1aa1b9b5a0bcdbe6d1ea1e33e5f6d4e0a1cbbdce8c0f5';
      fs.writeFileSync(path.join(dir, 'Dockerfile'), `FROM busybox\nADD http://127.0.0.1:${port}/r.txt /dl/\nADD a.tgz /ex/\n`);
      // A child process must not block on our own server: build asynchronously.
      const child = store.spawn(['build', '-q', '-t', 'add:1', dir]);
      const code = await new Promise<number>((r) => child.on('close', (c) => r(c ?? -1)));
      assert.equal(code, 0);
      assert.equal(cat('add:1', '/dl/r.txt'), 'remote\n');
      assert.equal(cat('add:1', '/ex/z'), 'zz\n');
      fs.writeFileSync(path.join(dir, 'Dockerfile'), `FROM busybox\nADD --checksum=${sum} http://127.0.0.1:${port}/r.txt /dl/\n`);
      const bad = store.spawn(['build', '-q', dir]);
      let err = '';
      bad.stderr.on('data', (d: Buffer) => (err += d.toString()));
      assert.notEqual(await new Promise<number>((r) => bad.on('close', (c) => r(c ?? -1))), 0);
      assert.match(err, /digest mismatch/);
    } finally {
      server.close();
    }
  });

  it('warns on run when the context changed since the build', () => {
    const dir = ctxDir({ Dockerfile: 'FROM busybox\nCOPY f /f\n', f: 'one' });
    store.ok(['build', '-q', '-t', 'stale:1', dir]);
    assert.doesNotMatch(store.run(['run', '--rm', 'stale:1', 'true']).stderr, /has changed/);
    fs.writeFileSync(path.join(dir, 'f'), 'two');
    const r = store.run(['run', '--rm', 'stale:1', 'true']);
    assert.match(r.stderr, new RegExp(`image stale:1 was built from ${dir}, which has changed since; rebuild with: berth build -t stale:1 ${dir}`));
  });

  it('lints with --check', () => {
    const dir = ctxDir({ Dockerfile: 'FROM busybox as b\nMAINTAINER me\n' });
    const r = store.run(['build', '--check', dir]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /FromAsCasing/);
    assert.match(r.stdout, /MaintainerDeprecated/);
  });

  it('prints timings of an 8-step build of a 5,000-file, 20 MiB context', () => {
    const dir = path.join(store.dir, 'big');
    for (let i = 0; i < 5000; i++) {
      const d = path.join(dir, `d${i % 50}`);
      fs.mkdirSync(d, { recursive: true });
      fs.writeFileSync(path.join(d, `f${i}`), Buffer.alloc(4096, i % 251));
    }
    fs.writeFileSync(
      path.join(dir, 'Dockerfile'),
      'FROM busybox\nENV A=1\nWORKDIR /src\nCOPY d1 /src/d1\nRUN ls /src/d1 | wc -l\nCOPY . /src/\nRUN du -s /src\nCMD ["sh"]\n',
    );
    const time = (label: string) => {
      const t0 = process.hrtime.bigint();
      store.ok(['build', '-q', '-t', 'big:1', dir], { timeout: 300_000 });
      console.log(`# build ${label}: ${(Number(process.hrtime.bigint() - t0) / 1e9).toFixed(2)} s`);
    };
    time('cold');
    time('cached');
    fs.writeFileSync(path.join(dir, 'd7', 'f7'), 'changed');
    time('one file changed');
  });
});
