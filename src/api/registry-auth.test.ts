import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isBerthError } from '../errors.js';
import { decodeRegistryAuth, decodeRegistryConfig, encodeRegistryAuth, encodeRegistryConfig } from './registry-auth.js';

const url = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
const std = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64');

test('X-Registry-Auth: username/password, auth, identity token; none means the service falls back', () => {
  assert.deepEqual(decodeRegistryAuth(url({ username: 'alice', password: 'p?>~', serveraddress: 'r:5000' })), { username: 'alice', password: 'p?>~' });
  assert.deepEqual(decodeRegistryAuth(std({ username: 'alice', password: 'p?>~' })), { username: 'alice', password: 'p?>~' }, 'standard base64 too');
  assert.deepEqual(decodeRegistryAuth(url({ auth: Buffer.from('bob:a:b').toString('base64') })), { username: 'bob', password: 'a:b' });
  assert.deepEqual(decodeRegistryAuth(url({ identitytoken: 'tok' })), { username: '<token>', password: 'tok' });
  for (const none of [undefined, '', url({}), url({ serveraddress: 'r:5000' }), url({ username: '' })]) assert.equal(decodeRegistryAuth(none), undefined);
  for (const bad of ['not-base64-json', url([1]), url({ username: 7 }), url({ auth: Buffer.from('nocolon').toString('base64') })])
    assert.throws(() => decodeRegistryAuth(bad), (e) => isBerthError(e, 'invalid_argument'));
  const truncated = Buffer.from('Secret-123 is not JSON').toString('base64url');
  assert.throws(() => decodeRegistryAuth(truncated), (e) => isBerthError(e, 'invalid_argument') && !(e as Error).message.includes('Secret'), 'the error never quotes the header');
});

test('X-Registry-Config: hosts normalised, entries without credentials dropped', () => {
  const h = url({ 'https://index.docker.io/v1/': { username: 'hub', password: 'x' }, '127.0.0.1:5000': { identitytoken: 't' }, 'other:1': {} });
  assert.deepEqual(decodeRegistryConfig(h), { 'docker.io': { username: 'hub', password: 'x' }, '127.0.0.1:5000': { username: '<token>', password: 't' } });
  assert.deepEqual(decodeRegistryConfig(undefined), {});
  assert.throws(() => decodeRegistryConfig(url({ a: 'b' })), (e) => isBerthError(e, 'invalid_argument'));
});

test('what the client encodes, the service decodes', () => {
  const c = { username: 'alice', password: 'pw' };
  assert.deepEqual(decodeRegistryAuth(encodeRegistryAuth(c, 'r:5000')), c);
  assert.deepEqual(decodeRegistryAuth(encodeRegistryAuth({ username: '<token>', password: 'tok' }, 'r:5000')), { username: '<token>', password: 'tok' });
  assert.equal(decodeRegistryAuth(encodeRegistryAuth(undefined, 'r:5000')), undefined);
  assert.equal(Buffer.from(encodeRegistryAuth(undefined, 'r:5000'), 'base64url').toString(), '{}');
  assert.deepEqual(decodeRegistryConfig(encodeRegistryConfig({ 'r:5000': c, 'docker.io': { username: 'hub', password: 'h' } })), { 'r:5000': c, 'docker.io': { username: 'hub', password: 'h' } });
});
