import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isBerthError } from '../errors.js';
import {
  familiarName,
  familiarString,
  formatReference,
  fullImageId,
  isDigested,
  isTagged,
  looksLikeIdPrefix,
  type Reference,
  parseReference,
  registryHost,
  repositoryName,
  withDefaultTag,
  withTag,
} from './reference.js';

const HEX = 'a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4';
const D = `sha256:${HEX}`;

// input -> [domain, path, tag, digest, familiarString]
const valid: [string, string, string, string | undefined, string | undefined, string][] = [
  ['busybox', 'docker.io', 'library/busybox', undefined, undefined, 'busybox'],
  ['busybox:latest', 'docker.io', 'library/busybox', 'latest', undefined, 'busybox:latest'],
  ['busybox:1.36.1-musl', 'docker.io', 'library/busybox', '1.36.1-musl', undefined, 'busybox:1.36.1-musl'],
  ['busybox:Latest_X', 'docker.io', 'library/busybox', 'Latest_X', undefined, 'busybox:Latest_X'],
  ['user/repo', 'docker.io', 'user/repo', undefined, undefined, 'user/repo'],
  ['user/repo:tag', 'docker.io', 'user/repo', 'tag', undefined, 'user/repo:tag'],
  ['docker.io/busybox', 'docker.io', 'library/busybox', undefined, undefined, 'busybox'],
  ['docker.io/library/busybox:1', 'docker.io', 'library/busybox', '1', undefined, 'busybox:1'],
  ['index.docker.io/busybox', 'docker.io', 'library/busybox', undefined, undefined, 'busybox'],
  ['index.docker.io/user/repo', 'docker.io', 'user/repo', undefined, undefined, 'user/repo'],
  ['library/busybox', 'docker.io', 'library/busybox', undefined, undefined, 'busybox'],
  ['docker.io/library/a/b', 'docker.io', 'library/a/b', undefined, undefined, 'library/a/b'],
  ['localhost/foo', 'localhost', 'foo', undefined, undefined, 'localhost/foo'],
  ['localhost:5000/a/b:tag', 'localhost:5000', 'a/b', 'tag', undefined, 'localhost:5000/a/b:tag'],
  ['localhost:5000', 'docker.io', 'library/localhost', '5000', undefined, 'localhost:5000'],
  ['example.com/a', 'example.com', 'a', undefined, undefined, 'example.com/a'],
  ['example.com:443/a/b/c', 'example.com:443', 'a/b/c', undefined, undefined, 'example.com:443/a/b/c'],
  ['127.0.0.1:5000/x', '127.0.0.1:5000', 'x', undefined, undefined, '127.0.0.1:5000/x'],
  ['[::1]:5000/x', '[::1]:5000', 'x', undefined, undefined, '[::1]:5000/x'],
  ['[2001:db8::1]/x:v', '[2001:db8::1]', 'x', 'v', undefined, '[2001:db8::1]/x:v'],
  ['Example.COM/a', 'Example.COM', 'a', undefined, undefined, 'Example.COM/a'],
  ['Registry/a', 'Registry', 'a', undefined, undefined, 'Registry/a'],
  ['my-registry:5000/ns/img', 'my-registry:5000', 'ns/img', undefined, undefined, 'my-registry:5000/ns/img'],
  ['a--b/c_d.e', 'docker.io', 'a--b/c_d.e', undefined, undefined, 'a--b/c_d.e'],
  ['a__b', 'docker.io', 'library/a__b', undefined, undefined, 'a__b'],
  [`busybox@${D}`, 'docker.io', 'library/busybox', undefined, D, `busybox@${D}`],
  [`busybox:1@${D}`, 'docker.io', 'library/busybox', '1', D, `busybox:1@${D}`],
  [`localhost:5000/a@${D}`, 'localhost:5000', 'a', undefined, D, `localhost:5000/a@${D}`],
  [`busybox@sha512:${'ab'.repeat(64)}`, 'docker.io', 'library/busybox', undefined, `sha512:${'ab'.repeat(64)}`, `busybox@sha512:${'ab'.repeat(64)}`],
  [`a:${'t'.repeat(128)}`, 'docker.io', 'library/a', 't'.repeat(128), undefined, `a:${'t'.repeat(128)}`],
  ['abc123', 'docker.io', 'library/abc123', undefined, undefined, 'abc123'],
  [HEX.slice(0, 63), 'docker.io', `library/${HEX.slice(0, 63)}`, undefined, undefined, HEX.slice(0, 63)],
];

