/**
 * Interoperability with real peers: a private dockerd (its own data root and bridge), skopeo. Images
 * go both ways through docker-archive, oci-archive and OCI layouts, and must keep their IDs (config
 * digests) and run on the other side. Containers of the dockerd run with `--network none`.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { PrivateDockerd } from './dockerd.js';
import { BIN, TestStore, eventually, which } from './helpers.js';

function skopeo(args: string[]): string {
  const r = spawnSync('skopeo', ['--insecure-policy', ...args], { encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`skopeo ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

describe('peers: dockerd and skopeo read what berth writes and the other way round', { skip: process.getuid?.() !== 0 && 'needs root' }, () => {
  const s = new TestStore('peers');
  const d = new PrivateDockerd();
  let up = false;
  let bbId = '';

  before(async () => {
    s.busybox();
    bbId = s.ok(['image', 'inspect', '--format', '{{.Id}}', 'busybox']).trim();
    up = await d.start();
  });
  after(async () => {
    await d.stop();
    s.cleanup();
  });

  const needDocker = (t: { skip: (m: string) => void }): boolean => {
    if (!up) t.skip(`dockerd cannot start here: ${d.failure}`);
    return up;
  };

  test('berth save -> docker load: same image ID, runs', (t) => {
    if (!needDocker(t)) return;
    const tar = path.join(s.dir, 'bb.tar');
    s.ok(['save', '-o', tar, 'busybox']);
    assert.match(d.ok(['load', '-i', tar]), /Loaded image: busybox:latest/);
    assert.equal(d.ok(['image', 'inspect', '--format', '{{.Id}}', 'busybox']).trim(), bbId);
    assert.equal(d.ok(['run', '--rm', '--network', 'none', 'busybox', 'echo', 'ok']).trim(), 'ok');
  });

  test('docker commit + docker save -> berth load: same image ID, runs with the file', (t) => {
    if (!needDocker(t)) return;
    d.ok(['run', '--network', 'none', '--name', 'dmaker', 'busybox', 'sh', '-c', 'echo from-docker > /hello; mkdir -p /d/e; rm -f /bin/true']);
    d.ok(['commit', '-c', 'ENV FROMDOCKER=1', 'dmaker', 'dimg:1']);
    d.ok(['rm', 'dmaker']);
    const dockerId = d.ok(['image', 'inspect', '--format', '{{.Id}}', 'dimg:1']).trim();
    const tar = path.join(s.dir, 'dimg.tar');
    d.ok(['save', '-o', tar, 'dimg:1']);
    assert.match(s.ok(['load', '-i', tar]), /Loaded image: dimg:1/);
    assert.equal(s.ok(['image', 'inspect', '--format', '{{.Id}}', 'dimg:1']).trim(), dockerId);
    assert.equal(s.ok(['run', '--rm', 'dimg:1', 'sh', '-c', 'cat /hello; echo $FROMDOCKER; test -e /bin/true || echo whiteout-ok']).trim(), 'from-docker\n1\nwhiteout-ok');
    assert.match(s.ok(['system', 'check']), /store is consistent/);
  });

  test('dockerd pulls from the registry berth serves, and runs the image', async (t) => {
    if (!needDocker(t)) return;
    const port = await new Promise<number>((resolve) => {
      const srv = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (srv.address() as net.AddressInfo).port;
        srv.close(() => resolve(p));
      });
    });
    const host = `127.0.0.1:${port}`;
    const reg = spawn(BIN, [...s.args(['registry', 'serve', '--addr', host, '--root', path.join(s.dir, 'registry')])], { stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    reg.stdout?.on('data', (c: Buffer) => (log += c.toString()));
    reg.stderr?.on('data', (c: Buffer) => (log += c.toString()));
    try {
      await eventually(() => log.includes('listening') || reg.exitCode !== null, 20_000);
      s.ok(['tag', 'busybox', `${host}/peers/busybox:1`]);
      s.ok(['push', `${host}/peers/busybox:1`]);
      // 127.0.0.0/8 is an insecure registry for dockerd by default: no TLS needed.
      d.ok(['pull', `${host}/peers/busybox:1`]);
      assert.equal(d.ok(['image', 'inspect', '--format', '{{.Id}}', `${host}/peers/busybox:1`]).trim(), bbId);
      assert.equal(d.ok(['run', '--rm', '--network', 'none', `${host}/peers/busybox:1`, 'echo', 'pulled-ok']).trim(), 'pulled-ok');
    } finally {
      reg.kill('SIGTERM');
      await new Promise((r) => (reg.exitCode !== null ? r(undefined) : reg.once('exit', r)));
    }
  });

  test('skopeo inspects berth archives as docker-archive: and oci-archive:', () => {
    if (!which('skopeo')) return;
    const tar = path.join(s.dir, 'bb-skopeo.tar');
    s.ok(['save', '-o', tar, 'busybox']);
    const layers = JSON.parse(s.ok(['image', 'inspect', '--format', '{{json .RootFS.Layers}}', 'busybox'])) as string[];
    for (const transport of ['docker-archive', 'oci-archive']) {
      const raw = JSON.parse(skopeo(['inspect', '--raw', `${transport}:${tar}`])) as { config: { digest: string }; layers: { digest: string }[] };
      assert.equal(raw.config.digest, bbId, transport);
      const info = JSON.parse(skopeo(['inspect', `${transport}:${tar}`])) as { Layers: string[]; Os: string };
      assert.equal(info.Os, 'linux');
      // Local layers are stored uncompressed: blob digest == diff ID.
      assert.deepEqual(info.Layers, layers, transport);
    }
  });

  test('skopeo copy to an OCI layout -> berth load: same config and layer digests', () => {
    if (!which('skopeo')) return;
    const src = path.join(s.dir, 'bb-src.tar');
    s.ok(['save', '-o', src, 'busybox']);
    // A new image (different config) so the load cannot be satisfied by what the store holds.
    s.ok(['run', '--name', 'forlayout', 'busybox', 'sh', '-c', 'echo layout > /l.txt']);
    s.ok(['commit', 'forlayout', 'forlayout:1']);
    s.ok(['save', '-o', src, 'forlayout:1']);
    s.ok(['rm', 'forlayout']);
    const id = s.ok(['image', 'inspect', '--format', '{{.Id}}', 'forlayout:1']).trim();
    s.ok(['rmi', 'forlayout:1']);
    // From the OCI half of berth's archive, skopeo keeps the config bytes: the ID survives the trip.
    // From the docker-archive half it converts the config to OCI (a new digest): berth must load
    // exactly what the layout says in both cases.
    for (const [transport, sameId] of [['oci-archive', true], ['docker-archive', false]] as const) {
      const layout = path.join(s.dir, `layout-${transport}`);
      skopeo(['copy', `${transport}:${src}`, `oci:${layout}:copied`]);
      const raw = JSON.parse(skopeo(['inspect', '--raw', `oci:${layout}:copied`])) as { config: { digest: string }; layers: { digest: string }[] };
      if (sameId) assert.equal(raw.config.digest, id, transport);
      s.ok(['load', '-i', layout]);
      const short = raw.config.digest.slice(7, 19);
      assert.equal(s.ok(['image', 'inspect', '--format', '{{.Id}}', short]).trim(), raw.config.digest, transport);
      const layers = JSON.parse(s.ok(['image', 'inspect', '--format', '{{json .RootFS.Layers}}', short])) as string[];
      // skopeo gzips layers for an OCI destination: the diff IDs of the layout's config must match.
      const cfg = JSON.parse(skopeo(['inspect', '--config', `oci:${layout}:copied`])) as { rootfs: { diff_ids: string[] } };
      assert.equal(raw.layers.length, layers.length, transport);
      assert.deepEqual(cfg.rootfs.diff_ids, layers, transport);
      assert.equal(s.ok(['run', '--rm', short, 'cat', '/l.txt']).trim(), 'layout', transport);
    }
  });

  test('an image berth commits exports, imports into docker and runs there', (t) => {
    if (!needDocker(t)) return;
    s.ok(['run', '--name', 'bmaker', 'busybox', 'sh', '-c', 'echo from-berth > /made; rm /bin/ls']);
    s.ok(['commit', '-c', 'CMD ["cat", "/made"]', '-m', 'peer test', 'bmaker', 'bimg:2']);
    s.ok(['rm', 'bmaker']);
    const id = s.ok(['image', 'inspect', '--format', '{{.Id}}', 'bimg:2']).trim();
    const tar = path.join(s.dir, 'bimg.tar');
    s.ok(['save', '-o', tar, 'bimg:2']);
    d.ok(['load', '-i', tar]);
    assert.equal(d.ok(['image', 'inspect', '--format', '{{.Id}}', 'bimg:2']).trim(), id);
    assert.equal(d.ok(['run', '--rm', '--network', 'none', 'bimg:2']).trim(), 'from-berth');
    assert.equal(d.ok(['run', '--rm', '--network', 'none', 'bimg:2', 'sh', '-c', 'test -e /bin/ls && echo present || echo deleted']).trim(), 'deleted');
    // docker's history shows berth's commit comment.
    assert.match(d.ok(['history', '--no-trunc', 'bimg:2']), /peer test/);
    // And the container filesystem export path: berth export | docker import.
    s.ok(['create', '--name', 'bexp', 'bimg:2']);
    const exp = path.join(s.dir, 'bexp.tar');
    s.ok(['export', '-o', exp, 'bexp']);
    s.ok(['rm', 'bexp']);
    d.ok(['import', exp, 'bexported:1']);
    assert.equal(d.ok(['run', '--rm', '--network', 'none', 'bexported:1', 'cat', '/made']).trim(), 'from-berth');
  });
});

