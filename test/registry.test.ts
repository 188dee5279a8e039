/**
 * Registries end to end, as a user drives them: berth push/pull/login/logout and `run` of a missing
 * image against `berth registry serve` and Debian's docker-registry (distribution 2.8, with and
 * without htpasswd), skopeo against berth's registry, and a hostile registry that serves bytes not
 * matching their digest. Everything listens on 127.0.0.1 only.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import dns from 'node:dns/promises';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { sha256 } from '../src/content/digest.js';
import { MediaTypes } from '../src/image/oci.js';
import { RegistryClient } from '../src/registry/client.js';
import { type RegistryServer, startRegistryServer } from '../src/registry/server.js';
import { type Distribution, freePort, startDistribution, tmpDir } from '../src/registry/test-support.js';
import { BIN, TestStore, eventually, which } from './helpers.js';

const skip = process.getuid?.() !== 0 ? 'needs root' : false;

interface Served {
  host: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** `berth registry serve` as a child process on a free loopback port. */
async function serveBerthRegistry(root: string, extra: string[] = []): Promise<Served> {
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const child = spawn(BIN, ['registry', 'serve', '--addr', host, '--root', root, ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout?.on('data', (c: Buffer) => (log += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (log += c.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  await eventually(() => log.includes('listening') || child.exitCode !== null, 20_000);
  if (child.exitCode !== null) throw new Error(`berth registry serve exited: ${log}`);
  return {
    host,
    child,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}

function runAsync(s: TestStore, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = s.spawn(args);
  child.stdin.end();
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr })));
}

function inspect(s: TestStore, ref: string): { Id: string; RepoDigests: string[]; RepoTags: string[]; RootFS: { Layers: string[] } } {
  return JSON.parse(s.ok(['image', 'inspect', ref]))[0];
}

function storeIsClean(s: TestStore): void {
  const check = s.run(['system', 'check']);
  assert.equal(check.code, 0, check.stdout + check.stderr);
  assert.match(check.stdout, /store is consistent/);
}

describe('registries: pull, push, login, run of a missing image', { skip }, () => {
  const s = new TestStore('registry');
  const work = tmpDir('berth-registry-test-');
  const dockerConfig = path.join(work, 'docker-config');
  const savedEnv = { DOCKER_CONFIG: process.env.DOCKER_CONFIG, BERTH_REGISTRIES_CONF: process.env.BERTH_REGISTRIES_CONF };
  let reg: Served | undefined;
  let busyboxId = '';

  before(async () => {
    process.env.DOCKER_CONFIG = dockerConfig;
    process.env.BERTH_REGISTRIES_CONF = path.join(work, 'registries.json');
    fs.writeFileSync(process.env.BERTH_REGISTRIES_CONF, JSON.stringify({ blocked: ['docker.io'] }));
    s.busybox();
    busyboxId = inspect(s, 'busybox').Id;
    reg = await serveBerthRegistry(path.join(work, 'berth-registry'));
  });
  after(async () => {
    await reg?.stop();
    s.cleanup();
    fs.rmSync(work, { recursive: true, force: true });
    for (const [k, v] of Object.entries(savedEnv)) if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  });

  test('push busybox, rmi, pull it back: same image ID, RepoDigests, runs', () => {
    const h = (reg as Served).host;
    s.ok(['tag', 'busybox', `${h}/busybox:1`]);
    const out = s.ok(['push', `${h}/busybox:1`]);
    assert.match(out, new RegExp(`The push refers to repository \\[${h}/busybox\\]`));
    assert.match(out, /^[0-9a-f]{12}: Pushed$/m);
    const m = /^1: digest: (sha256:[0-9a-f]{64}) size: (\d+)$/m.exec(out);
    assert.ok(m, out);
    const digest = m[1] as string;
    assert.ok(inspect(s, `${h}/busybox:1`).RepoDigests.includes(`${h}/busybox@${digest}`));
    // Again: the registry has everything, and the compressed layer is cached (no recompression).
    const again = s.ok(['push', `${h}/busybox:1`]);
    assert.match(again, /: Layer already exists$/m);
    assert.match(again, new RegExp(`1: digest: ${digest}`));

    s.ok(['rmi', `${h}/busybox:1`]);
    assert.throws(() => inspect(s, `${h}/busybox:1`));
    const pulled = s.ok(['pull', `${h}/busybox:1`]);
    assert.match(pulled, /^1: Pulling from busybox$/m);
    assert.match(pulled, new RegExp(`^Digest: ${digest}$`, 'm'));
    assert.match(pulled, new RegExp(`^Status: Downloaded newer image for ${h}/busybox:1$`, 'm'));
    assert.match(pulled.trim().split('\n').at(-1) as string, new RegExp(`^${h}/busybox:1$`));
    const img = inspect(s, `${h}/busybox:1`);
    assert.equal(img.Id, busyboxId);
    assert.deepEqual(img.RepoDigests, [`${h}/busybox@${digest}`]);
    assert.equal(s.ok(['run', '--rm', `${h}/busybox:1`, 'echo', 'pulled']).trim(), 'pulled');
    assert.match(s.ok(['pull', `${h}/busybox:1`]), new RegExp(`Status: Image is up to date for ${h}/busybox:1`));
    // By digest.
    const byDigest = s.ok(['pull', `${h}/busybox@${digest}`]);
    assert.equal(byDigest.trim().split('\n').at(-1), `${h}/busybox@${digest}`);
    assert.equal(inspect(s, `${h}/busybox@${digest}`).Id, busyboxId);
    storeIsClean(s);
  });

  test('multi-layer image: layers in parallel, base layer "Already exists", speed (informational)', () => {
    const h = (reg as Served).host;
    s.ok(['run', '--name', 'l1', 'busybox', 'sh', '-c', 'dd if=/dev/urandom of=/big bs=1M count=24 2>/dev/null; echo one > /one']);
    s.ok(['commit', 'l1', 'layered:1']);
    s.ok(['run', '--name', 'l2', 'layered:1', 'sh', '-c', 'rm /one; mkdir -p /d && echo two > /d/two']);
    s.ok(['commit', 'l2', `${h}/team/layered:2`]);
    s.ok(['rm', 'l1', 'l2']);
    const before = inspect(s, `${h}/team/layered:2`);
    assert.equal(before.RootFS.Layers.length, 3);
    let t = Date.now();
    const pushed = s.ok(['push', `${h}/team/layered:2`]);
    const pushMs = Date.now() - t;
    assert.equal((pushed.match(/: Pushed$/gm) ?? []).length, 2, pushed);
    assert.match(pushed, /: Mounted from busybox$/m); // the base layer, pushed to <host>/busybox before
    s.ok(['rmi', `${h}/team/layered:2`, 'layered:1']);
    t = Date.now();
    const pulled = s.ok(['pull', `${h}/team/layered:2`]);
    const pullMs = Date.now() - t;
    assert.match(pulled, /: Already exists$/m); // busybox's layer, compressed by the first test's push
    assert.equal((pulled.match(/: Pull complete$/gm) ?? []).length, 2, pulled);
    const after = inspect(s, `${h}/team/layered:2`);
    assert.equal(after.Id, before.Id);
    assert.deepEqual(after.RootFS.Layers, before.RootFS.Layers);
    assert.equal(s.ok(['run', '--rm', `${h}/team/layered:2`, 'sh', '-c', 'cat /d/two; test -e /one || echo gone; wc -c < /big']).trim().split('\n').join(' '), 'two gone 25165824');
    const mib = 24;
    const rate = (ms: number) => (mib / (ms / 1000)).toFixed(1);
    console.log(`# informational: ${mib} MiB of random data: push ${pushMs} ms (${rate(pushMs)} MiB/s), pull ${pullMs} ms (${rate(pullMs)} MiB/s), whole CLI commands`);
    storeIsClean(s);
  });

  test('cross-repository mount, --all-tags push and pull', () => {
    const h = (reg as Served).host;
    s.ok(['tag', 'busybox', `${h}/other/bb:a`]);
    s.ok(['tag', 'busybox', `${h}/other/bb:b`]);
    const pushed = s.ok(['push', '--all-tags', `${h}/other/bb`]);
    assert.match(pushed, /: Mounted from busybox$/m, pushed);
    assert.match(pushed, /^a: digest: sha256:/m);
    assert.match(pushed, /^b: digest: sha256:/m);
    s.ok(['rmi', `${h}/other/bb:a`, `${h}/other/bb:b`]);
    const pulled = s.ok(['pull', '--all-tags', `${h}/other/bb`]);
    assert.equal(pulled.trim().split('\n').at(-1), `${h}/other/bb`);
    assert.equal(inspect(s, `${h}/other/bb:a`).Id, busyboxId);
    assert.equal(inspect(s, `${h}/other/bb:b`).Id, busyboxId);
    const r = s.run(['pull', '--all-tags', `${h}/other/bb:a`]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /tag can't be used with --all-tags/);
  });

  test('run/create pull a missing image, honouring --pull', () => {
    const h = (reg as Served).host;
    s.run(['rmi', `${h}/busybox:1`]);
    const never = s.run(['run', '--rm', '--pull', 'never', `${h}/busybox:1`, 'true']);
    assert.equal(never.code, 125);
    assert.match(never.stderr, /Unable to find image/);
    const r = s.run(['run', '--rm', `${h}/busybox:1`, 'echo', 'hi']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'hi');
    assert.match(r.stderr, new RegExp(`Unable to find image '${h}/busybox:1' locally`));
    assert.match(r.stderr, /Status: Downloaded newer image/);
    const always = s.run(['create', '--pull', 'always', `${h}/busybox:1`]);
    assert.equal(always.code, 0, always.stderr);
    assert.match(always.stderr, /Image is up to date/);
    s.ok(['rm', always.stdout.trim()]);
    const missing = s.run(['run', '--rm', `${h}/nosuch:1`, 'true']);
    assert.equal(missing.code, 125);
    assert.match(missing.stderr, /manifest for .*nosuch:1 not found|pull access denied/);
  });

  test('an index: host platform picked, --platform selects, unknown platform lists what exists', async () => {
    const h = (reg as Served).host;
    const digest = (/@(sha256:[0-9a-f]{64})/.exec(inspect(s, `${h}/busybox:1`).RepoDigests.join(' ')) ?? [])[1] as string;
    const man = await new RegistryClient({ host: h }).getManifest('busybox', digest);
    const index = {
      schemaVersion: 2,
      mediaType: MediaTypes.OciIndex,
      manifests: [
        { mediaType: man.mediaType, digest: man.digest, size: man.buf.length, platform: { os: 'linux', architecture: 's390x' } },
        { mediaType: man.mediaType, digest: man.digest, size: man.buf.length, platform: { os: 'linux', architecture: 'amd64' } },
      ],
    };
    const buf = Buffer.from(JSON.stringify(index));
    // The index lives in the same repository as its manifests.
    await new RegistryClient({ host: h }).putManifest('busybox', 'multi', buf, MediaTypes.OciIndex);
    const bad = s.run(['pull', '--platform', 'linux/riscv64', `${h}/busybox:multi`]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /linux\/s390x/);
    assert.match(bad.stderr, /linux\/amd64/);
    const ok = s.ok(['pull', '--platform', 'linux/s390x', `${h}/busybox:multi`]);
    assert.match(ok, new RegExp(`Digest: ${sha256(buf)}`));
    assert.ok(inspect(s, `${h}/busybox:multi`).RepoDigests.includes(`${h}/busybox@${sha256(buf)}`));

    // An index with another platform only, pulled without --platform: the host's is not there.
    const onlyOther = Buffer.from(JSON.stringify({ ...index, manifests: [index.manifests[0]] }));
    await new RegistryClient({ host: h }).putManifest('busybox', 'other-only', onlyOther, MediaTypes.OciIndex);
    const none = s.run(['pull', `${h}/busybox:other-only`]);
    assert.equal(none.code, 1, none.stdout);
    assert.match(none.stderr, /no matching manifest for linux\/amd64/);
    assert.match(none.stderr, /linux\/s390x/);
    assert.match(none.stderr, new RegExp(`${h}/busybox:other-only`));
    assert.equal(s.run(['image', 'inspect', `${h}/busybox:other-only`]).code, 1);
    storeIsClean(s);
  });

  test('mirrors: docker.io names are pulled from a configured mirror first', () => {
    const h = (reg as Served).host;
    s.ok(['tag', 'busybox', `${h}/library/mirrored:7`]);
    s.ok(['push', `${h}/library/mirrored:7`]);
    fs.writeFileSync(process.env.BERTH_REGISTRIES_CONF as string, JSON.stringify({ mirrors: { 'docker.io': [h] }, blocked: ['docker.io'] }));
    try {
      const out = s.ok(['pull', 'mirrored:7']);
      assert.match(out, /^7: Pulling from library\/mirrored$/m);
      assert.equal(out.trim().split('\n').at(-1), 'docker.io/library/mirrored:7');
      assert.equal(inspect(s, 'mirrored:7').Id, busyboxId);
    } finally {
      fs.writeFileSync(process.env.BERTH_REGISTRIES_CONF as string, JSON.stringify({ blocked: ['docker.io'] }));
    }
  });

  test('skopeo copies from and to berth registry serve', { skip: !which('skopeo') && 'skopeo not installed' }, () => {
    const h = (reg as Served).host;
    const layout = path.join(work, 'oci-layout');
    const sk = (args: string[]) => {
      const r = spawnSync('skopeo', ['--insecure-policy', ...args], { encoding: 'utf8', timeout: 120_000 });
      assert.equal(r.status, 0, r.stderr);
    };
    sk(['copy', '--src-tls-verify=false', `docker://${h}/busybox:1`, `oci:${layout}:bb`]);
    sk(['copy', '--dest-tls-verify=false', `oci:${layout}:bb`, `docker://${h}/via-skopeo:1`]);
    sk(['copy', '--src-tls-verify=false', '--dest-tls-verify=false', `docker://${h}/via-skopeo:1`, `docker://${h}/via-skopeo:2`]);
    s.ok(['pull', `${h}/via-skopeo:2`]);
    // skopeo re-serializes the config when it converts Docker's manifest to OCI: same layers, new ID.
    assert.deepEqual(inspect(s, `${h}/via-skopeo:2`).RootFS.Layers, inspect(s, 'busybox').RootFS.Layers);
    assert.equal(s.ok(['run', '--rm', `${h}/via-skopeo:2`, 'echo', 'copied']).trim(), 'copied');
  });

  test('docker-registry with htpasswd: login verifies, stores 0600, never prints the password; logout', async (t) => {
    if (!which('docker-registry') || !which('htpasswd')) return t.skip('docker-registry or htpasswd not installed');
    const root = path.join(work, 'distribution-auth');
    fs.mkdirSync(root, { recursive: true });
    const pw = 'S3cret-pa55word';
    const ht = spawnSync('htpasswd', ['-Bbn', 'alice', pw], { encoding: 'utf8' });
    assert.equal(ht.status, 0, ht.stderr);
    fs.writeFileSync(path.join(root, 'htpasswd'), ht.stdout);
    const dist: Distribution = await startDistribution(root, { htpasswd: path.join(root, 'htpasswd') });
    try {
      const h = dist.host;
      s.ok(['tag', 'busybox', `${h}/private/bb:1`]);
      const denied = s.run(['push', `${h}/private/bb:1`]);
      assert.equal(denied.code, 1);
      assert.match(denied.stderr, /no basic auth credentials|unauthorized/);

      const wrong = s.run(['login', '-u', 'alice', '--password-stdin', h], { input: 'nope\n' });
      assert.equal(wrong.code, 1);
      assert.match(wrong.stderr, /incorrect username or password/);
      assert.ok(!fs.existsSync(path.join(dockerConfig, 'config.json')) || !fs.readFileSync(path.join(dockerConfig, 'config.json'), 'utf8').includes(h));

      const viaP = s.run(['login', '-u', 'alice', '-p', pw, h]);
      assert.equal(viaP.code, 0, viaP.stderr);
      assert.match(viaP.stderr, /WARNING! Using --password via the CLI is insecure/);
      const ok = s.run(['login', '-u', 'alice', '--password-stdin', h], { input: `${pw}\n` });
      assert.equal(ok.code, 0, ok.stderr);
      assert.match(ok.stdout, /Login Succeeded/);
      for (const r of [viaP, ok]) assert.ok(!(r.stdout + r.stderr).includes(pw), 'the password must never be printed');
      const file = path.join(dockerConfig, 'config.json');
      assert.equal(fs.statSync(file).mode & 0o777, 0o600);
      const cfg = JSON.parse(fs.readFileSync(file, 'utf8'));
      assert.equal(Buffer.from(cfg.auths[h].auth, 'base64').toString(), `alice:${pw}`);

      const pushed = s.ok(['push', `${h}/private/bb:1`]);
      assert.match(pushed, /1: digest: sha256:/);
      s.ok(['rmi', `${h}/private/bb:1`]);
      s.ok(['pull', `${h}/private/bb:1`]);
      assert.equal(inspect(s, `${h}/private/bb:1`).Id, busyboxId);

      // 401 after login: the stored password stopped working (changed elsewhere).
      const stale = 'Old-pa55word-from-last-year';
      const good = fs.readFileSync(file, 'utf8');
      cfg.auths[h].auth = Buffer.from(`alice:${stale}`).toString('base64');
      fs.writeFileSync(file, JSON.stringify(cfg), { mode: 0o600 });
      s.ok(['tag', 'busybox', `${h}/private/other:1`]);
      for (const args of [['pull', `${h}/private/bb:1`], ['push', `${h}/private/other:1`]]) {
        const r = s.run(args);
        assert.equal(r.code, 1, `${args.join(' ')}: ${r.stdout}`);
        assert.match(r.stderr, new RegExp(`unauthorized: incorrect username or password for ${h}`), args.join(' '));
        assert.match(r.stderr, new RegExp(`berth login ${h}`));
        assert.ok(!(r.stdout + r.stderr).includes(stale), 'the stored password must never be printed');
      }
      s.ok(['rmi', `${h}/private/other:1`]);
      fs.writeFileSync(file, good, { mode: 0o600 });

      assert.match(s.ok(['logout', h]), new RegExp(`Removing login credentials for ${h}`));
      assert.ok(!fs.readFileSync(file, 'utf8').includes(h));
      assert.match(s.ok(['logout', h]), /Not logged in/);
      s.ok(['rmi', `${h}/private/bb:1`]);
      const anon = s.run(['pull', `${h}/private/bb:1`]);
      assert.equal(anon.code, 1);
    } finally {
      await dist.close();
    }
  });

  test('docker-registry without auth: push and pull back', async (t) => {
    if (!which('docker-registry')) return t.skip('docker-registry not installed');
    const dist = await startDistribution(path.join(work, 'distribution-open'));
    try {
      const h = dist.host;
      s.ok(['tag', 'busybox', `${h}/open/bb:1`]);
      s.ok(['push', `${h}/open/bb:1`]);
      s.ok(['rmi', `${h}/open/bb:1`]);
      const out = s.ok(['pull', `${h}/open/bb:1`]);
      assert.match(out, /Downloaded newer image/);
      assert.equal(inspect(s, `${h}/open/bb:1`).Id, busyboxId);
      storeIsClean(s);
    } finally {
      await dist.close();
    }
  });

  test('registry serve stops cleanly on SIGTERM', async () => {
    const r = reg as Served;
    await r.stop();
    assert.equal(r.child.exitCode, 0);
    reg = undefined;
  });
});

describe('registries: a registry that lies about digests leaves nothing behind', { skip }, () => {
  const s = new TestStore('registry-bad');
  let server: http.Server | undefined;
  after(async () => {
    server?.closeAllConnections();
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    s.cleanup();
  });

  test('wrong layer bytes, an interrupted download, a wrong diff ID: each fails and leaves the store empty and consistent', async () => {
    // A real image's config and manifest, but the layer blob served is different bytes.
    const layer = Buffer.alloc(10_240); // an empty tar: two zero blocks and padding
    const diffId = sha256(layer);
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [diffId] } }));
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaTypes.OciManifest,
        config: { mediaType: MediaTypes.OciConfig, digest: sha256(config), size: config.length },
        layers: [{ mediaType: MediaTypes.OciLayer, digest: diffId, size: layer.length }],
      }),
    );
    const evil = Buffer.alloc(layer.length, 0);
    evil.write('not the layer you asked for');
    // A second image: the layer verifies, but the config claims other content (diff ID).
    const config2 = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha256('other')] } }));
    const manifest2 = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaTypes.OciManifest,
        config: { mediaType: MediaTypes.OciConfig, digest: sha256(config2), size: config2.length },
        layers: [{ mediaType: MediaTypes.OciLayer, digest: diffId, size: layer.length }],
      }),
    );
    // A third: the config verifies against its digest but is not JSON.
    const config3 = Buffer.from('{"architecture": "amd64", "os": ');
    const manifest3 = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaTypes.OciManifest,
        config: { mediaType: MediaTypes.OciConfig, digest: sha256(config3), size: config3.length },
        layers: [{ mediaType: MediaTypes.OciLayer, digest: diffId, size: layer.length }],
      }),
    );
    server = http.createServer((req, res) => {
      const url = req.url ?? '';
      if (url === '/v2/') return res.writeHead(200).end('{}');
      if (url.startsWith('/v2/badcfg/manifests/')) return res.writeHead(200, { 'content-type': MediaTypes.OciManifest }).end(manifest3);
      if (url === `/v2/badcfg/blobs/${sha256(config3)}`) return res.writeHead(200).end(config3);
      if (url.startsWith('/v2/slow/manifests/')) return res.writeHead(200, { 'content-type': MediaTypes.OciManifest }).end(manifest);
      if (url === `/v2/slow/blobs/${sha256(config)}`) return res.writeHead(200).end(config);
      if (url === `/v2/slow/blobs/${diffId}`) {
        // Half the layer, then nothing: the pull is stuck until it is interrupted.
        res.writeHead(200, { 'content-length': String(layer.length) });
        res.write(layer.subarray(0, layer.length / 2));
        return;
      }
      if (url.startsWith('/v2/baddiff/manifests/')) return res.writeHead(200, { 'content-type': MediaTypes.OciManifest }).end(manifest2);
      if (url === `/v2/baddiff/blobs/${sha256(config2)}`) return res.writeHead(200).end(config2);
      if (url === `/v2/baddiff/blobs/${diffId}`) return res.writeHead(200).end(layer);
      if (url.startsWith('/v2/bad/manifests/')) return res.writeHead(200, { 'content-type': MediaTypes.OciManifest }).end(manifest);
      if (url === `/v2/bad/blobs/${sha256(config)}`) return res.writeHead(200).end(config);
      if (url === `/v2/bad/blobs/${diffId}`) return res.writeHead(200, { 'content-length': String(evil.length) }).end(evil);
      res.writeHead(404).end();
    });
    await new Promise<void>((r) => (server as http.Server).listen(0, '127.0.0.1', () => r()));
    const h = `127.0.0.1:${((server as http.Server).address() as AddressInfo).port}`;
    // Asynchronously: the hostile registry runs in this very process.
    const r = await runAsync(s, ['pull', `${h}/bad:1`]);
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stderr, /failed verification|digest mismatch/);
    assert.equal(s.ok(['images', '-q']).trim(), '');
    storeIsClean(s);
    assert.deepEqual(fs.readdirSync(path.join(s.root, 'content', 'blobs', 'sha256')), []);
    assert.deepEqual(fs.readdirSync(path.join(s.root, 'content', 'ingest')), []);
    assert.deepEqual(fs.readdirSync(path.join(s.root, 'layers')), []);

    // Interrupted while a layer downloads: what was written is removed before the exit.
    const child = s.spawn(['pull', `${h}/slow:1`]);
    child.stdin.end();
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const closed = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
    const ingest = path.join(s.root, 'content', 'ingest');
    await eventually(() => fs.existsSync(ingest) && fs.readdirSync(ingest).some((f) => fs.statSync(path.join(ingest, f)).size > 0), 30_000);
    child.kill('SIGINT');
    assert.notEqual(await closed, 0);
    assert.match(stderr, /interrupted by SIGINT|canceled/);
    assert.deepEqual(fs.readdirSync(ingest), []);
    assert.deepEqual(fs.readdirSync(path.join(s.root, 'layers')), []);
    storeIsClean(s);

    const r3 = await runAsync(s, ['pull', `${h}/badcfg:1`]);
    assert.equal(r3.code, 1, r3.stdout);
    assert.match(r3.stderr, new RegExp(`the image config of ${h}/badcfg:1 .* from registry ${h}: .*not valid JSON`));
    assert.equal(s.ok(['images', '-q']).trim(), '');
    storeIsClean(s);

    const r2 = await runAsync(s, ['pull', `${h}/baddiff:1`]);
    assert.equal(r2.code, 1, r2.stdout);
    assert.match(r2.stderr, /unpacks to content .* but the image config says/);
    assert.equal(s.ok(['images', '-q']).trim(), '');
    storeIsClean(s);
    assert.deepEqual(fs.readdirSync(path.join(s.root, 'content', 'blobs', 'sha256')), []);
    assert.deepEqual(fs.readdirSync(path.join(s.root, 'layers')), []);
  });
});

