/**
 * Interoperability of Berth's registry server with skopeo (containers/image): copy an OCI layout in,
 * inspect it, copy it back out, with and without Basic auth. Our client then reads what skopeo wrote.
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { type Digest, sha256 } from '../content/digest.js';
import { ContentStore } from '../content/store.js';
import { type ImageConfig, type ImageIndex, type ImageManifest, MediaTypes, parseManifest } from '../image/oci.js';
import { RegistryClient } from './client.js';
import { type RegistryServer, startRegistryServer } from './server.js';
import { hasProgram, tmpDir, writeHtpasswd } from './test-support.js';

const run = promisify(execFile);
const available = hasProgram('skopeo') && hasProgram('tar');

/** Writes an OCI image layout with one real tar layer; returns the manifest digest. */
function makeLayout(dir: string): { manifestDigest: Digest; layerDigest: Digest } {
  const src = path.join(dir, 'rootfs');
  fs.mkdirSync(path.join(src, 'etc'), { recursive: true });
  fs.writeFileSync(path.join(src, 'etc', 'hello'), 'hello from berth\n');
  fs.writeFileSync(path.join(src, 'data.bin'), Buffer.alloc(200_000, 7));
  const blobs = path.join(dir, 'layout', 'blobs', 'sha256');
  fs.mkdirSync(blobs, { recursive: true });
  const tarPath = path.join(dir, 'layer.tar');
  execFileSync('tar', ['-C', src, '-cf', tarPath, '.']);
  const layer = fs.readFileSync(tarPath);
  const put = (buf: Buffer) => {
    const d = sha256(buf);
    fs.writeFileSync(path.join(blobs, d.slice(7)), buf);
    return d;
  };
  const layerDigest = put(layer);
  const config: ImageConfig = {
    architecture: 'amd64',
    os: 'linux',
    created: '2026-01-01T00:00:00Z',
    config: { Cmd: ['/bin/sh'], Env: ['PATH=/bin'] },
    rootfs: { type: 'layers', diff_ids: [layerDigest] },
    history: [{ created: '2026-01-01T00:00:00Z', created_by: 'test' }],
  };
  const cfgBuf = Buffer.from(JSON.stringify(config));
  const cfgDigest = put(cfgBuf);
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MediaTypes.OciManifest,
    config: { mediaType: MediaTypes.OciConfig, digest: cfgDigest, size: cfgBuf.length },
    layers: [{ mediaType: MediaTypes.OciLayer, digest: layerDigest, size: layer.length }],
  };
  const manBuf = Buffer.from(JSON.stringify(manifest));
  const manifestDigest = put(manBuf);
  const index: ImageIndex = {
    schemaVersion: 2,
    mediaType: MediaTypes.OciIndex,
    manifests: [{ mediaType: MediaTypes.OciManifest, digest: manifestDigest, size: manBuf.length, annotations: { 'org.opencontainers.image.ref.name': 'v1' } }],
  };
  fs.writeFileSync(path.join(dir, 'layout', 'index.json'), JSON.stringify(index));
  fs.writeFileSync(path.join(dir, 'layout', 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  return { manifestDigest, layerDigest };
}

describe('skopeo against the berth registry server', { skip: available ? false : 'skopeo or tar is not installed' }, () => {
  let dir: string;
  let server: RegistryServer;
  let authServer: RegistryServer;
  let layout: { manifestDigest: Digest; layerDigest: Digest };
  before(async () => {
    dir = tmpDir();
    layout = makeLayout(dir);
    server = await startRegistryServer({ addr: '127.0.0.1:0', root: path.join(dir, 'reg') });
    const htpasswd = path.join(dir, 'htpasswd');
    await writeHtpasswd(htpasswd, 'carol', 'pw-for-skopeo');
    authServer = await startRegistryServer({ addr: '127.0.0.1:0', root: path.join(dir, 'reg-auth'), htpasswd });
  });
  after(async () => {
    await server?.close();
    await authServer?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('copy an OCI layout in, inspect it, read it with our client, copy it back out', async () => {
    const ref = `docker://${server.host}/skopeo/img:v1`;
    await run('skopeo', ['copy', '--preserve-digests', '--dest-tls-verify=false', `oci:${path.join(dir, 'layout')}:v1`, ref]);
    const { stdout } = await run('skopeo', ['inspect', '--tls-verify=false', ref]);
    const info = JSON.parse(stdout) as { Digest: string; Layers: string[]; Os: string; Architecture: string };
    assert.equal(info.Os, 'linux');
    assert.equal(info.Architecture, 'amd64');
    assert.deepEqual(info.Layers, [layout.layerDigest]);

    const client = new RegistryClient({ host: server.host });
    const m = await client.getManifest('skopeo/img', 'v1');
    assert.equal(m.digest, info.Digest);
    const parsed = parseManifest(m.buf, m.mediaType);
    assert.equal(parsed.kind, 'manifest');
    if (parsed.kind === 'manifest') {
      const store = new ContentStore(path.join(dir, 'pulled'));
      await client.pullBlob('skopeo/img', parsed.manifest.layers[0], store);
      assert.ok(store.has(layout.layerDigest));
    }

    const out = path.join(dir, 'out');
    await run('skopeo', ['copy', '--preserve-digests', '--src-tls-verify=false', ref, `oci:${out}:v1`]);
    const layerBack = fs.readFileSync(path.join(out, 'blobs', 'sha256', layout.layerDigest.slice(7)));
    assert.equal(sha256(layerBack), layout.layerDigest);
    const raw = (await run('skopeo', ['inspect', '--raw', '--tls-verify=false', ref])).stdout;
    assert.equal(sha256(Buffer.from(raw)), info.Digest);
  });

  test('skopeo copies between two repositories of our server (blob mount)', async () => {
    await run('skopeo', ['copy', '--src-tls-verify=false', '--dest-tls-verify=false', `docker://${server.host}/skopeo/img:v1`, `docker://${server.host}/skopeo/copy:v2`]);
    const client = new RegistryClient({ host: server.host });
    assert.ok(await client.blobExists('skopeo/copy', layout.layerDigest));
    assert.deepEqual(await client.listTags('skopeo/copy'), ['v2']);
  });

  test('skopeo with Basic auth: refused without credentials, accepted with them', async () => {
    const ref = `docker://${authServer.host}/private/img:v1`;
    const authfile = path.join(dir, 'auth.json');
    fs.writeFileSync(authfile, JSON.stringify({ auths: { [authServer.host]: { auth: Buffer.from('carol:pw-for-skopeo').toString('base64') } } }), { mode: 0o600 });
    await assert.rejects(run('skopeo', ['copy', '--preserve-digests', '--dest-tls-verify=false', '--dest-authfile', path.join(dir, 'none.json'), `oci:${path.join(dir, 'layout')}:v1`, ref]));
    await run('skopeo', ['copy', '--preserve-digests', '--dest-tls-verify=false', '--dest-authfile', authfile, `oci:${path.join(dir, 'layout')}:v1`, ref]);
    const { stdout } = await run('skopeo', ['inspect', '--tls-verify=false', '--authfile', authfile, ref]);
    assert.deepEqual((JSON.parse(stdout) as { Layers: string[] }).Layers, [layout.layerDigest]);
  });
});
