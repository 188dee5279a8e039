import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
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

// ---------------------------------------------------------------- structure-aware properties
// Valid documents are generated from the OCI/Docker schemas; mutations then damage them where a
// hostile registry or archive could (drop a field, swap a value for JSON of another type, add a
// field, truncate or flip bytes). Every input is either accepted with the invariants the engine
// relies on, or rejected with BerthError `corrupt`; nothing else is thrown and nothing hangs.

const hexArb = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString('hex'));
const digestArb = hexArb.map((h) => `sha256:${h}`);
const platformArb = fc.record(
  {
    os: fc.constantFrom('linux', 'windows', 'unknown'),
    architecture: fc.constantFrom('amd64', 'arm64', 'arm', 's390x', 'unknown'),
    variant: fc.constantFrom('v6', 'v7', 'v8'),
    'os.version': fc.string({ maxLength: 8 }),
    'os.features': fc.array(fc.string({ maxLength: 5 }), { maxLength: 2 }),
  },
  { requiredKeys: ['os', 'architecture'] },
);
const annotationsArb = fc.dictionary(fc.string({ maxLength: 12 }), fc.string({ maxLength: 12 }), { maxKeys: 3 });
const descArb = (mediaTypes: string[], withPlatform = false) =>
  fc.record(
    {
      mediaType: fc.constantFrom(...mediaTypes),
      digest: digestArb,
      size: fc.nat({ max: 2 ** 40 }),
      annotations: annotationsArb,
      urls: fc.array(fc.webUrl(), { maxLength: 1 }),
      ...(withPlatform ? { platform: platformArb } : {}),
    },
    { requiredKeys: ['mediaType', 'digest', 'size'] },
  );
const layerTypes = [MediaTypes.OciLayer, MediaTypes.DockerLayer, 'application/vnd.oci.image.layer.v1.tar'];
const manifestArb = fc.record(
  {
    schemaVersion: fc.constant(2),
    mediaType: fc.constantFrom(MediaTypes.OciManifest, MediaTypes.DockerManifest),
    config: descArb([MediaTypes.OciConfig, MediaTypes.DockerConfig]),
    layers: fc.array(descArb(layerTypes), { maxLength: 5 }),
    annotations: annotationsArb,
    subject: descArb([MediaTypes.OciManifest]),
  },
  { requiredKeys: ['schemaVersion', 'config', 'layers'] },
);
const indexArb = fc.record(
  {
    schemaVersion: fc.constant(2),
    mediaType: fc.constantFrom(MediaTypes.OciIndex, MediaTypes.DockerManifestList),
    manifests: fc.array(descArb([MediaTypes.OciManifest, MediaTypes.DockerManifest, MediaTypes.OciIndex], true), { maxLength: 6 }),
    annotations: annotationsArb,
  },
  { requiredKeys: ['schemaVersion', 'manifests'] },
);
const strList = fc.array(fc.string({ maxLength: 10 }), { maxLength: 3 });
const configArb = fc.record(
  {
    architecture: fc.constantFrom('amd64', 'arm64'),
    os: fc.constant('linux'),
    variant: fc.constantFrom('v7', 'v8'),
    created: fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
    author: fc.string({ maxLength: 10 }),
    config: fc.record(
      {
        User: fc.string({ maxLength: 8 }),
        Env: strList,
        Entrypoint: fc.option(strList, { nil: null }),
        Cmd: fc.option(strList, { nil: null }),
        WorkingDir: fc.string({ maxLength: 8 }),
        ExposedPorts: fc.dictionary(fc.constantFrom('80/tcp', '53/udp', '8080'), fc.constant({})),
        Volumes: fc.dictionary(fc.constantFrom('/data', '/var/lib/x'), fc.constant({})),
        Labels: annotationsArb,
        StopSignal: fc.constantFrom('SIGTERM', 'SIGKILL', '9'),
        Healthcheck: fc.record({ Test: fc.constantFrom(['NONE'], ['CMD', 'true'], ['CMD-SHELL', 'x']), Interval: fc.nat(), Retries: fc.nat({ max: 10 }) }, { requiredKeys: ['Test'] }),
        ArgsEscaped: fc.boolean(),
        OnBuild: fc.option(strList, { nil: null }),
        Shell: strList,
      },
      { requiredKeys: [] },
    ),
    rootfs: fc.record({ type: fc.constant('layers'), diff_ids: fc.array(digestArb, { maxLength: 5 }) }),
    history: fc.array(
      fc.record({ created: fc.constant('2024-01-01T00:00:00Z'), created_by: fc.string({ maxLength: 12 }), empty_layer: fc.boolean(), comment: fc.string({ maxLength: 5 }) }, { requiredKeys: [] }),
      { maxLength: 4 },
    ),
  },
  { requiredKeys: ['architecture', 'os', 'rootfs'] },
);

