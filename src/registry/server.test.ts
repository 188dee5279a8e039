/** The registry server at the HTTP level: status codes, headers and error bodies of the distribution spec. */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { sha256 } from '../content/digest.js';
import { MediaTypes } from '../image/oci.js';
import { type RegistryServer, startRegistryServer } from './server.js';
import { blob, hasProgram, makeImage, tmpDir, writeHtpasswd } from './test-support.js';
import { execFileSync } from 'node:child_process';

describe('registry server HTTP API', () => {
  let dir: string;
  let srv: RegistryServer;
  const req = (p: string, init: RequestInit = {}) => fetch(`${srv.url}${p}`, init);
  const errorCode = async (res: Response) => ((await res.json()) as { errors: { code: string }[] }).errors[0].code;
  const upload = async (repo: string, buf: Buffer) => {
    const d = sha256(buf);
    const res = await req(`/v2/${repo}/blobs/uploads/?digest=${d}`, { method: 'POST', body: buf });
    assert.equal(res.status, 201);
    return d;
  };

  before(async () => {
    dir = tmpDir();
    srv = await startRegistryServer({ addr: '127.0.0.1:0', root: path.join(dir, 'reg') });
  });
  after(async () => {
    await srv.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('GET /v2/ answers with the API version header', async () => {
    const res = await req('/v2/');
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('docker-distribution-api-version'), 'registry/2.0');
  });

  test('invalid names are NAME_INVALID, unknown blobs BLOB_UNKNOWN in the distribution error format', async () => {
    let res = await req('/v2/a/../b/tags/list');
    assert.ok(res.status === 400 || res.status === 404);
    res = await req('/v2/UPPER/tags/list');
    assert.equal(res.status, 400);
    assert.equal(await errorCode(res), 'NAME_INVALID');
    res = await req(`/v2/x%2F..%2Fy/blobs/${sha256('a')}`);
    assert.equal(res.status, 400);
    res = await req(`/v2/ok/blobs/${sha256('nothing')}`);
    assert.equal(res.status, 404);
    assert.equal(await errorCode(res), 'BLOB_UNKNOWN');
    res = await req('/v2/ok/blobs/sha256:zz');
    assert.equal(await errorCode(res), 'DIGEST_INVALID');
    res = await req('/v2/nope/tags/list');
    assert.equal(await errorCode(res), 'NAME_UNKNOWN');
  });

  test('blobs support HEAD and Range', async () => {
    const buf = Buffer.from('0123456789abcdef');
    const d = await upload('r/range', buf);
    let res = await req(`/v2/r/range/blobs/${d}`, { method: 'HEAD' });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-length'), String(buf.length));
    assert.equal(res.headers.get('docker-content-digest'), d);
    res = await req(`/v2/r/range/blobs/${d}`, { headers: { range: 'bytes=4-7' } });
    assert.equal(res.status, 206);
    assert.equal(res.headers.get('content-range'), `bytes 4-7/${buf.length}`);
    assert.equal(await res.text(), '4567');
    res = await req(`/v2/r/range/blobs/${d}`, { headers: { range: 'bytes=10-' } });
    assert.equal(await res.text(), 'abcdef');
    res = await req(`/v2/r/range/blobs/${d}`, { headers: { range: 'bytes=-3' } });
    assert.equal(await res.text(), 'def');
    res = await req(`/v2/r/range/blobs/${d}`, { headers: { range: 'bytes=99-' } });
    assert.equal(res.status, 416);
    await res.body?.cancel();
  });

  test('chunked uploads check Content-Range, report progress, and reject a wrong digest leaving nothing', async () => {
    let res = await req('/v2/r/chunks/blobs/uploads/', { method: 'POST' });
    assert.equal(res.status, 202);
    const loc = res.headers.get('location') as string;
    assert.ok(loc.startsWith('/v2/r/chunks/blobs/uploads/'));
    res = await req(loc, { method: 'PATCH', body: 'hello ', headers: { 'content-range': '0-5' } });
    assert.equal(res.status, 202);
    assert.equal(res.headers.get('range'), '0-5');
    res = await req(loc, { method: 'PATCH', body: 'again', headers: { 'content-range': '0-4' } });
    assert.equal(res.status, 416, 'a chunk must continue where the upload is');
    await res.body?.cancel();
    res = await req(loc, { method: 'GET' });
    assert.equal(res.status, 204);
    assert.equal(res.headers.get('range'), '0-5');
    res = await req(loc, { method: 'PATCH', body: 'world', headers: { 'content-range': '6-10' } });
    assert.equal(res.status, 202);
    const wrong = sha256('something else');
    res = await req(`${loc}?digest=${wrong}`, { method: 'PUT' });
    assert.equal(res.status, 400);
    assert.equal(await errorCode(res), 'DIGEST_INVALID');
    const root = path.join(dir, 'reg', 'content');
    assert.deepEqual(fs.readdirSync(path.join(root, 'ingest')), []);
    assert.equal(fs.existsSync(path.join(root, 'blobs', 'sha256', sha256('hello world').slice(7))), false);
    // The failed session is gone.
    res = await req(loc, { method: 'GET' });
    assert.equal(await errorCode(res), 'BLOB_UPLOAD_UNKNOWN');
  });

  test('a cancelled upload leaves no ingest file', async () => {
    let res = await req('/v2/r/cancel/blobs/uploads/', { method: 'POST' });
    const loc = res.headers.get('location') as string;
    res = await req(loc, { method: 'PATCH', body: 'partial' });
    assert.equal(res.status, 202);
    res = await req(loc, { method: 'DELETE' });
    assert.equal(res.status, 204);
    assert.deepEqual(fs.readdirSync(path.join(dir, 'reg', 'content', 'ingest')), []);
  });

  test('manifest PUT needs its blobs (MANIFEST_BLOB_UNKNOWN), keeps exact bytes and media type', async () => {
    const img = makeImage('srv', [10]);
    let res = await req('/v2/r/man/manifests/v1', { method: 'PUT', body: img.manifest.buf, headers: { 'content-type': MediaTypes.OciManifest } });
    assert.equal(res.status, 400);
    assert.equal(await errorCode(res), 'MANIFEST_BLOB_UNKNOWN');
    for (const b of [img.config, ...img.layers]) await upload('r/man', b.buf);
    res = await req('/v2/r/man/manifests/v1', { method: 'PUT', body: img.manifest.buf, headers: { 'content-type': MediaTypes.OciManifest } });
    assert.equal(res.status, 201);
    assert.equal(res.headers.get('docker-content-digest'), img.manifest.desc.digest);
    assert.equal(res.headers.get('location'), `/v2/r/man/manifests/${img.manifest.desc.digest}`);
    res = await req('/v2/r/man/manifests/v1');
    assert.equal(res.headers.get('content-type'), MediaTypes.OciManifest);
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), img.manifest.buf);
    res = await req('/v2/r/man/manifests/v1', { method: 'PUT', body: '{"schemaVersion":1}', headers: { 'content-type': MediaTypes.DockerManifest } });
    assert.equal(await errorCode(res), 'MANIFEST_INVALID');
    res = await req(`/v2/r/man/manifests/${sha256('other')}`, { method: 'PUT', body: img.manifest.buf, headers: { 'content-type': MediaTypes.OciManifest } });
    assert.equal(await errorCode(res), 'DIGEST_INVALID');
    res = await req('/v2/r/man/manifests/bad:tag');
    assert.equal(res.status, 400);
    await res.body?.cancel();
  });

  test('tags list paginates with n and last and a Link header', async () => {
    const img = makeImage('pages', [10]);
    for (const b of [img.config, ...img.layers]) await upload('r/pages', b.buf);
    for (const t of ['t3', 't1', 't2']) {
      const res = await req(`/v2/r/pages/manifests/${t}`, { method: 'PUT', body: img.manifest.buf, headers: { 'content-type': MediaTypes.OciManifest } });
      assert.equal(res.status, 201);
    }
    let res = await req('/v2/r/pages/tags/list?n=2');
    assert.deepEqual(await res.json(), { name: 'r/pages', tags: ['t1', 't2'] });
    assert.equal(res.headers.get('link'), '</v2/r/pages/tags/list?n=2&last=t2>; rel="next"');
    res = await req('/v2/r/pages/tags/list?n=2&last=t2');
    assert.deepEqual(await res.json(), { name: 'r/pages', tags: ['t3'] });
    assert.equal(res.headers.get('link'), null);
  });

  test('blob mount from a repository without the blob starts an upload', async () => {
    const d = await upload('r/src', Buffer.from('mountable'));
    let res = await req(`/v2/r/dst/blobs/uploads/?mount=${d}&from=r/src`, { method: 'POST' });
    assert.equal(res.status, 201);
    assert.equal(res.headers.get('location'), `/v2/r/dst/blobs/${d}`);
    res = await req(`/v2/r/dst2/blobs/uploads/?mount=${sha256('absent')}&from=r/src`, { method: 'POST' });
    assert.equal(res.status, 202);
  });

  test('a second server instance on the same root sees the same repositories', async () => {
    const other = await startRegistryServer({ addr: '127.0.0.1:0', root: path.join(dir, 'reg') });
    try {
      const res = await fetch(`${other.url}/v2/_catalog`);
      const { repositories } = (await res.json()) as { repositories: string[] };
      assert.ok(repositories.includes('r/man'));
    } finally {
      await other.close();
    }
  });
});

