/**
 * The Engine API service at the HTTP level: version negotiation, error shapes and codes, bad input,
 * streams (logs framing, wait, archive) and clients that go away mid-stream.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import { describe, it } from 'node:test';
import tar from 'tar-stream';
import { demux, json, request, useService } from './api-support.js';
import { eventually, isRoot } from './helpers.js';

describe('engine API: protocol', { skip: !isRoot && 'needs root' }, () => {
  const { store, svc } = useService('api-proto');

  it('answers _ping like dockerd, socket is root-only', async () => {
    for (const method of ['GET', 'HEAD']) {
      const r = await request(svc.socket, method, '/_ping');
      assert.equal(r.status, 200);
      assert.equal(r.headers['api-version'], '1.45');
      assert.equal(r.headers['docker-experimental'], 'false');
      assert.equal(r.headers.ostype, 'linux');
      assert.match(String(r.headers.server), /^Berth\//);
      if (method === 'GET') assert.equal(r.body.toString(), 'OK');
    }
    assert.equal(fs.statSync(svc.socket).mode & 0o777, 0o600);
  });

  it('negotiates versions: /vX.Y prefixes 1.24..1.45, others are 400 with docker message', async () => {
    assert.equal((await request(svc.socket, 'GET', '/v1.24/version')).status, 200);
    assert.equal((await request(svc.socket, 'GET', '/v1.45/containers/json')).status, 200);
    const hi = await request(svc.socket, 'GET', '/v1.46/version');
    assert.equal(hi.status, 400);
    assert.deepEqual(json(hi), { message: 'client version 1.46 is too new. Maximum supported API version is 1.45' });
    const lo = await request(svc.socket, 'GET', '/v1.12/version');
    assert.equal(lo.status, 400);
    assert.match((json(lo) as { message: string }).message, /too old/);
    const v = json(await request(svc.socket, 'GET', '/version')) as { ApiVersion: string; MinAPIVersion: string; Os: string };
    assert.equal(v.ApiVersion, '1.45');
    assert.equal(v.MinAPIVersion, '1.24');
  });

  it('maps engine errors to docker status codes with {"message"}', async () => {
    const nf = await request(svc.socket, 'GET', '/containers/nope/json');
    assert.equal(nf.status, 404);
    assert.match((json(nf) as { message: string }).message, /No such container: nope/);
    assert.equal((await request(svc.socket, 'GET', '/images/nope:1/json')).status, 404);
    assert.equal((await request(svc.socket, 'GET', '/no/such/endpoint')).status, 404);
    const c = json(await request(svc.socket, 'POST', '/containers/create?name=dup', { Image: 'busybox', Cmd: ['true'] })) as { Id: string };
    assert.ok(c.Id);
    const dup = await request(svc.socket, 'POST', '/containers/create?name=dup', { Image: 'busybox', Cmd: ['true'] });
    assert.equal(dup.status, 409);
    assert.equal((await request(svc.socket, 'DELETE', '/containers/dup')).status, 204);
  });

  it('rejects bad input: malformed JSON, wrong types, oversized bodies; ignores unknown fields', async () => {
    const bad = await request(svc.socket, 'POST', '/containers/create', '{"Image": "busybox",');
    assert.equal(bad.status, 400);
    assert.match((json(bad) as { message: string }).message, /invalid JSON/);
    const wrong = await request(svc.socket, 'POST', '/containers/create', { Image: 'busybox', Cmd: ['true'], Tty: 'yes' });
    assert.equal(wrong.status, 400);
    assert.match((json(wrong) as { message: string }).message, /Tty/);
    const wrongHc = await request(svc.socket, 'POST', '/containers/create', { Image: 'busybox', Cmd: ['true'], HostConfig: { Memory: '1g' } });
    assert.equal(wrongHc.status, 400);
    const unknown = await request(svc.socket, 'POST', '/containers/create', { Image: 'busybox', Cmd: ['true'], NoSuchField: 1, HostConfig: { AlsoUnknown: true } });
    assert.equal(unknown.status, 201);
    await request(svc.socket, 'DELETE', `/containers/${(json(unknown) as { Id: string }).Id}`);
    const big = await request(svc.socket, 'POST', '/containers/create', Buffer.alloc(9 * 1024 * 1024, 0x20)).catch((e: Error) => ({ status: 413, error: e }));
    assert.equal(big.status, 413);
    assert.equal((await request(svc.socket, 'GET', '/containers/json?all=maybe')).status, 400);
    assert.equal((await request(svc.socket, 'GET', '/containers/json?filters=notjson')).status, 400);
    // the server is still serving
    assert.equal((await request(svc.socket, 'GET', '/_ping')).status, 200);
  });

  it('creates with HostConfig fields, lists with filters, logs with stdcopy framing, waits', async () => {
    const r = await request(svc.socket, 'POST', '/containers/create?name=hc', {
      Image: 'busybox',
      Cmd: ['sh', '-c', 'echo out; echo err >&2; exit 3'],
      Env: ['A=1'],
      Labels: { team: 'x' },
      HostConfig: { Memory: 64 * 1024 * 1024, PidsLimit: 50, CapDrop: ['NET_RAW'], RestartPolicy: { Name: 'no' }, Tmpfs: { '/scratch': '' }, Ulimits: [{ Name: 'nofile', Soft: 1024, Hard: 1024 }] },
    });
    assert.equal(r.status, 201, r.body.toString());
    const id = (json(r) as { Id: string }).Id;
    const waitP = request(svc.socket, 'POST', `/containers/${id}/wait?condition=next-exit`);
    assert.equal((await request(svc.socket, 'POST', `/containers/${id}/start`)).status, 204);
    const w = json(await waitP) as { StatusCode: number };
    assert.equal(w.StatusCode, 3);
    const logs = await request(svc.socket, 'GET', `/containers/${id}/logs?stdout=1&stderr=1`);
    assert.equal(logs.headers['content-type'], 'application/vnd.docker.multiplexed-stream');
    assert.deepEqual(demux(logs.body), { stdout: 'out\n', stderr: 'err\n' });
    const onlyErr = await request(svc.socket, 'GET', `/containers/${id}/logs?stderr=1`);
    assert.deepEqual(demux(onlyErr.body), { stdout: '', stderr: 'err\n' });
    const insp = json(await request(svc.socket, 'GET', `/containers/${id}/json`)) as { HostConfig: { Memory: number }; State: { ExitCode: number }; Config: { Labels: Record<string, string> } };
    assert.equal(insp.State.ExitCode, 3);
    assert.equal(insp.HostConfig.Memory, 64 * 1024 * 1024);
    const byLabel = json(await request(svc.socket, 'GET', `/containers/json?all=1&filters=${encodeURIComponent('{"label":["team=x"]}')}`)) as { Id: string }[];
    assert.deepEqual(byLabel.map((c) => c.Id), [id]);
    const running = json(await request(svc.socket, 'GET', `/containers/json?filters=${encodeURIComponent('{"status":["running"]}')}`)) as unknown[];
    assert.equal(running.length, 0);
    assert.equal((await request(svc.socket, 'DELETE', `/containers/${id}`)).status, 204);
  });

  it('events: replays container create/start/die/destroy recorded by the engine (also from the CLI)', async () => {
    const since = Math.floor(Date.now() / 1000) - 1;
    store.ok(['run', '--rm', '--name', 'evt', 'busybox', 'true']);
    const until = Math.ceil(Date.now() / 1000) + 1;
    const r = await request(svc.socket, 'GET', `/events?since=${since}&until=${until}&filters=${encodeURIComponent('{"type":["container"]}')}`);
    assert.equal(r.status, 200);
    const evs = r.body.toString().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { Action: string; Actor: { Attributes: { name: string } } });
    const mine = evs.filter((e) => e.Actor.Attributes.name === 'evt').map((e) => e.Action);
    assert.deepEqual(mine, ['create', 'start', 'die', 'destroy']);
  });

  it('remote mode: berth --host runs version/images/run -d/ps/logs/inspect/rm through the API', async () => {
    const host = ['--host', `unix://${svc.socket}`];
    assert.match(store.ok([...host, 'version']), /Server: Berth .* \(API 1\.45\)/);
    const fmt = ['--format', '{{.Repository}}:{{.Tag}} {{.ID}} {{.Size}}'];
    assert.equal(store.ok([...host, 'images', ...fmt]), store.ok(['images', ...fmt]));
    const id = store.ok([...host, 'run', '-d', '--name', 'remote1', '-e', 'X=42', 'busybox', 'sh', '-c', 'echo out-$X; echo err >&2']).trim();
    assert.match(id, /^[0-9a-f]{64}$/);
    await eventually(() => store.ok(['ps', '-a', '--format', '{{.Names}} {{.State}}']).includes('remote1 exited'));
    const psFmt = ['ps', '-a', '--format', '{{.ID}} {{.Names}} {{.Image}} {{.Command}} {{.State}}'];
    assert.equal(store.ok([...host, ...psFmt]), store.ok(psFmt));
    const logs = store.run([...host, 'logs', 'remote1']);
    assert.equal(logs.stdout, 'out-42\n');
    assert.equal(logs.stderr, 'err\n');
    assert.equal(store.ok([...host, 'inspect', '--format', '{{.Name}}', 'remote1']).trim(), '/remote1');
    store.ok([...host, 'rm', 'remote1']);
    const gone = store.run([...host, 'inspect', 'remote1']);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /No such object: remote1/);
    const uncovered = store.run([...host, 'system', 'check']);
    assert.equal(uncovered.code, 125);
    assert.match(uncovered.stderr, /does not run over --host/);
  });

  it('archive: stat header, GET tar, PUT tar; refuses entries escaping with ..', async () => {
    const id = (json(await request(svc.socket, 'POST', '/containers/create', { Image: 'busybox', Cmd: ['true'] })) as { Id: string }).Id;
    const head = await request(svc.socket, 'HEAD', `/containers/${id}/archive?path=/bin`);
    assert.equal(head.status, 200);
    const st = JSON.parse(Buffer.from(String(head.headers['x-docker-container-path-stat']), 'base64').toString()) as { name: string; mode: number };
    assert.equal(st.name, 'bin');
    assert.ok(st.mode >= 2 ** 31, 'directory bit');
    const pack = tar.pack();
    pack.entry({ name: 'hello.txt' }, 'from-api\n');
    pack.finalize();
    const chunks: Buffer[] = [];
    for await (const c of pack) chunks.push(c as Buffer);
    const put = await request(svc.socket, 'PUT', `/containers/${id}/archive?path=/tmp`, Buffer.concat(chunks), { 'Content-Type': 'application/x-tar' });
    assert.equal(put.status, 200, put.body.toString());
    const get = await request(svc.socket, 'GET', `/containers/${id}/archive?path=/tmp/hello.txt`);
    assert.equal(get.status, 200);
    assert.match(get.body.toString(), /from-api/);
    const evil = tar.pack();
    evil.entry({ name: '../../../../escaped.txt' }, 'x');
    evil.finalize();
    const ec: Buffer[] = [];
    for await (const c of evil) ec.push(c as Buffer);
    const bad = await request(svc.socket, 'PUT', `/containers/${id}/archive?path=/tmp`, Buffer.concat(ec), { 'Content-Type': 'application/x-tar' });
    assert.equal(bad.status, 400);
    assert.equal(fs.existsSync('/escaped.txt'), false);
    assert.equal((await request(svc.socket, 'GET', `/containers/${id}/archive?path=/nope`)).status, 404);
    await request(svc.socket, 'DELETE', `/containers/${id}?force=1`);
  });

  it('survives clients that disconnect mid-stream (logs follow, wait, events)', async () => {
    const id = (json(await request(svc.socket, 'POST', '/containers/create?name=loop', { Image: 'busybox', Cmd: ['sh', '-c', 'while true; do echo tick; sleep 0.2; done'] })) as { Id: string }).Id;
    await request(svc.socket, 'POST', `/containers/${id}/start`);
    for (const p of [`/containers/${id}/logs?stdout=1&follow=1`, `/events`, `/containers/${id}/stats`]) {
      await new Promise<void>((resolve, reject) => {
        const req = http.request({ socketPath: svc.socket, path: p, method: 'GET' }, (res) => {
          res.once('data', () => {
            req.destroy();
            resolve();
          });
          if (p === '/events')
            setTimeout(() => {
              req.destroy();
              resolve();
            }, 300);
        });
        req.on('error', (e) => ((e as NodeJS.ErrnoException).code === 'ECONNRESET' ? resolve() : reject(e)));
        req.end();
      });
    }
    const waitReq = http.request({ socketPath: svc.socket, path: `/containers/${id}/wait`, method: 'POST' });
    waitReq.on('error', () => undefined);
    waitReq.end();
    await new Promise((r) => setTimeout(r, 200));
    waitReq.destroy();
    // Still serving, and the container is unaffected.
    assert.equal((await request(svc.socket, 'GET', '/_ping')).status, 200);
    const insp = json(await request(svc.socket, 'GET', `/containers/${id}/json`)) as { State: { Running: boolean } };
    assert.equal(insp.State.Running, true);
    assert.equal((await request(svc.socket, 'POST', `/containers/${id}/stop?t=0`)).status, 204);
    assert.equal((await request(svc.socket, 'DELETE', `/containers/${id}`)).status, 204);
    // No open file descriptors pile up in the service after aborted streams.
    await eventually(() => fs.readdirSync(`/proc/${svc.child.pid}/fd`).length < 64);
  });
});
