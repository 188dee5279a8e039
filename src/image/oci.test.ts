import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sha256 } from '../content/digest.js';
import { isBerthError } from '../errors.js';
import { type ImageIndex, MediaTypes, formatPlatform, hostPlatform, parseImageConfig, parseManifest, parsePlatform, selectPlatform } from './oci.js';

const d = (s: string) => sha256(Buffer.from(s));
const desc = (s: string, mediaType: string = MediaTypes.OciLayer) => ({ mediaType, digest: d(s), size: s.length });
const json = (v: unknown) => Buffer.from(JSON.stringify(v));
const isCorrupt = (re: RegExp) => (e: unknown) => isBerthError(e, 'corrupt') && re.test((e as Error).message);

test('parseManifest tells manifests from indexes by mediaType, hint or shape', () => {
  const man = { schemaVersion: 2, config: desc('c', MediaTypes.OciConfig), layers: [desc('l')] };
  const p1 = parseManifest(json({ ...man, mediaType: MediaTypes.DockerManifest }));
  assert.equal(p1.kind, 'manifest');
  assert.equal(p1.mediaType, MediaTypes.DockerManifest);
  assert.equal(parseManifest(json(man), MediaTypes.OciManifest).mediaType, MediaTypes.OciManifest);
  assert.equal(parseManifest(json(man), 'application/json').mediaType, MediaTypes.OciManifest);
  const idx = parseManifest(json({ schemaVersion: 2, manifests: [{ ...desc('m', MediaTypes.OciManifest), platform: { os: 'linux', architecture: 'amd64' } }] }));
  assert.equal(idx.kind, 'index');
  assert.equal(parseManifest(json({ schemaVersion: 2, manifests: [] }), MediaTypes.DockerManifestList).mediaType, MediaTypes.DockerManifestList);
});

test('parseManifest rejects untrusted garbage with corrupt', () => {
  const man = { schemaVersion: 2, mediaType: MediaTypes.OciManifest, config: desc('c'), layers: [desc('l')] };
  assert.throws(() => parseManifest(Buffer.from('{nope')), isCorrupt(/not valid JSON/));
  assert.throws(() => parseManifest(Buffer.from('[]')), isCorrupt(/not a JSON object/));
  assert.throws(() => parseManifest(json({ ...man, schemaVersion: 1 })), isCorrupt(/schema 1/));
  assert.throws(() => parseManifest(json({ ...man, layers: [{ ...desc('l'), digest: 'sha256:abc' }] })), isCorrupt(/layers\[0\]\.digest/));
  assert.throws(() => parseManifest(json({ ...man, layers: [{ ...desc('l'), size: -1 }] })), isCorrupt(/size/));
  assert.throws(() => parseManifest(json({ ...man, layers: 'x' })), isCorrupt(/layers must be an array/));
  assert.throws(() => parseManifest(json({ ...man, config: undefined })), isCorrupt(/config/));
  assert.throws(() => parseManifest(json(man), MediaTypes.DockerManifest), isCorrupt(/does not match/));
  assert.throws(() => parseManifest(json({ ...man, mediaType: 'text/plain' })), isCorrupt(/unsupported manifest media type/));
  assert.throws(() => parseManifest(json({ ...man, annotations: { a: 1 } })), isCorrupt(/annotations/));
});

test('parseImageConfig validates the fields the engine uses', () => {
  const cfg = {
    architecture: 'amd64',
    os: 'linux',
    config: { Env: ['A=1'], Cmd: null, Entrypoint: ['/bin/sh'], ExposedPorts: { '80/tcp': {} }, Healthcheck: { Test: ['CMD', 'true'], Interval: 1e9 } },
    rootfs: { type: 'layers', diff_ids: [d('x')] },
    history: [{ created_by: 'x', empty_layer: true }],
  };
  assert.deepEqual(parseImageConfig(json(cfg)), cfg);
  assert.throws(() => parseImageConfig(json({ ...cfg, os: 1 })), isCorrupt(/config\.os/));
  assert.throws(() => parseImageConfig(json({ ...cfg, rootfs: { type: 'x', diff_ids: [] } })), isCorrupt(/rootfs\.type/));
  assert.throws(() => parseImageConfig(json({ ...cfg, rootfs: { type: 'layers', diff_ids: ['nope'] } })), isCorrupt(/diff_ids\[0\]/));
  assert.throws(() => parseImageConfig(json({ ...cfg, config: { Env: 'A=1' } })), isCorrupt(/Env/));
  assert.throws(() => parseImageConfig(json({ ...cfg, history: [{ empty_layer: 'yes' }] })), isCorrupt(/empty_layer/));
});

test('selectPlatform matches os/arch/variant and lists what is available', () => {
  const entry = (os: string, architecture: string, variant?: string) => ({ ...desc(`${os}${architecture}${variant}`, MediaTypes.OciManifest), platform: { os, architecture, ...(variant ? { variant } : {}) } });
  const index: ImageIndex = {
    schemaVersion: 2,
    manifests: [entry('linux', 'arm', 'v6'), entry('linux', 'arm', 'v7'), entry('linux', 'amd64'), entry('linux', 'arm64'), entry('unknown', 'unknown')],
  };
  assert.equal(selectPlatform(index, { os: 'linux', architecture: 'amd64' }), index.manifests[2]);
  assert.equal(selectPlatform(index, { os: 'linux', architecture: 'arm', variant: 'v7' }), index.manifests[1]);
  assert.equal(selectPlatform(index, { os: 'linux', architecture: 'arm64', variant: 'v8' }), index.manifests[3], 'arm64 without variant means v8');
  assert.throws(
    () => selectPlatform(index, { os: 'linux', architecture: 's390x' }),
    (e) => isBerthError(e, 'not_found') && /no matching manifest for linux\/s390x.*available: linux\/arm\/v6, linux\/arm\/v7, linux\/amd64, linux\/arm64\)/.test((e as Error).message),
  );
});

test('platform strings and the host platform', () => {
  assert.deepEqual(parsePlatform('linux/arm64/v8'), { os: 'linux', architecture: 'arm64', variant: 'v8' });
  assert.equal(formatPlatform({ os: 'linux', architecture: 'amd64' }), 'linux/amd64');
  assert.throws(() => parsePlatform('linux'), (e) => isBerthError(e, 'invalid_argument'));
  const h = hostPlatform();
  assert.equal(h.os, 'linux');
  if (process.arch === 'x64') assert.equal(h.architecture, 'amd64');
});