/** One damage to a JSON tree: the path is chosen by `picks` (indexes taken modulo the children). */
interface Mutation {
  picks: number[];
  kind: 'delete' | 'replace' | 'add';
  value: unknown;
  key: string;
}
const mutationArb: fc.Arbitrary<Mutation> = fc.record({
  picks: fc.array(fc.nat(), { minLength: 1, maxLength: 5 }),
  kind: fc.constantFrom('delete', 'replace', 'add'),
  value: fc.oneof(
    fc.jsonValue({ maxDepth: 2 }),
    fc.constantFrom(-1, 1.5, 2 ** 60, '', 'sha256:abc', `sha256:${'A'.repeat(64)}`, null, [], {}, '__proto__', { __proto__: null }),
  ),
  key: fc.constantFrom('mediaType', 'digest', 'size', 'platform', 'manifests', 'layers', 'config', 'schemaVersion', '__proto__', 'constructor', 'x'),
});

function mutate(doc: unknown, m: Mutation): unknown {
  const root = JSON.parse(JSON.stringify(doc)) as unknown;
  const holder = { root } as Record<string, unknown>;
  let parent: Record<string, unknown> | unknown[] = holder;
  let key: string | number = 'root';
  for (const p of m.picks) {
    const v = (parent as Record<string, unknown>)[key as string];
    const keys = Array.isArray(v) ? v.map((_, i) => i) : v && typeof v === 'object' ? Object.keys(v) : [];
    if (keys.length === 0) break;
    parent = v as Record<string, unknown>;
    key = keys[p % keys.length] as string | number;
  }
  const target = parent as Record<string, unknown>;
  if (m.kind === 'delete') {
    if (Array.isArray(target)) target.splice(key as number, 1);
    else delete target[key as string];
  } else if (m.kind === 'replace') target[key as string] = m.value;
  else {
    const v = target[key as string];
    if (Array.isArray(v)) v.push(m.value);
    else if (v && typeof v === 'object') Object.defineProperty(v, m.key, { value: m.value, enumerable: true, writable: true, configurable: true });
    else target[key as string] = m.value;
  }
  return holder.root;
}

/** JSON bytes of a mutated document (a deleted root serializes to nothing). */
const serialize = (v: unknown): Buffer => Buffer.from(JSON.stringify(v) ?? '');

