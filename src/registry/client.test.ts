/**
 * One suite for RegistryClient, run against every registry implementation we have: Berth's own
 * server and the real distribution registry (Debian's docker-registry), each anonymous and with
 * htpasswd Basic auth.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { ContentStore } from '../content/store.js';
import { isBerthError } from '../errors.js';
import { MediaTypes, parseManifest } from '../image/oci.js';
import { RegistryClient, type RegistryCredentials } from './client.js';
import { startRegistryServer } from './server.js';
import { type TestImage, blob, hasProgram, ingestDirEntries, makeImage, startDistribution, tmpDir, writeHtpasswd } from './test-support.js';

interface Target {
  host: string;
  close(): Promise<void>;
}

interface Implementation {
  name: string;
  available: boolean;
  referrersApi: boolean;
  start(root: string, htpasswd?: string): Promise<Target>;
}

const implementations: Implementation[] = [
  {
    name: 'berth server',
    available: true,
    referrersApi: true,
    start: async (root, htpasswd) => {
      const s = await startRegistryServer({ addr: '127.0.0.1:0', root, ...(htpasswd ? { htpasswd } : {}) });
      return { host: s.host, close: s.close };
    },
  },
  {
    name: 'distribution (docker-registry)',
    available: hasProgram('docker-registry'),
    referrersApi: false,
    start: (root, htpasswd) => startDistribution(root, htpasswd ? { htpasswd } : {}),
  },
];

async function pushImage(c: RegistryClient, repo: string, img: TestImage, tag: string, opts: { chunkSize?: number } = {}): Promise<void> {
  for (const b of [...img.layers, img.config]) {
    await c.pushBlob(repo, b.desc, () => Readable.from([b.buf]), opts);
  }
  await c.putManifest(repo, tag, img.manifest.buf, MediaTypes.OciManifest);
}

const USER = 'alice';
const PASSWORD = 'correct horse battery staple';

for (const impl of implementations) {
  describe(`RegistryClient against ${impl.name}`, { skip: impl.available ? false : `${impl.name} is not installed` }, () => {
    let dir: string;
    let target: Target;
    let client: RegistryClient;
    before(async () => {
      dir = tmpDir();
      target = await impl.start(path.join(dir, 'registry'));
      client = new RegistryClient({ host: target.host, retryDelayMs: 10 });
    });
    after(async () => {
      await target?.close();
      fs.rmSync(dir, { recursive: true, force: true });
    });

    test('push monolithic and chunked, pull back identical bytes', async () => {
      const img = makeImage('mono', [10, 300_000, 0]);
      await pushImage(client, 'test/mono', img, 'v1');
      const img2 = makeImage('chunked', [100_000, 5]);
      await pushImage(client, 'test/chunked', img2, 'v1', { chunkSize: 16 * 1024 });

      for (const [repo, im] of [['test/mono', img], ['test/chunked', img2]] as const) {
        const m = await client.getManifest(repo, 'v1');
        assert.equal(m.digest, im.manifest.desc.digest);
        assert.deepEqual(m.buf, im.manifest.buf);
        assert.equal(m.mediaType, MediaTypes.OciManifest);
        const byDigest = await client.getManifest(repo, im.manifest.desc.digest);
        assert.deepEqual(byDigest.buf, im.manifest.buf);
        const head = await client.headManifest(repo, 'v1');
        assert.equal(head?.digest, im.manifest.desc.digest);
        assert.equal(head?.size, im.manifest.buf.length);

        const store = new ContentStore(path.join(dir, `pull-${repo.replace('/', '-')}`));
        const parsed = parseManifest(m.buf, m.mediaType);
        assert.equal(parsed.kind, 'manifest');
        if (parsed.kind !== 'manifest') return;
        for (const l of parsed.manifest.layers) {
          let last = 0;
          const info = await client.pullBlob(repo, l, store, { onProgress: (n) => (last = n) });
          assert.equal(info.digest, l.digest);
          assert.equal(last, l.size);
        }
        for (const l of im.layers) assert.deepEqual(store.readBuffer(l.desc.digest), l.buf);
        const cfg = await client.getBlobBuffer(repo, parsed.manifest.config);
        assert.deepEqual(cfg, im.config.buf);
        assert.deepEqual(ingestDirEntries(store.root), []);
      }
    });

    test('a streamed upload whose digest is known only at the end lands verified; a wrong digest lands nothing', async () => {
      const data = blob(Buffer.from(Array.from({ length: 2_500_000 }, (_, j) => (j * 13) & 0xff)));
      const chunks = () => Readable.from([data.buf.subarray(0, 1_000_000), data.buf.subarray(1_000_000)]);
      let asked = false;
      await client.pushBlobStream('test/streamed', chunks(), async () => {
        asked = true;
        return data.desc.digest;
      });
      assert.ok(asked);
      const store = new ContentStore(path.join(dir, 'pull-streamed'));
      await client.pullBlob('test/streamed', data.desc, store);
      assert.deepEqual(store.readBuffer(data.desc.digest), data.buf);

      const other = blob(Buffer.from('not what was sent'));
      await assert.rejects(
        client.pushBlobStream('test/streamed', Readable.from([data.buf.subarray(0, 5000)]), async () => other.desc.digest),
        (e) => isBerthError(e) && e.message.includes(target.host),
      );
      assert.equal(await client.blobExists('test/streamed', other.desc.digest), false);
    });

    test('a second push of a blob is skipped, a push with mountFrom mounts', async () => {
      const b = blob(Buffer.from('mount me, please'));
      assert.equal(await client.pushBlob('mount/src', b.desc, () => Readable.from([b.buf])), 'uploaded');
      assert.equal(await client.pushBlob('mount/src', b.desc, () => Readable.from([b.buf])), 'exists');
      const opened: number[] = [];
      const r = await client.pushBlob('mount/dst', b.desc, () => {
        opened.push(1);
        return Readable.from([b.buf]);
      }, { mountFrom: 'mount/src' });
      assert.equal(r, 'mounted');
      assert.equal(opened.length, 0, 'a mounted blob is not read');
      assert.equal(await client.blobExists('mount/dst', b.desc.digest), true);
      // Mounting from a repository without the blob falls back to an upload.
      const c = blob(Buffer.from('not in the source'));
      assert.equal(await client.pushBlob('mount/dst2', c.desc, () => Readable.from([c.buf]), { mountFrom: 'mount/src' }), 'uploaded');
    });

    test('tags are listed across pages, the catalog lists repositories', async () => {
      const img = makeImage('tags', [10]);
      const tags = ['a', 'b', 'c', 'd', 'e'];
      for (const t of tags) await pushImage(client, 'lists/tags', img, t);
      // distribution 2.8 pages in directory order, not sorted: compare as sets
      assert.deepEqual((await client.listTags('lists/tags', { pageSize: 2 })).sort(), tags);
      assert.deepEqual((await client.listTags('lists/tags')).sort(), tags);
      const repos = await client.catalog({ pageSize: 1 });
      assert.ok(repos.includes('lists/tags'), repos.join(','));
      assert.ok(repos.includes('test/mono'));
      await assert.rejects(client.listTags('lists/nope'), (e) => isBerthError(e, 'not_found'));
    });

    test('missing manifests and repositories are not_found with docker wording', async () => {
      await pushImage(client, 'missing/repo', makeImage('m', [5]), 'exists');
      await assert.rejects(client.getManifest('missing/repo', 'nosuchtag'), (e) => isBerthError(e, 'not_found') && /manifest for .*missing\/repo:nosuchtag not found/.test(e.message));
      await assert.rejects(client.getManifest('missing/none', 'latest'), (e) => isBerthError(e, 'not_found') && /not found|pull access denied/.test(e.message));
      assert.equal(await client.headManifest('missing/repo', 'nosuchtag'), undefined);
      const store = new ContentStore(path.join(dir, 'missing-store'));
      const ghost = blob(Buffer.from('ghost'));
      await assert.rejects(client.pullBlob('missing/repo', ghost.desc, store), (e) => isBerthError(e, 'not_found'));
      assert.deepEqual(ingestDirEntries(store.root), []);
      assert.equal(store.has(ghost.desc.digest), false);
    });

    test('manifests and blobs can be deleted', async () => {
      const img = makeImage('del', [20]);
      await pushImage(client, 'del/me', img, 'v1');
      await client.deleteManifest('del/me', img.manifest.desc.digest);
      await assert.rejects(client.getManifest('del/me', img.manifest.desc.digest), (e) => isBerthError(e, 'not_found'));
      await client.deleteBlob('del/me', img.layers[0].desc.digest);
      assert.equal(await client.blobExists('del/me', img.layers[0].desc.digest), false);
    });

    test('an index of manifests round-trips and pushing it before its children fails', async () => {
      const a = makeImage('idx-a', [10]);
      const index = {
        schemaVersion: 2,
        mediaType: MediaTypes.OciIndex,
        manifests: [{ ...a.manifest.desc, platform: { os: 'linux', architecture: 'amd64' } }],
      };
      const buf = Buffer.from(JSON.stringify(index));
      if (impl.referrersApi) {
        // distribution 2.8 accepts an index before its manifests; ours refuses (MANIFEST_BLOB_UNKNOWN)
        await assert.rejects(client.putManifest('idx/repo', 'multi', buf, MediaTypes.OciIndex), (e) => isBerthError(e, 'invalid_argument'));
      }
      await pushImage(client, 'idx/repo', a, 'amd64');
      await client.putManifest('idx/repo', 'multi', buf, MediaTypes.OciIndex);
      const got = await client.getManifest('idx/repo', 'multi');
      assert.equal(got.mediaType, MediaTypes.OciIndex);
      assert.deepEqual(got.buf, buf);
    });

    test('referrers list the manifests whose subject is a digest', { skip: impl.referrersApi ? false : 'no referrers API (distribution 2.8)' }, async () => {
      const img = makeImage('subject', [10]);
      await pushImage(client, 'ref/repo', img, 'v1');
      const empty = blob(Buffer.from('{}'), MediaTypes.OciEmpty);
      await client.pushBlob('ref/repo', empty.desc, () => Readable.from([empty.buf]));
      const sig = {
        schemaVersion: 2,
        mediaType: MediaTypes.OciManifest,
        artifactType: 'application/vnd.example.signature',
        config: empty.desc,
        layers: [empty.desc],
        subject: img.manifest.desc,
        annotations: { 'org.example.signed-by': 'test' },
      };
      const sbom = { ...sig, artifactType: 'application/vnd.example.sbom' };
      const sigBuf = Buffer.from(JSON.stringify(sig));
      const sigDigest = await client.putManifest('ref/repo', blob(sigBuf).desc.digest, sigBuf, MediaTypes.OciManifest);
      const sbomBuf = Buffer.from(JSON.stringify(sbom));
      await client.putManifest('ref/repo', blob(sbomBuf).desc.digest, sbomBuf, MediaTypes.OciManifest);

      const all = await client.referrers('ref/repo', img.manifest.desc.digest);
      assert.equal(all.length, 2);
      const sigs = await client.referrers('ref/repo', img.manifest.desc.digest, { artifactType: 'application/vnd.example.signature' });
      assert.equal(sigs.length, 1);
      assert.equal(sigs[0].digest, sigDigest);
      assert.equal(sigs[0].annotations?.['org.example.signed-by'], 'test');
      assert.deepEqual(await client.referrers('ref/repo', blob(Buffer.from('nothing')).desc.digest), []);
    });

    describe('with htpasswd basic auth', () => {
      let authDir: string;
      let authTarget: Target;
      before(async () => {
        authDir = tmpDir();
        const htpasswd = path.join(authDir, 'htpasswd');
        await writeHtpasswd(htpasswd, USER, PASSWORD);
        authTarget = await impl.start(path.join(authDir, 'registry'), htpasswd);
      });
      after(async () => {
        await authTarget?.close();
        fs.rmSync(authDir, { recursive: true, force: true });
      });
      const withCreds = (c: RegistryCredentials | undefined) => new RegistryClient({ host: authTarget.host, retryDelayMs: 10, credentials: async () => c });

      test('right credentials push and pull', async () => {
        const c = withCreds({ username: USER, password: PASSWORD });
        const img = makeImage('auth', [1000]);
        await pushImage(c, 'auth/repo', img, 'v1');
        const m = await c.getManifest('auth/repo', 'v1');
        assert.equal(m.digest, img.manifest.desc.digest);
        assert.deepEqual(await c.listTags('auth/repo'), ['v1']);
      });

      test('no or wrong credentials are unauthenticated and never echo the password', async () => {
        await assert.rejects(withCreds(undefined).getManifest('auth/repo', 'v1'), (e) => isBerthError(e, 'unauthenticated') && e.message.includes(authTarget.host));
        const wrong = 'not-the-password-x9';
        await assert.rejects(withCreds({ username: USER, password: wrong }).getManifest('auth/repo', 'v1'), (e) => {
          assert.ok(isBerthError(e, 'unauthenticated'), String(e));
          assert.ok(!e.message.includes(wrong) && !String(e.hint).includes(wrong));
          return true;
        });
        const b = blob(Buffer.from('denied'));
        await assert.rejects(withCreds(undefined).pushBlob('auth/repo', b.desc, () => Readable.from([b.buf])), (e) => isBerthError(e, 'unauthenticated'));
      });
    });
  });
}