// input -> exact message
const invalid: [string, string][] = [
  ['', 'invalid reference format'],
  ['Busybox', 'invalid reference format: repository name (library/Busybox) must be lowercase'],
  ['user/Repo', 'invalid reference format: repository name (user/Repo) must be lowercase'],
  ['localhost:5000/A:tag', 'invalid reference format: repository name (A) must be lowercase'],
  ['busybox:', 'invalid reference format'],
  ['busybox:-tag', 'invalid reference format'],
  ['busybox:.tag', 'invalid reference format'],
  [`a:${'t'.repeat(129)}`, 'invalid reference format'],
  ['busybox@', 'invalid reference format'],
  ['busybox@sha256:abc', 'invalid reference format'],
  [`busybox@sha256:${HEX.slice(0, 40)}`, 'invalid checksum digest length'],
  [`busybox@sha256:${HEX.toUpperCase()}`, 'invalid checksum digest format'],
  [`busybox@md5:${HEX}`, 'unsupported digest algorithm'],
  ['-busybox', 'invalid reference format'],
  ['busybox-', 'invalid reference format'],
  ['a___b', 'invalid reference format'],
  ['a..b', 'invalid reference format'],
  ['a//b', 'invalid reference format'],
  ['/a', 'invalid reference format'],
  ['a/', 'invalid reference format'],
  ['a b', 'invalid reference format'],
  ['a:b:c', 'invalid reference format'],
  ['http://example.com/a', 'invalid reference format'],
  ['-example.com/a', 'invalid reference format'],
  ['example.com:port/a', 'invalid reference format'],
  ['a_b.com/x', 'invalid reference format'],
  ['Foo_bar/x', 'repository name must be lowercase'],
  [HEX, `invalid repository name (${HEX}), cannot specify 64-byte hexadecimal strings`],
  [`x/${'a'.repeat(254)}`, 'repository name must not be more than 255 characters'],
  ['ünicode', 'invalid reference format'],
];

describe('parseReference', () => {
  for (const [input, domain, path, tag, digest, fam] of valid) {
    it(`parses ${JSON.stringify(input.length > 60 ? `${input.slice(0, 60)}…` : input)}`, () => {
      const r = parseReference(input);
      assert.equal(r.domain, domain);
      assert.equal(r.path, path);
      assert.equal(r.tag, tag);
      assert.equal(r.digest, digest);
      assert.equal(familiarString(r), fam);
      assert.equal(isTagged(r), tag !== undefined);
      assert.equal(isDigested(r), digest !== undefined);
    });
  }
  for (const [input, msg] of invalid) {
    it(`rejects ${JSON.stringify(input.length > 60 ? `${input.slice(0, 60)}…` : input)}`, () => {
      assert.throws(
        () => parseReference(input),
        (e: unknown) => isBerthError(e, 'invalid_argument') && e.message === msg,
      );
    });
  }
  it('accepts a path of exactly 255 characters', () => {
    const path = `x/${'a'.repeat(253)}`;
    assert.equal(parseReference(path).path, path);
  });
  it('has no optional keys when absent', () => {
    assert.deepEqual(Object.keys(parseReference('busybox')), ['domain', 'path']);
  });
});