/** Byte damage after serialization: truncation or a changed byte. */
const bytesArb = fc.oneof(
  fc.constant(undefined),
  fc.record({ cut: fc.nat() }),
  fc.record({ at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
);
function damage(buf: Buffer, d: { cut: number } | { at: number; byte: number } | undefined): Buffer {
  if (!d || buf.length === 0) return buf;
  if ('cut' in d) return buf.subarray(0, d.cut % buf.length);
  const out = Buffer.from(buf);
  out[d.at % out.length] = d.byte;
  return out;
}

const isDescriptor = (v: unknown): boolean => {
  const o = v as Record<string, unknown>;
  return typeof o === 'object' && o !== null && typeof o.mediaType === 'string' && typeof o.digest === 'string' && /^sha256:[0-9a-f]{64}$/.test(o.digest) && Number.isSafeInteger(o.size) && (o.size as number) >= 0;
};

/** Runs `fn` and classifies the outcome: a value, or a `corrupt` BerthError (anything else fails). */
function acceptedOrCorrupt<T>(fn: () => T, input: Buffer): T | undefined {
  const t = Date.now();
  try {
    return fn();
  } catch (e) {
    assert.ok(isBerthError(e, 'corrupt'), `unexpected ${e instanceof Error ? e.stack : String(e)} for ${input.toString('utf8').slice(0, 300)}`);
    return undefined;
  } finally {
    // A guard against a hang, not a speed test (inputs are a few KiB).
    assert.ok(Date.now() - t < 2000, 'parsing took over 2 s');
  }
}

test('property: generated manifests, indexes and configs parse to themselves', () => {
  fc.assert(
    fc.property(manifestArb, indexArb, configArb, (m, i, c) => {
      const pm = parseManifest(json(m));
      assert.equal(pm.kind, 'manifest');
      assert.deepEqual(pm.kind === 'manifest' && pm.manifest, JSON.parse(JSON.stringify(m)));
      const pi = parseManifest(json(i), i.mediaType);
      assert.equal(pi.kind, 'index');
      assert.deepEqual(pi.kind === 'index' && pi.index, JSON.parse(JSON.stringify(i)));
      assert.deepEqual(parseImageConfig(json(c)), JSON.parse(JSON.stringify(c)));
    }),
    { numRuns: 300 },
  );
});

test('property: damaged manifests and indexes are accepted whole or rejected as corrupt', () => {
  const hint = fc.constantFrom(undefined, MediaTypes.OciManifest, MediaTypes.DockerManifest, MediaTypes.OciIndex, MediaTypes.DockerManifestList, 'application/json', 'text/plain; charset=utf-8');
  fc.assert(
    fc.property(fc.oneof(manifestArb, indexArb), fc.array(mutationArb, { maxLength: 3 }), bytesArb, hint, (doc, muts, bytes, h) => {
      const buf = damage(serialize(muts.reduce(mutate, doc as unknown)), bytes);
      const r = acceptedOrCorrupt(() => parseManifest(buf, h), buf);
      if (!r) return;
      if (r.kind === 'manifest') {
        assert.ok(isDescriptor(r.manifest.config));
        assert.ok(Array.isArray(r.manifest.layers) && r.manifest.layers.every(isDescriptor));
      } else {
        assert.ok(Array.isArray(r.index.manifests) && r.index.manifests.every(isDescriptor));
        // What pull does next with an index: pick the host's platform, or say which exist.
        try {
          const d = selectPlatform(r.index, hostPlatform());
          assert.ok(r.index.manifests.includes(d));
        } catch (e) {
          assert.ok(isBerthError(e, 'not_found'), String(e));
        }
      }
    }),
    { numRuns: 2000 },
  );
});

test('property: damaged image configs are accepted with usable fields or rejected as corrupt', () => {
  fc.assert(
    fc.property(configArb, fc.array(mutationArb, { maxLength: 3 }), bytesArb, (doc, muts, bytes) => {
      const buf = damage(serialize(muts.reduce(mutate, doc as unknown)), bytes);
      const c = acceptedOrCorrupt(() => parseImageConfig(buf), buf);
      if (!c) return;
      assert.equal(typeof c.os, 'string');
      assert.equal(typeof c.architecture, 'string');
      assert.ok(c.rootfs.diff_ids.every((d) => /^sha256:[0-9a-f]{64}$/.test(d)));
      const cc = c.config;
      if (cc) {
        // What create and inspect read from it.
        for (const k of ['Env', 'Entrypoint', 'Cmd', 'Shell', 'OnBuild'] as const) assert.ok(cc[k] == null || (Array.isArray(cc[k]) && cc[k].every((x) => typeof x === 'string')), k);
        for (const k of ['User', 'WorkingDir', 'StopSignal'] as const) assert.ok(cc[k] === undefined || typeof cc[k] === 'string', k);
        assert.ok(cc.Labels == null || Object.values(cc.Labels).every((x) => typeof x === 'string'));
        assert.ok(cc.Healthcheck == null || cc.Healthcheck.Test === undefined || Array.isArray(cc.Healthcheck.Test));
      }
    }),
    { numRuns: 2000 },
  );
});

test('property: platform strings parse or fail with invalid_argument', () => {
  const part = fc.constantFrom('linux', 'arm64', 'v8', '', 'Linux', 'é', ' ');
  fc.assert(
    fc.property(fc.oneof(fc.string({ maxLength: 20 }), fc.array(part, { maxLength: 5 }).map((a) => a.join('/'))), (s) => {
      try {
        const p = parsePlatform(s);
        assert.equal(formatPlatform(p), s.toLowerCase());
      } catch (e) {
        assert.ok(isBerthError(e, 'invalid_argument'), String(e));
      }
    }),
    { numRuns: 1000 },
  );
});