describe('registry server basic auth', () => {
  let dir: string;
  let srv: RegistryServer;
  before(async () => {
    dir = tmpDir();
    const file = path.join(dir, 'htpasswd');
    // Prefer the real htpasswd tool ($2y$ entries) when installed (apache2-utils).
    if (hasProgram('htpasswd')) fs.writeFileSync(file, execFileSync('htpasswd', ['-Bbn', 'dave', 'pw-dave']));
    else await writeHtpasswd(file, 'dave', 'pw-dave');
    srv = await startRegistryServer({ addr: '127.0.0.1:0', root: path.join(dir, 'reg'), htpasswd: file });
  });
  after(async () => {
    await srv.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('401 with a Basic challenge without or with wrong credentials, 200 with right ones', async () => {
    let res = await fetch(`${srv.url}/v2/`);
    assert.equal(res.status, 401);
    assert.equal(res.headers.get('www-authenticate'), 'Basic realm="berth"');
    assert.equal(((await res.json()) as { errors: { code: string }[] }).errors[0].code, 'UNAUTHORIZED');
    const auth = (u: string, p: string) => ({ authorization: `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}` });
    res = await fetch(`${srv.url}/v2/`, { headers: auth('dave', 'nope') });
    assert.equal(res.status, 401);
    await res.body?.cancel();
    res = await fetch(`${srv.url}/v2/`, { headers: auth('eve', 'pw-dave') });
    assert.equal(res.status, 401);
    await res.body?.cancel();
    res = await fetch(`${srv.url}/v2/`, { headers: auth('dave', 'pw-dave') });
    assert.equal(res.status, 200);
    await res.body?.cancel();
    const b = blob(Buffer.from('auth upload'));
    res = await fetch(`${srv.url}/v2/a/blobs/uploads/?digest=${b.desc.digest}`, { method: 'POST', body: b.buf });
    assert.equal(res.status, 401, 'an upload without credentials is refused');
    await res.body?.cancel();
  });
});
