/**
 * RegistryClient against a registry that misbehaves on purpose: wrong digests, truncated and
 * broken bodies, invalid JSON, rate limits, permanent 500s, redirects, and a bearer token server.
 * Each case must fail with the right error class, or recover, and never leave a partial blob.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import { type Digest, sha256 } from '../content/digest.js';
import { ContentStore } from '../content/store.js';
import { isBerthError } from '../errors.js';
import { MediaTypes } from '../image/oci.js';
import { RegistryClient } from './client.js';
import { blob, ingestDirEntries, makeImage, tmpDir } from './test-support.js';

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

const big = Buffer.alloc(1 << 20);
for (let i = 0; i < big.length; i++) big[i] = (i * 7919) & 0xff;
const bigDigest = sha256(big);
const img = makeImage('bad', [10]);

describe('RegistryClient against a misbehaving registry', () => {
  let dir: string;
  let server: http.Server;
  let host: string;
  let store: ContentStore;
  const counts = new Map<string, number>();
  const seen: { url: string; range?: string; auth?: string }[] = [];
  let routes: Record<string, Handler> = {};
  const hit = (k: string) => {
    const n = (counts.get(k) ?? 0) + 1;
    counts.set(k, n);
    return n;
  };

  before(async () => {
    dir = tmpDir();
    server = http.createServer((req, res) => {
      const url = req.url ?? '/';
      seen.push({ url, ...(req.headers.range ? { range: req.headers.range } : {}), ...(req.headers.authorization ? { auth: req.headers.authorization } : {}) });
      const pathOnly = url.split('?')[0];
      const h = routes[pathOnly] ?? (pathOnly === '/v2/' ? (_q: http.IncomingMessage, r: http.ServerResponse) => r.end('{}') : undefined);
      if (h) h(req, res);
      else {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ errors: [{ code: 'NAME_UNKNOWN', message: 'no such repo' }] }));
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    fs.rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    routes = {};
    counts.clear();
    seen.length = 0;
    store = new ContentStore(path.join(dir, `store-${Math.random().toString(36).slice(2)}`));
  });
  const client = () => new RegistryClient({ host, retryDelayMs: 5 });
  const nothingPartial = (d: Digest) => {
    assert.deepEqual(ingestDirEntries(store.root), [], 'ingest dir is empty');
    assert.equal(store.has(d), false, 'no blob file');
  };
  const blobPath = (repo: string, d: Digest) => `/v2/${repo}/blobs/${d}`;

  test('a manifest with the wrong digest is corrupt', async () => {
    const other = makeImage('other', [10]).manifest.buf;
    routes[`/v2/x/manifests/${img.manifest.desc.digest}`] = (_q, r) => {
      r.writeHead(200, { 'content-type': MediaTypes.OciManifest });
      r.end(other);
    };
    await assert.rejects(client().getManifest('x', img.manifest.desc.digest), (e) => isBerthError(e, 'corrupt') && /different content/.test(e.message));
  });

  test('a tag whose Docker-Content-Digest disagrees with the bytes is corrupt', async () => {
    routes['/v2/x/manifests/latest'] = (_q, r) => {
      r.writeHead(200, { 'content-type': MediaTypes.OciManifest, 'docker-content-digest': sha256(Buffer.from('nope')) });
      r.end(img.manifest.buf);
    };
    await assert.rejects(client().getManifest('x', 'latest'), (e) => isBerthError(e, 'corrupt'));
  });

  test('invalid JSON in a manifest is corrupt, naming the manifest and the registry', async () => {
    routes['/v2/x/manifests/latest'] = (_q, r) => {
      r.writeHead(200, { 'content-type': MediaTypes.OciManifest });
      r.end('{"schemaVersion": 2, "config": ');
    };
    await assert.rejects(
      client().getManifest('x', 'latest'),
      (e) => isBerthError(e, 'corrupt') && /not valid JSON/.test(e.message) && e.message.includes(`${host}/x:latest`) && e.message.includes(`registry ${host}`),
    );
  });

  test('a blob with the wrong content is corrupt and leaves nothing behind', async () => {
    const wrong = Buffer.from(big);
    wrong[1000] ^= 1;
    routes[blobPath('x', bigDigest)] = (_q, r) => {
      r.writeHead(200, { 'content-length': String(wrong.length) });
      r.end(wrong);
    };
    await assert.rejects(client().pullBlob('x', { digest: bigDigest, size: big.length }, store), (e) => isBerthError(e, 'corrupt') && /failed verification/.test(e.message));
    nothingPartial(bigDigest);
  });

  test('a blob longer than its descriptor is corrupt', async () => {
    routes[blobPath('x', bigDigest)] = (_q, r) => r.end(Buffer.concat([big, Buffer.from('extra')]));
    await assert.rejects(client().pullBlob('x', { digest: bigDigest, size: big.length }, store), (e) => isBerthError(e, 'corrupt'));
    nothingPartial(bigDigest);
  });

  test('a blob that is always truncated fails after the retries and leaves nothing behind', async () => {
    routes[blobPath('x', bigDigest)] = (_q, r) => {
      hit('trunc');
      // Ignores Range, sends the first KiB, then ends the connection cleanly before Content-Length.
      r.writeHead(200, { 'content-length': String(big.length) });
      r.write(big.subarray(0, 1024), () => r.socket?.end());
    };
    await assert.rejects(client().pullBlob('x', { digest: bigDigest, size: big.length }, store), (e) => isBerthError(e, 'unavailable') && /failed at 1024 of/.test(e.message));
    assert.equal(counts.get('trunc'), 4, 'one try, then three resumes without progress');
    nothingPartial(bigDigest);
  });

  test('a short body that ends cleanly is resumed from where it stopped', async () => {
    routes[blobPath('x', bigDigest)] = (req, r) => {
      const start = Number(/bytes=(\d+)-/.exec(req.headers.range ?? '')?.[1] ?? 0);
      const end = Math.min(start + 300_000, big.length);
      // A registry that (wrongly) serves at most 300 kB per response, with a matching Content-Length.
      if (start > 0) r.writeHead(206, { 'content-range': `bytes ${start}-${end - 1}/${big.length}` });
      r.end(big.subarray(start, end));
    };
    const info = await client().pullBlob('x', { digest: bigDigest, size: big.length }, store);
    assert.equal(info.digest, bigDigest);
  });

  test('a connection dropped mid-blob resumes with a Range request', async () => {
    routes[blobPath('x', bigDigest)] = (req, r) => {
      const n = hit('drop');
      if (n === 1) {
        r.writeHead(200, { 'content-length': String(big.length) });
        r.write(big.subarray(0, 300_000), () => r.socket?.destroy());
        return;
      }
      const start = Number(/bytes=(\d+)-/.exec(req.headers.range ?? '')?.[1] ?? 0);
      r.writeHead(206, { 'content-range': `bytes ${start}-${big.length - 1}/${big.length}`, 'content-length': String(big.length - start) });
      r.end(big.subarray(start));
    };
    const info = await client().pullBlob('x', { digest: bigDigest, size: big.length }, store);
    assert.equal(info.digest, bigDigest);
    const ranges = seen.filter((s) => s.url.startsWith(blobPath('x', bigDigest))).map((s) => s.range);
    assert.equal(ranges[0], undefined);
    assert.match(ranges[1] ?? '', /^bytes=\d+-$/);
    assert.ok(Number(/=(\d+)/.exec(ranges[1] ?? '')?.[1]) > 0, 'resumed after the bytes already written');
    assert.deepEqual(store.readBuffer(bigDigest), big);
    assert.deepEqual(ingestDirEntries(store.root), []);
  });

  test('a resume answered with the whole blob (Range ignored) still verifies', async () => {
    routes[blobPath('x', bigDigest)] = (_q, r) => {
      const n = hit('norange');
      r.writeHead(200, { 'content-length': String(big.length) });
      if (n === 1) r.write(big.subarray(0, 200_000), () => r.socket?.destroy());
      else r.end(big);
    };
    const info = await client().pullBlob('x', { digest: bigDigest, size: big.length }, store);
    assert.equal(info.digest, bigDigest);
    assert.deepEqual(store.readBuffer(bigDigest), big);
  });

  test('429 then success recovers, honouring Retry-After', async () => {
    routes['/v2/x/manifests/latest'] = (_q, r) => {
      if (hit('429') < 3) {
        r.writeHead(429, { 'retry-after': '0', 'content-type': 'application/json' });
        r.end(JSON.stringify({ errors: [{ code: 'TOOMANYREQUESTS', message: 'slow down' }] }));
        return;
      }
      r.writeHead(200, { 'content-type': MediaTypes.OciManifest });
      r.end(img.manifest.buf);
    };
    const m = await client().getManifest('x', 'latest');
    assert.equal(m.digest, img.manifest.desc.digest);
    assert.equal(counts.get('429'), 3);
  });

  test('500 always is unavailable after 3 attempts, naming the registry', async () => {
    routes['/v2/x/manifests/latest'] = (_q, r) => {
      hit('500');
      r.writeHead(500);
      r.end('boom');
    };
    await assert.rejects(client().getManifest('x', 'latest'), (e) => isBerthError(e, 'unavailable') && e.message.includes(host) && /after 3 attempts/.test(e.message));
    assert.equal(counts.get('500'), 3);
    const b = blob(Buffer.from('x'));
    routes[blobPath('x', b.desc.digest)] = (_q, r) => {
      hit('blob500');
      r.writeHead(503);
      r.end();
    };
    await assert.rejects(client().pullBlob('x', b.desc, store), (e) => isBerthError(e, 'unavailable'));
    nothingPartial(b.desc.digest);
  });

  test('blob redirects to storage are followed', async () => {
    routes[blobPath('x', bigDigest)] = (_q, r) => {
      r.writeHead(307, { location: '/storage/big' });
      r.end();
    };
    routes['/storage/big'] = (_q, r) => r.end(big);
    const info = await client().pullBlob('x', { digest: bigDigest, size: big.length }, store);
    assert.equal(info.digest, bigDigest);
  });

  test('manifest 401/403/404 read as docker\'s "pull access denied"', async () => {
    routes['/v2/x/manifests/latest'] = (_q, r) => {
      r.writeHead(403, { 'content-type': 'application/json' });
      r.end(JSON.stringify({ errors: [{ code: 'DENIED', message: 'requested access to the resource is denied' }] }));
    };
    await assert.rejects(client().getManifest('x', 'latest'), (e) => isBerthError(e, 'not_found') && e.message.startsWith(`pull access denied for ${host}/x, repository does not exist or may require 'docker login'`));
    await assert.rejects(client().getManifest('nope', 'latest'), (e) => isBerthError(e, 'not_found') && /pull access denied/.test(e.message));
  });

  describe('bearer token flow', () => {
    const SECRET = 's3cr3t-pw';
    let tokenRequests: URL[];
    beforeEach(() => {
      tokenRequests = [];
      const realm = `http://${host}/token`;
      const challenge = (scope: string) => `Bearer realm="${realm}",service="bad.test",scope="${scope}"`;
      routes['/v2/'] = (req, r) => {
        if (!req.headers.authorization) {
          r.writeHead(401, { 'www-authenticate': challenge('') });
          r.end();
        } else r.end('{}');
      };
      routes['/token'] = (req, r) => {
        const u = new URL(req.url ?? '/', 'http://x');
        tokenRequests.push(u);
        const basic = req.headers.authorization;
        if (basic && basic !== `Basic ${Buffer.from(`bob:${SECRET}`).toString('base64')}`) {
          r.writeHead(401);
          r.end();
          return;
        }
        r.writeHead(200, { 'content-type': 'application/json' });
        r.end(JSON.stringify({ token: `tok:${u.searchParams.getAll('scope').join(' ')}:${basic ? 'bob' : 'anon'}`, expires_in: 300 }));
      };
      routes['/v2/x/manifests/latest'] = (req, r) => {
        if (!req.headers.authorization?.startsWith('Bearer tok:repository:x:pull')) {
          r.writeHead(401, { 'www-authenticate': challenge('repository:x:pull') });
          r.end();
          return;
        }
        r.writeHead(200, { 'content-type': MediaTypes.OciManifest });
        r.end(img.manifest.buf);
      };
    });

    test('anonymous tokens are fetched once per scope and reused', async () => {
      const c = client();
      await c.getManifest('x', 'latest');
      await c.getManifest('x', 'latest');
      assert.equal(tokenRequests.length, 1);
      assert.equal(tokenRequests[0].searchParams.get('service'), 'bad.test');
      assert.deepEqual(tokenRequests[0].searchParams.getAll('scope'), ['repository:x:pull']);
      assert.ok(seen.some((s) => s.auth === 'Bearer tok:repository:x:pull:anon'));
    });

    test('credentials go to the token server as Basic; wrong ones are unauthenticated without the secret', async () => {
      const good = new RegistryClient({ host, retryDelayMs: 5, credentials: async () => ({ username: 'bob', password: SECRET }) });
      await good.getManifest('x', 'latest');
      assert.ok(seen.some((s) => s.auth === 'Bearer tok:repository:x:pull:bob'));
      const bad = new RegistryClient({ host, retryDelayMs: 5, credentials: async () => ({ username: 'bob', password: 'wrong-pw-123' }) });
      await assert.rejects(bad.getManifest('x', 'latest'), (e) => {
        assert.ok(isBerthError(e, 'unauthenticated'));
        assert.ok(e.message.includes(host));
        assert.ok(!e.message.includes('wrong-pw-123') && !String(e.cause ?? '').includes('wrong-pw-123'));
        return true;
      });
    });

    test('push asks for a pull,push scope', async () => {
      const b = blob(Buffer.from('push me'));
      routes[`/v2/x/blobs/${b.desc.digest}`] = (_q, r) => {
        r.writeHead(404);
        r.end();
      };
      routes['/v2/x/blobs/uploads/'] = (req, r) => {
        assert.equal(req.headers.authorization, 'Bearer tok:repository:x:pull,push:anon');
        r.writeHead(202, { location: `http://${host}/upload/1?state=abc` });
        r.end();
      };
      let got = Buffer.alloc(0);
      routes['/upload/1'] = (req, r) => {
        const u = new URL(req.url ?? '/', 'http://x');
        assert.equal(u.searchParams.get('state'), 'abc', 'absolute Location keeps its query');
        assert.equal(u.searchParams.get('digest'), b.desc.digest);
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          got = Buffer.concat(chunks);
          r.writeHead(201, { 'docker-content-digest': b.desc.digest });
          r.end();
        });
      };
      const { Readable } = await import('node:stream');
      assert.equal(await client().pushBlob('x', b.desc, () => Readable.from([b.buf])), 'uploaded');
      assert.deepEqual(got, b.buf);
      assert.deepEqual(tokenRequests.map((u) => u.searchParams.getAll('scope')), [['repository:x:pull,push']]);
    });
  });

  test('an upload that fails with 500 restarts from a fresh session', async () => {
    const b = blob(Buffer.alloc(50_000, 3));
    routes[`/v2/x/blobs/${b.desc.digest}`] = (_q, r) => {
      r.writeHead(404);
      r.end();
    };
    routes['/v2/x/blobs/uploads/'] = (_q, r) => {
      const n = hit('post');
      r.writeHead(202, { location: `/v2/x/blobs/uploads/u${n}` });
      r.end();
    };
    let opened = 0;
    for (const id of ['u1', 'u2']) {
      routes[`/v2/x/blobs/uploads/${id}`] = (req, r) => {
        req.resume();
        req.on('end', () => {
          if (req.method === 'DELETE') return r.end();
          if (id === 'u1') {
            r.writeHead(500);
            r.end();
          } else {
            r.writeHead(201);
            r.end();
          }
        });
      };
    }
    const { Readable } = await import('node:stream');
    const res = await client().pushBlob('x', b.desc, () => {
      opened++;
      return Readable.from([b.buf]);
    });
    assert.equal(res, 'uploaded');
    assert.equal(opened, 2);
    assert.equal(counts.get('post'), 2);
  });
});
