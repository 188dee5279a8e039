/**
 * The client's registry credentials over the Engine API, against Debian's docker-registry with
 * htpasswd on loopback: X-Registry-Auth on pull and push and X-Registry-Config on build (raw
 * requests), the docker CLI's login (POST /auth) + push + pull with DOCKER_HOST, and `berth --host`
 * login/push/pull/logout with the client's own config.json. The service runs with a DOCKER_CONFIG
 * of its own, empty unless a test writes a login into it, so any success proves whose credentials
 * were used.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Distribution, startDistribution, writeHtpasswd } from '../src/registry/test-support.js';
import { type ServiceHandle, dockerCli, json, request, startService } from './api-support.js';
import { TestStore, isRoot, which } from './helpers.js';

const DOCKER = '/usr/local/bin/docker';
const header = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');

/** The JSON lines of a pull/push/build answer, and the first error among them. */
function lines(body: Buffer): { all: Record<string, unknown>[]; error: string | undefined } {
  const all = body
    .toString()
    .split(/\r?\n/)
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { all, error: all.find((l) => l.error)?.error as string | undefined };
}

describe('registry credentials from the API client', { skip: (!isRoot && 'needs root') || (!which('docker-registry') && 'needs docker-registry') }, () => {
  const store = new TestStore('api-regauth');
  const serviceConfig = path.join(store.dir, 'service-docker-config');
  const clientConfig = path.join(store.dir, 'client-docker-config');
  const password = 'Right-pa55';
  let svc: ServiceHandle;
  let dist: Distribution;
  let h = '';
  const alice = { username: 'alice', password, serveraddress: '' };

  before(async () => {
    store.busybox();
    fs.mkdirSync(serviceConfig, { recursive: true });
    const root = path.join(store.dir, 'registry');
    fs.mkdirSync(root, { recursive: true });
    await writeHtpasswd(path.join(root, 'htpasswd'), 'alice', password);
    dist = await startDistribution(root, { htpasswd: path.join(root, 'htpasswd') });
    h = dist.host;
    alice.serveraddress = h;
    svc = await startService(store, { DOCKER_CONFIG: serviceConfig });
  });
  after(async () => {
    await svc?.stop();
    await dist?.close();
    store.cleanup();
  });

  it('push, pull and build use the credentials the request carries; without them the service uses its own logins', async () => {
    store.ok(['tag', 'busybox', `${h}/priv/bb:1`]);
    const push = (auth?: string) => request(svc.socket, 'POST', `/v1.45/images/${h}/priv/bb/push?tag=1`, undefined, auth === undefined ? {} : { 'X-Registry-Auth': auth });
    assert.match(lines((await push()).body).error ?? '', /no basic auth credentials/, 'the service has no login of its own');
    assert.match(lines((await push(header({}))).body).error ?? '', /no basic auth credentials/, '{} is no credentials');
    assert.match(lines((await push(header({ ...alice, password: 'wrong' }))).body).error ?? '', /incorrect username or password/);
    const ok = lines((await push(header(alice))).body);
    assert.equal(ok.error, undefined);
    assert.ok(ok.all.some((l) => /^1: digest: sha256:[0-9a-f]{64}/.test(String(l.status))), JSON.stringify(ok.all));

    store.ok(['rmi', `${h}/priv/bb:1`]);
    const pull = (auth?: string) => request(svc.socket, 'POST', `/v1.45/images/create?fromImage=${h}/priv/bb&tag=1`, undefined, auth === undefined ? {} : { 'X-Registry-Auth': auth });
    assert.match(lines((await pull()).body).error ?? '', /no basic auth credentials|unauthorized/);
    const bad = await pull('%%% not base64 json');
    assert.equal(bad.status, 400);
    assert.match((json(bad) as { message: string }).message, /invalid X-Registry-Auth header/);
    assert.equal(lines((await pull(header(alice))).body).error, undefined);
    assert.equal(store.run(['image', 'inspect', `${h}/priv/bb:1`]).code, 0, 'pulled with the header’s credentials');

    // A build's FROM pulls with the X-Registry-Config entry for its registry.
    store.ok(['rmi', `${h}/priv/bb:1`]);
    const ctx = path.join(store.dir, 'build-ctx');
    fs.mkdirSync(ctx, { recursive: true });
    fs.writeFileSync(path.join(ctx, 'Dockerfile'), `FROM ${h}/priv/bb:1\nLABEL built=yes\n`);
    const tar = spawnSync('tar', ['-c', '-C', ctx, '.']).stdout;
    const build = (cfg?: string) => request(svc.socket, 'POST', '/v1.45/build?t=authbuilt:1', tar, { 'Content-Type': 'application/x-tar', ...(cfg ? { 'X-Registry-Config': cfg } : {}) });
    assert.match(lines((await build()).body).error ?? '', /pulling it failed: .*(no basic auth credentials|unauthorized)/);
    const built = lines((await build(header({ [`http://${h}/`]: alice, 'other.example:5000': { username: 'x', password: 'y' } }))).body);
    assert.equal(built.error, undefined, JSON.stringify(built.all));
    assert.equal(store.ok(['image', 'inspect', '--format', '{{.Config.Labels.built}}', 'authbuilt:1']).trim(), 'yes');

    // The service's own login is the fallback, and the client's credentials win over it.
    store.ok(['rmi', `${h}/priv/bb:1`]);
    fs.writeFileSync(path.join(serviceConfig, 'config.json'), JSON.stringify({ auths: { [h]: { auth: Buffer.from(`alice:${password}`).toString('base64') } } }));
    try {
      assert.match(lines((await pull(header({ ...alice, password: 'wrong' }))).body).error ?? '', /incorrect username or password/);
      assert.equal(lines((await pull(header({}))).body).error, undefined);
    } finally {
      fs.rmSync(path.join(serviceConfig, 'config.json'));
    }
  });

  it('docker CLI with DOCKER_HOST: login checks through POST /auth, push and pull send its own credentials', { skip: !fs.existsSync(DOCKER) && 'needs docker v28' }, () => {
    const d = (args: string[], input?: string) => dockerCli(DOCKER, svc.socket, args, input === undefined ? {} : { input });
    store.ok(['tag', 'busybox', `${h}/priv/docker:1`]);
    const denied = d(['push', `${h}/priv/docker:1`]);
    assert.notEqual(denied.code, 0, 'not logged in: refused');
    assert.match(denied.stderr + denied.stdout, /no basic auth credentials/);
    const wrong = d(['login', '-u', 'alice', '--password-stdin', h], 'nope\n');
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /401 Unauthorized/);
    const login = d(['login', '-u', 'alice', '--password-stdin', h], `${password}\n`);
    assert.equal(login.code, 0, login.stderr);
    assert.equal(fs.existsSync(path.join(serviceConfig, 'config.json')), false, 'the service stores nothing');
    const pushed = d(['push', `${h}/priv/docker:1`]);
    assert.equal(pushed.code, 0, pushed.stderr);
    assert.match(pushed.stdout, /1: digest: sha256:[0-9a-f]{64}/);
    assert.equal(d(['rmi', `${h}/priv/docker:1`]).code, 0);
    const pulled = d(['pull', `${h}/priv/docker:1`]);
    assert.equal(pulled.code, 0, pulled.stderr);
    assert.match(pulled.stdout, /Status: Downloaded newer image/);
    assert.equal(d(['logout', h]).code, 0);
    assert.equal(d(['rmi', `${h}/priv/docker:1`]).code, 0);
    const anon = d(['pull', `${h}/priv/docker:1`]);
    assert.notEqual(anon.code, 0, 'logged out: refused again');
  });

  it('berth --host: login checks through the service and stores on the client; push/pull send the client’s login; logout', () => {
    const env = { DOCKER_CONFIG: clientConfig };
    const remote = (args: string[], input?: string) => store.run(['--host', `unix://${svc.socket}`, ...args], { env, timeout: 90_000, ...(input === undefined ? {} : { input }) });
    const file = path.join(clientConfig, 'config.json');
    const wrong = remote(['login', '-u', 'alice', '--password-stdin', h], 'nope\n');
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, new RegExp(`login attempt to http://${h.replace(/\./g, '\\.')}/v2/ failed with status: 401 Unauthorized`));
    assert.ok(!fs.existsSync(file) || !fs.readFileSync(file, 'utf8').includes(h), 'nothing stored after a refused login');
    const ok = remote(['login', '-u', 'alice', '--password-stdin', h], `${password}\n`);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /Login Succeeded/);
    assert.ok(!(ok.stdout + ok.stderr).includes(password), 'the password is never printed');
    assert.equal(Buffer.from(JSON.parse(fs.readFileSync(file, 'utf8')).auths[h].auth, 'base64').toString(), `alice:${password}`);
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    assert.equal(fs.existsSync(path.join(serviceConfig, 'config.json')), false, 'the service stores nothing');
    const again = remote(['login', h]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /Authenticating with existing credentials\.\.\.\nLogin Succeeded/);

    store.ok(['tag', 'busybox', `${h}/priv/remote:1`]);
    const pushed = remote(['push', `${h}/priv/remote:1`]);
    assert.equal(pushed.code, 0, pushed.stderr);
    assert.match(pushed.stdout, /1: digest: sha256:[0-9a-f]{64}/);
    store.ok(['rmi', `${h}/priv/remote:1`]);
    const pulled = remote(['pull', `${h}/priv/remote:1`]);
    assert.equal(pulled.code, 0, pulled.stderr);
    assert.equal(pulled.stdout.trim().split('\n').pop(), `${h}/priv/remote:1`);

    assert.match(remote(['logout', h]).stdout, new RegExp(`Removing login credentials for ${h.replace(/\./g, '\\.')}`));
    assert.ok(!fs.readFileSync(file, 'utf8').includes(h));
    store.ok(['rmi', `${h}/priv/remote:1`]);
    const anon = remote(['pull', `${h}/priv/remote:1`]);
    assert.equal(anon.code, 1);
    assert.match(anon.stderr, /no basic auth credentials|unauthorized/);
  });
});