describe('helpers', () => {
  it('formats fully qualified and familiar forms', () => {
    const r = parseReference('busybox');
    assert.equal(formatReference(r), 'docker.io/library/busybox');
    assert.equal(formatReference(withDefaultTag(r)), 'docker.io/library/busybox:latest');
    assert.equal(familiarString(withDefaultTag(r)), 'busybox:latest');
    assert.equal(repositoryName(r), 'docker.io/library/busybox');
    assert.equal(familiarName(parseReference('user/repo:1')), 'user/repo');
    assert.equal(familiarName(parseReference('localhost:5000/a/b')), 'localhost:5000/a/b');
    assert.equal(formatReference(parseReference(`busybox:1@${D}`)), `docker.io/library/busybox:1@${D}`);
  });
  it('withDefaultTag adds latest only to a bare name and never mutates', () => {
    const r = parseReference('busybox');
    assert.equal(withDefaultTag(r).tag, 'latest');
    assert.equal(r.tag, undefined);
    assert.equal(withDefaultTag(parseReference('busybox:1')).tag, '1');
    assert.equal(withDefaultTag(parseReference(`busybox@${D}`)).tag, undefined);
  });
  it('withTag validates the tag', () => {
    assert.equal(withTag(parseReference('a'), 'v1').tag, 'v1');
    assert.throws(() => withTag(parseReference('a'), '-x'), (e: unknown) => isBerthError(e, 'invalid_argument'));
  });
  it('maps Docker Hub to its registry host', () => {
    assert.equal(registryHost('docker.io'), 'registry-1.docker.io');
    assert.equal(registryHost('index.docker.io'), 'registry-1.docker.io');
    assert.equal(registryHost('localhost:5000'), 'localhost:5000');
  });
  it('recognises IDs and ID prefixes', () => {
    assert.equal(fullImageId(HEX), D);
    assert.equal(fullImageId(D), D);
    assert.equal(fullImageId(HEX.slice(1)), undefined);
    assert.equal(fullImageId(`sha512:${HEX}`), undefined);
    for (const s of ['a', 'abc123', HEX, `sha256:${HEX.slice(0, 12)}`, D]) assert.ok(looksLikeIdPrefix(s), s);
    for (const s of ['', 'sha256:', 'ABC', 'xyz', `${HEX}0`, 'busybox', 'sha256:g']) assert.ok(!looksLikeIdPrefix(s), s);
  });
});

describe('properties', () => {
  const component = fc.oneof(fc.constant('localhost'), fc.stringMatching(/^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/, { maxLength: 20 }));
  const domain = fc.oneof(
    fc.constant(undefined),
    fc.constantFrom('localhost', 'docker.io', 'index.docker.io', 'example.com', 'r.io:5000', '[::1]:5000', 'Reg.Example'),
  );
  const tag = fc.option(fc.stringMatching(/^\w[\w.-]{0,20}$/), { nil: undefined });
  const digest = fc.option(fc.stringMatching(/^[a-f0-9]{64}$/).map((h) => `sha256:${h}`), { nil: undefined });
  const refString = fc
    .tuple(domain, fc.array(component, { minLength: 1, maxLength: 4 }), tag, digest)
    .map(([d, p, t, g]) => `${d ? `${d}/` : ''}${p.join('/')}${t ? `:${t}` : ''}${g ? `@${g}` : ''}`);

  it('parse(format(parse(x))) is stable, and so is the familiar form', () => {
    fc.assert(
      fc.property(refString, (s) => {
        let r: Reference;
        try {
          r = parseReference(s);
        } catch (e) {
          assert.ok(isBerthError(e, 'invalid_argument'));
          return;
        }
        assert.deepEqual(parseReference(formatReference(r)), r);
        // As in docker, a Hub namespace that looks like a domain (`docker.io/a.b/c`, `docker.io/localhost/c`)
        // has an ambiguous familiar form; only the fully qualified form must round-trip then.
        const first = familiarName(r).split('/')[0] as string;
        const ambiguous = r.domain === 'docker.io' && familiarName(r).includes('/') && (/[.:]/.test(first) || first === 'localhost');
        if (!ambiguous) assert.deepEqual(parseReference(familiarString(r)), r);
      }),
      { numRuns: 2000 },
    );
  });

  it('random strings never throw anything but an invalid_argument BerthError', () => {
    const alphabet = fc.constantFrom(...'abcAZ09._-/:@[]sha256 é'.split(''));
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.array(alphabet, { maxLength: 80 }).map((a) => a.join(''))), (s) => {
        try {
          const r = parseReference(s);
          assert.equal(typeof r.domain, 'string');
        } catch (e) {
          assert.ok(isBerthError(e, 'invalid_argument'), String(e));
        }
      }),
      { numRuns: 5000 },
    );
  });

  it('stays fast on long hostile input', () => {
    const inputs = [
      `${'a-'.repeat(5000)}!`,
      `${'a.'.repeat(5000)}/`,
      `${'a'.repeat(20000)}:`,
      `${'a/'.repeat(5000)}A`,
      `${'a-a.'.repeat(3000)}a:5000/${'b_'.repeat(3000)}`,
    ];
    const start = performance.now();
    for (const s of inputs) assert.throws(() => parseReference(s));
    assert.ok(performance.now() - start < 500, 'took too long');
  });
});
