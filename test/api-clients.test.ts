/**
 * Real Engine API clients against `berth system service`: the docker CLI v28 and Debian's 20.10,
 * dockerode, the Python docker SDK, and docker-compose (when Berth has networks). The endpoints
 * each client called are compared with test/fixtures/api-client-calls.json
 * (BERTH_UPDATE_FIXTURES=1 rewrites it).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import Docker from 'dockerode';
import { type ServiceHandle, dockerCli, endpointsIn, startService } from './api-support.js';
import { REPO, TestStore, eventually, isRoot, which } from './helpers.js';

async function eventuallyAsync<T>(fn: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 100));
  }
}

const FIXTURE = path.join(REPO, 'test', 'fixtures', 'api-client-calls.json');
const CLIENTS = [
  { name: 'docker v28', bin: '/usr/local/bin/docker', ua: /Docker-Client\/28/ },
  { name: 'docker 20.10', bin: '/usr/bin/docker', ua: /Docker-Client\/20/ },
].filter((c) => fs.existsSync(c.bin));

describe('engine API: real clients', { skip: !isRoot && 'needs root' }, () => {
  const store = new TestStore('api-clients');
  let svc: ServiceHandle;
  const calls: Record<string, string[]> = {};
  before(async () => {
    store.busybox();
    svc = await startService(store);
  });
  after(async () => {
    await svc?.stop();
    store.cleanup();
  });

  for (const c of CLIENTS) {
    describe(c.name, () => {
      const d = (args: string[], opts: { input?: string } = {}) => dockerCli(c.bin, svc.socket, args, opts);
      const ok = (args: string[]) => {
        const r = d(args);
        assert.equal(r.code, 0, `docker ${args.join(' ')}: ${r.stderr}`);
        return r.stdout;
      };
      const tag = c.bin.includes('local') ? 'v28' : 'v20';

      it('version, images, inspect', () => {
        assert.match(ok(['version']), /Server: Berth/);
        assert.match(ok(['images']), /busybox\s+latest/);
        assert.equal(ok(['image', 'inspect', '-f', '{{.Os}}', 'busybox']).trim(), 'linux');
      });

      it('run --rm attached: output and exit code', () => {
        const r = d(['run', '--rm', 'busybox', 'echo', 'hi']);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout, 'hi\n');
        const e = d(['run', '--rm', 'busybox', 'sh', '-c', 'echo oops >&2; exit 3']);
        assert.equal(e.code, 3);
        assert.equal(e.stderr, 'oops\n');
        assert.equal(d(['ps', '-aq']).stdout, '', '--rm removed the containers');
        const stdin = d(['run', '--rm', '-i', 'busybox', 'cat'], { input: 'piped\n' });
        assert.equal(stdin.stdout, 'piped\n');
      });

      it('update: limits and restart policy through POST /containers/{id}/update', () => {
        const name = `upd-${tag}`;
        ok(['run', '-d', '--network', 'none', '--name', name, '--memory', '64m', 'busybox', 'sleep', '1000']);
        assert.equal(ok(['update', '--memory', '96m', '--cpus', '0.5', '--pids-limit', '30', '--restart', 'unless-stopped', name]).trim(), name);
        const h = JSON.parse(ok(['inspect', name]))[0].HostConfig;
        assert.deepEqual({ m: h.Memory, c: h.NanoCpus, p: h.PidsLimit, rp: h.RestartPolicy.Name }, { m: 96 << 20, c: 5e8, p: 30, rp: 'unless-stopped' });
        assert.equal(ok(['exec', name, 'cat', '/sys/fs/cgroup/pids/pids.max']).trim(), '30');
        const bad = d(['update', '--memory-swap', '80m', name]);
        assert.equal(bad.code, 1);
        assert.match(bad.stderr, /Cannot update container/);
        ok(['rm', '-f', name]);
      });

      it('run -d, ps, logs -f, exec, inspect, stop, rm', () => {
        const id = ok(['run', '-d', '--name', `w-${tag}`, 'busybox', 'sh', '-c', 'echo one; echo two; sleep 1; echo three']).trim();
        assert.match(id, /^[0-9a-f]{64}$/);
        assert.match(ok(['ps']), new RegExp(`w-${tag}`));
        assert.equal(ok(['logs', '-f', `w-${tag}`]), 'one\ntwo\nthree\n');
        ok(['run', '-d', '--name', `s-${tag}`, 'busybox', 'sleep', '300']);
        assert.equal(ok(['exec', `s-${tag}`, 'sh', '-c', 'echo in-$HOSTNAME']).trim().startsWith('in-'), true);
        assert.equal(d(['exec', `s-${tag}`, 'sh', '-c', 'exit 6']).code, 6);
        assert.equal(d(['exec', '-i', `s-${tag}`, 'cat'], { input: 'to-exec\n' }).stdout, 'to-exec\n');
        assert.equal(ok(['inspect', '-f', '{{.State.Running}}', `s-${tag}`]).trim(), 'true');
        ok(['stop', '-t', '1', `s-${tag}`]);
        assert.equal(ok(['inspect', '-f', '{{.State.Status}}', `s-${tag}`]).trim(), 'exited');
        ok(['rm', `s-${tag}`, `w-${tag}`]);
        const gone = d(['inspect', `s-${tag}`]);
        assert.notEqual(gone.code, 0);
        assert.match(gone.stderr, /No such (object|container)/);
      });

      it('network ls shows the predefined bridge, host and none; inspect host lists a --network host container; they cannot be removed', () => {
        const ls = ok(['network', 'ls', '--format', '{{.Name}} {{.Driver}}']).trim().split('\n');
        for (const want of ['bridge bridge', 'host host', 'none null']) assert.ok(ls.includes(want), `${want} in ${JSON.stringify(ls)}`);
        const id = ok(['run', '-d', '--network', 'host', '--name', `h-${tag}`, 'busybox', 'sleep', '300']).trim();
        assert.equal(ok(['network', 'inspect', '-f', '{{range $k, $v := .Containers}}{{$k}} {{$v.Name}}{{end}}', 'host']).trim(), `${id} h-${tag}`);
        const rm = d(['network', 'rm', 'host']);
        assert.notEqual(rm.code, 0);
        assert.match(rm.stderr, /host is a pre-defined network and cannot be removed/);
        ok(['rm', '-f', `h-${tag}`]);
      });

      it('volume create, ls, rm', () => {
        ok(['volume', 'create', `vol-${tag}`]);
        assert.match(ok(['volume', 'ls']), new RegExp(`vol-${tag}`));
        const out = ok(['run', '--rm', '-v', `vol-${tag}:/data`, 'busybox', 'sh', '-c', 'echo kept > /data/f; cat /data/f']);
        assert.equal(out, 'kept\n');
        ok(['volume', 'rm', `vol-${tag}`]);
        assert.doesNotMatch(ok(['volume', 'ls', '-q']), new RegExp(`vol-${tag}`));
      });

      it('run -it through a pty (script)', { skip: !which('script') && 'needs script(1)' }, () => {
        const r = spawnSync('script', ['-qec', `${c.bin} run --rm -it busybox sh -c 'tty; exit 4'`, '/dev/null'], {
          env: { ...process.env, DOCKER_HOST: `unix://${svc.socket}` },
          timeout: 60_000,
        });
        assert.equal(r.status, 4, r.stdout.toString());
        assert.match(r.stdout.toString(), /\/dev\/pts\/\d+/);
      });

      it('records the endpoints it called', () => {
        calls[c.name] = endpointsIn(svc.logFile, c.ua);
        assert.ok(calls[c.name]?.includes('POST /containers/{id}/attach'));
      });
    });
  }

  it('docker build (legacy builder, v28 client) through POST /build', { skip: !fs.existsSync('/usr/local/bin/docker') && 'needs docker v28' }, () => {
    const ctxDir = path.join(store.dir, 'build-ctx');
    fs.mkdirSync(ctxDir, { recursive: true });
    fs.writeFileSync(path.join(ctxDir, 'Dockerfile'), 'FROM busybox\nRUN echo built-via-api > /built\nCMD ["cat", "/built"]\n');
    const b = spawnSync('/usr/local/bin/docker', ['build', '-t', 'apibuilt:1', ctxDir], { env: { ...process.env, DOCKER_HOST: `unix://${svc.socket}`, DOCKER_BUILDKIT: '0' }, timeout: 120_000 });
    assert.equal(b.status, 0, b.stderr.toString());
    assert.match(b.stdout.toString(), /Successfully tagged apibuilt:1/);
    const r = dockerCli('/usr/local/bin/docker', svc.socket, ['run', '--rm', 'apibuilt:1']);
    assert.equal(r.stdout, 'built-via-api\n');
    calls['docker v28 build'] = endpointsIn(svc.logFile, /Docker-Client\/28/).filter((e) => e.includes('/build'));
  });

  it('docker system df -v and docker builder prune see the RUN cache mounts (docker 20.10)', () => {
    const ctxDir = path.join(store.dir, 'cache-ctx');
    fs.mkdirSync(ctxDir, { recursive: true });
    fs.writeFileSync(path.join(ctxDir, 'Dockerfile'), 'FROM busybox\nRUN --mount=type=cache,id=apic,target=/c head -c 100000 /dev/zero > /c/f\n');
    store.ok(['build', '-q', ctxDir]);
    const df = dockerCli('/usr/bin/docker', svc.socket, ['system', 'df', '-v']);
    assert.equal(df.code, 0, df.stderr);
    assert.match(df.stdout, /^apic\s+exec\.cachemount\s+100kB/m);
    const pr = dockerCli('/usr/bin/docker', svc.socket, ['builder', 'prune', '-f']);
    assert.equal(pr.code, 0, pr.stderr);
    assert.match(pr.stdout, /cache mount apic/);
    assert.match(pr.stdout, /Total reclaimed space: 100kB/);
  });

  it('dockerode: create, start, wait, logs, remove', async () => {
    const docker = new Docker({ socketPath: svc.socket });
    const ctr = await docker.createContainer({ Image: 'busybox', Cmd: ['sh', '-c', 'echo node-out; echo node-err >&2; exit 5'], Labels: { via: 'dockerode' } });
    await ctr.start();
    const w = (await ctr.wait()) as { StatusCode: number };
    assert.equal(w.StatusCode, 5);
    const logs = (await ctr.logs({ stdout: true, stderr: true })) as unknown as Buffer;
    const text = logs.toString();
    assert.match(text, /node-out/);
    assert.match(text, /node-err/);
    const list = await docker.listContainers({ all: true, filters: { label: ['via=dockerode'] } });
    assert.equal(list.length, 1);
    await ctr.remove();
    await assert.rejects(ctr.inspect(), (e: { statusCode?: number }) => e.statusCode === 404);
    calls.dockerode = endpointsIn(svc.logFile, /^$/);
  });

  it('python docker SDK: create, start, wait, logs, remove, run', { skip: spawnSync('python3', ['-c', 'import docker']).status !== 0 && 'needs python3-docker' }, () => {
    const script = `
import docker, json
c = docker.DockerClient(base_url='unix://${svc.socket}')
ct = c.containers.create('busybox', ['sh', '-c', 'echo py-out; echo py-err >&2; exit 7'])
ct.start()
w = ct.wait()
logs = ct.logs(stdout=True, stderr=True).decode()
ct.remove()
out = c.containers.run('busybox', ['echo', 'run-out'], remove=True).decode()
print(json.dumps({'code': w['StatusCode'], 'logs': logs, 'run': out, 'left': len(c.containers.list(all=True))}))
`;
    const r = spawnSync('python3', ['-c', script], { timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr.toString());
    const res = JSON.parse(r.stdout.toString()) as { code: number; logs: string; run: string; left: number };
    assert.equal(res.code, 7);
    assert.equal(res.logs, 'py-out\npy-err\n');
    assert.equal(res.run, 'run-out\n');
    assert.equal(res.left, 0);
    calls['python docker SDK'] = endpointsIn(svc.logFile, /docker-sdk-python/);
  });

  it('docker-compose: up -d with a network, port and named volume; ps; logs; down -v', { skip: !which('docker-compose') && 'needs docker-compose' }, async (t) => {
    if (store.run(['network', 'ls']).code !== 0) {
      t.skip('berth has no networks yet (berth network ls fails)');
      return;
    }
    const dir = path.join(store.dir, 'compose');
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(
      path.join(dir, 'docker-compose.yml'),
      `version: "3"
services:
  web:
    image: busybox
    command: sh -c 'echo web-up; httpd -f -p 8080 -h /data'
    ports: ["127.0.0.1:18931:8080"]
    volumes: ["data:/data"]
  worker:
    image: busybox
    command: sh -c 'echo worker-up; sleep 300'
volumes:
  data: {}
`,
    );
    const env = { ...process.env, DOCKER_HOST: `unix://${svc.socket}`, COMPOSE_PROJECT_NAME: 'berthtest' };
    const dc = (args: string[]) => spawnSync('docker-compose', args, { cwd: dir, env, timeout: 120_000 });
    try {
      const up = dc(['up', '-d']);
      assert.equal(up.status, 0, up.stderr.toString());
      assert.match(dc(['ps']).stdout.toString(), /web.*Up/);
      await eventually(() => /web-up/.test(dc(['logs']).stdout.toString()));
      assert.match(dockerCli('/usr/bin/docker', svc.socket, ['volume', 'ls', '-q']).stdout, /berthtest_data/);
      // The published port answers on loopback (busybox httpd: any HTTP status will do).
      const status = await eventuallyAsync(async () => {
        const r = await fetch('http://127.0.0.1:18931/').catch(() => undefined);
        return r?.status;
      });
      assert.ok(status && status >= 200);
    } finally {
      const down = dc(['down', '-v']);
      assert.equal(down.status, 0, down.stderr.toString());
    }
    calls['docker-compose'] = endpointsIn(svc.logFile, /docker-compose/);
  });

  it('every recorded endpoint is one the service serves (fixture of client calls)', () => {
    const log = fs.readFileSync(svc.logFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { status: number; path: string });
    const unknown = log.filter((e) => e.status === 404 && !/\/(json|archive)$|\/containers\/[^/]+$|\/(volumes|networks|images)\//.test(e.path));
    assert.deepEqual(unknown, [], 'no client called an endpoint the service lacks');
    if (process.env.BERTH_UPDATE_FIXTURES) fs.writeFileSync(FIXTURE, `${JSON.stringify(calls, null, 2)}\n`);
    const fixture = JSON.parse(fs.readFileSync(FIXTURE, 'utf8')) as Record<string, string[]>;
    for (const [client, eps] of Object.entries(calls)) for (const e of eps) assert.ok(fixture[client]?.includes(e), `${client} called ${e}, not in ${path.relative(REPO, FIXTURE)}`);
  });
});