describe('registries over TLS: unverified for insecure and loopback, verified otherwise', { skip }, () => {
  const s = new TestStore('rtls');
  const work = tmpDir('berth-registry-tls-');
  const conf = path.join(work, 'registries.json');
  const certsDir = path.join(work, 'certs.d');
  const savedEnv = { DOCKER_CONFIG: process.env.DOCKER_CONFIG, BERTH_REGISTRIES_CONF: process.env.BERTH_REGISTRIES_CONF };
  let reg: Served | undefined;
  /** This machine's own name when it resolves to loopback (Debian's /etc/hosts): a registry name that is not loopback by its spelling. */
  let name: string | undefined;
  let port = '';
  const openssl = (args: string[]) => {
    const r = spawnSync('openssl', args, { cwd: work, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
  };
  const writeConf = (o: object) => fs.writeFileSync(conf, JSON.stringify({ blocked: ['docker.io'], certsDirs: [certsDir], ...o }));

  before(async () => {
    process.env.DOCKER_CONFIG = path.join(work, 'docker-config');
    process.env.BERTH_REGISTRIES_CONF = conf;
    writeConf({});
    const host = os.hostname();
    const addr = await dns.lookup(host).catch(() => undefined);
    if (addr && /^127\./.test(addr.address) && /^[a-z0-9-]+$/i.test(host) && host !== 'localhost') name = host;
    // A CA, and a certificate it signs for this machine's name and 127.0.0.1.
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
    openssl(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=berth test CA']);
    openssl(['req', ...ec, '-keyout', 'reg.key', '-out', 'reg.csr', '-subj', `/CN=${name ?? 'localhost'}`]);
    fs.writeFileSync(path.join(work, 'san.ext'), `subjectAltName=${name ? `DNS:${name},` : ''}IP:127.0.0.1\n`);
    openssl(['x509', '-req', '-in', 'reg.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'reg.crt', '-days', '2', '-extfile', 'san.ext']);
    s.busybox();
    reg = await serveBerthRegistry(path.join(work, 'root'), ['--tls-cert', path.join(work, 'reg.crt'), '--tls-key', path.join(work, 'reg.key')]);
    port = reg.host.split(':')[1];
  });
  after(async () => {
    await reg?.stop();
    s.cleanup();
    fs.rmSync(work, { recursive: true, force: true });
    for (const [k, v] of Object.entries(savedEnv)) if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  });

  test('a loopback address needs no configuration: https without verification (the registry speaks no plain http)', () => {
    const h = (reg as Served).host;
    s.ok(['tag', 'busybox', `${h}/tls/bb:1`]);
    assert.match(s.ok(['push', `${h}/tls/bb:1`]), /digest: sha256:/);
    s.ok(['rmi', `${h}/tls/bb:1`]);
    assert.match(s.ok(['pull', `${h}/tls/bb:1`]), /Downloaded newer image/);
    assert.equal(s.ok(['run', '--rm', `${h}/tls/bb:1`, 'echo', 'over tls']).trim(), 'over tls');
  });

  test('a registry by name with an untrusted certificate fails clearly; insecure or its CA in certs.d makes it work', (t) => {
    if (!name) return t.skip(`${os.hostname()} does not resolve to a loopback address`);
    const h = `${name}:${port}`;
    s.ok(['tag', 'busybox', `${h}/named/bb:1`]);
    for (const args of [
      ['push', `${h}/named/bb:1`],
      ['pull', `${h}/named/other:1`],
      ['login', h, '-u', 'user', '--password-stdin'],
    ]) {
      const r = s.run(args, { input: 'secret\n' });
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.stdout}`);
      assert.match(r.stderr, new RegExp(`registry ${h} presented a TLS certificate that cannot be verified`), args.join(' '));
      assert.match(r.stderr, new RegExp(`certs.d/${h}/ca.crt.*"${h}" under "insecure" in ${conf.replace(/[.]/g, '\\.')}`, 's'), args.join(' '));
      assert.doesNotMatch(r.stderr, /secret/);
    }
    // Listed as insecure: https without verification.
    writeConf({ insecure: [h] });
    assert.match(s.ok(['push', `${h}/named/bb:1`]), /digest: sha256:/);
    // Not insecure, its CA given as Node users give one, in NODE_EXTRA_CA_CERTS: bin/berth moves it
    // out of Node's start-up and the registry client trusts it when it verifies.
    writeConf({});
    s.ok(['rmi', `${h}/named/bb:1`]);
    const viaNode = s.run(['pull', `${h}/named/bb:1`], { env: { NODE_EXTRA_CA_CERTS: path.join(work, 'ca.crt') } });
    assert.equal(viaNode.code, 0, viaNode.stderr);
    // Not insecure, but its CA is trusted through certs.d: verified https.
    fs.mkdirSync(path.join(certsDir, h), { recursive: true });
    fs.copyFileSync(path.join(work, 'ca.crt'), path.join(certsDir, h, 'ca.crt'));
    s.ok(['rmi', `${h}/named/bb:1`]);
    assert.match(s.ok(['pull', `${h}/named/bb:1`]), /Downloaded newer image/);
    assert.equal(s.ok(['run', '--rm', `${h}/named/bb:1`, 'echo', 'verified']).trim(), 'verified');
    storeIsClean(s);
  });
});

describe('registries: push through a registry that refuses streamed uploads', { skip }, () => {
  const s = new TestStore('rpatch');
  const work = tmpDir('berth-registry-patch-');
  let upstream: RegistryServer | undefined;
  let proxy: http.Server | undefined;
  after(async () => {
    proxy?.closeAllConnections();
    await new Promise<void>((r) => (proxy ? proxy.close(() => r()) : r()));
    await upstream?.close();
    s.cleanup();
    fs.rmSync(work, { recursive: true, force: true });
  });

  test('a failed streamed upload falls back to uploading the finished blob; an upload that always fails names the registry', async () => {
    s.busybox();
    upstream = await startRegistryServer({ addr: '127.0.0.1:0', root: path.join(work, 'reg') });
    const up = upstream;
    let mode: 'refuse-stream' | 'refuse-all' = 'refuse-stream';
    const refused: string[] = [];
    // In front of berth's registry: PATCH without Content-Range (a streamed layer) gets 500; in
    // 'refuse-all' mode every upload PUT with a body gets 500 as well.
    proxy = http.createServer((req, res) => {
      const streamed = req.method === 'PATCH' && !req.headers['content-range'];
      const putBody = req.method === 'PUT' && req.url?.includes('/blobs/uploads/') && req.headers['content-length'] !== '0';
      if (streamed || (mode === 'refuse-all' && putBody)) {
        refused.push(`${req.method} ${streamed ? 'stream' : 'put'}`);
        req.resume();
        res.writeHead(500, { 'content-type': 'application/json' }).end('{"errors":[{"code":"UNKNOWN","message":"storage is sulking"}]}');
        return;
      }
      const fwd = http.request({ host: '127.0.0.1', port: up.port, method: req.method, path: req.url, headers: req.headers }, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      });
      fwd.on('error', () => res.destroy());
      req.pipe(fwd);
    });
    await new Promise<void>((r) => (proxy as http.Server).listen(0, '127.0.0.1', () => r()));
    const h = `127.0.0.1:${((proxy as http.Server).address() as AddressInfo).port}`;

    // A layer that was never compressed: the streamed upload is refused, the finished blob goes up.
    s.ok(['tag', 'busybox', `${h}/fb/bb:1`]);
    const pushed = await runAsync(s, ['push', `${h}/fb/bb:1`]);
    assert.equal(pushed.code, 0, pushed.stderr);
    assert.match(pushed.stdout, /1: digest: sha256:/);
    assert.ok(refused.includes('PATCH stream'), refused.join(', '));
    const puller = new TestStore('rpatch2');
    try {
      const pulled = await runAsync(puller, ['pull', `${upstream.host}/fb/bb:1`]);
      assert.equal(pulled.code, 0, pulled.stderr);
      assert.equal(puller.ok(['run', '--rm', `${upstream.host}/fb/bb:1`, 'echo', 'fell back']).trim(), 'fell back');
    } finally {
      puller.cleanup();
    }

    // Every upload with a body fails (the layer is mounted from fb/bb, the config must be
    // uploaded): a clear error naming the registry, after the retries.
    mode = 'refuse-all';
    s.ok(['tag', 'busybox', `${h}/fb/nothing:1`]);
    const refusedAll = await runAsync(s, ['push', `${h}/fb/nothing:1`]);
    assert.equal(refusedAll.code, 1, refusedAll.stdout);
    assert.match(refusedAll.stderr, new RegExp(`registry ${h} answered 500 .*storage is sulking`));
    storeIsClean(s);
  });
});
