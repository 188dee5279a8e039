import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { isBerthError } from '../errors.js';
import { CredentialStore, DOCKER_HUB_KEY, type HelperResult, credentialKey } from './credentials.js';
import { tmpDir } from './test-support.js';

test('credentialKey uses the legacy key for Docker Hub and host[:port] otherwise', () => {
  assert.equal(credentialKey('docker.io'), DOCKER_HUB_KEY);
  assert.equal(credentialKey('index.docker.io'), DOCKER_HUB_KEY);
  assert.equal(credentialKey('Registry.Example:5000'), 'registry.example:5000');
});

test('inline auths: store, get, erase; file is 0600 and keeps unknown fields', async () => {
  const dir = tmpDir();
  try {
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ psFormat: 'table', auths: { 'https://old.example/v1/': { auth: Buffer.from('u:p').toString('base64') } } }));
    const s = new CredentialStore({ configDir: dir });
    assert.deepEqual(await s.get('old.example'), { username: 'u', password: 'p' }, 'keys with scheme and path match the host');
    await s.store('docker.io', 'me', 'pa:ss');
    await s.store('127.0.0.1:5000', 'local', 'pw');
    const cfg = JSON.parse(fs.readFileSync(s.file, 'utf8'));
    assert.equal(cfg.psFormat, 'table');
    assert.equal(cfg.auths[DOCKER_HUB_KEY].auth, Buffer.from('me:pa:ss').toString('base64'));
    assert.equal(fs.statSync(s.file).mode & 0o777, 0o600);
    assert.deepEqual(await s.get('docker.io'), { username: 'me', password: 'pa:ss' });
    assert.deepEqual(await s.get('registry-1.docker.io'), { username: 'me', password: 'pa:ss' });
    assert.equal(await s.get('elsewhere.example'), undefined);
    assert.deepEqual(s.hosts().sort(), ['127.0.0.1:5000', 'docker.io', 'old.example'].sort(), 'each host once, keys normalised');
    assert.equal(await s.erase('127.0.0.1:5000'), true);
    assert.equal(await s.get('127.0.0.1:5000'), undefined);
    assert.equal(await s.erase('127.0.0.1:5000'), false);
    assert.deepEqual(fs.readdirSync(dir), ['config.json'], 'no temporary files left');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('identity tokens and a missing file', async () => {
  const dir = tmpDir();
  try {
    const s = new CredentialStore({ configDir: dir });
    assert.equal(await s.get('x.example'), undefined);
    fs.writeFileSync(s.file, JSON.stringify({ auths: { 'x.example': { identitytoken: 'tok' } } }));
    assert.deepEqual(await s.get('x.example'), { username: '<token>', password: 'tok' });
    fs.writeFileSync(s.file, '{broken');
    await assert.rejects(s.get('x.example'), (e) => isBerthError(e, 'corrupt'));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('credHelpers and credsStore go through docker-credential-<helper> with data on stdin', async () => {
  const dir = tmpDir();
  try {
    const calls: { helper: string; verb: string; input: string }[] = [];
    const secrets = new Map<string, { Username: string; Secret: string }>();
    const runHelper = async (helper: string, verb: 'get' | 'store' | 'erase', input: string): Promise<HelperResult> => {
      calls.push({ helper, verb, input });
      if (verb === 'store') {
        const j = JSON.parse(input);
        secrets.set(j.ServerURL, { Username: j.Username, Secret: j.Secret });
        return { code: 0, stdout: '' };
      }
      const hit = secrets.get(input);
      if (!hit) return { code: 1, stdout: 'credentials not found in native keychain\n' };
      if (verb === 'erase') secrets.delete(input);
      return { code: 0, stdout: verb === 'get' ? JSON.stringify({ ServerURL: input, ...hit }) : '' };
    };
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ credsStore: 'desktop', credHelpers: { 'ghcr.example': 'gh' } }));
    const s = new CredentialStore({ configDir: dir, runHelper });
    await s.store('ghcr.example', 'octo', 'cat');
    await s.store('docker.io', 'whale', 'blue');
    assert.deepEqual(calls.map((c) => `${c.helper} ${c.verb}`), ['gh store', 'desktop store']);
    assert.equal(JSON.parse(calls[1].input).ServerURL, DOCKER_HUB_KEY);
    assert.deepEqual(await s.get('ghcr.example'), { username: 'octo', password: 'cat' });
    assert.deepEqual(await s.get('docker.io'), { username: 'whale', password: 'blue' });
    assert.equal(await s.get('other.example'), undefined);
    const cfg = JSON.parse(fs.readFileSync(s.file, 'utf8'));
    assert.deepEqual(cfg.auths[DOCKER_HUB_KEY], {}, 'only an empty marker in the file');
    assert.ok(!fs.readFileSync(s.file, 'utf8').includes('blue'));
    assert.equal(await s.erase('docker.io'), true);
    assert.equal(await s.get('docker.io'), undefined);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a real helper program is run with the verb as its only argument', async () => {
  const dir = tmpDir();
  const bin = path.join(dir, 'bin');
  fs.mkdirSync(bin);
  fs.writeFileSync(path.join(bin, 'docker-credential-fake'), '#!/bin/sh\nread url\n[ "$1" = get ] && printf \'{"ServerURL":"%s","Username":"fu","Secret":"fs"}\' "$url"\n', { mode: 0o755 });
  const oldPath = process.env.PATH;
  process.env.PATH = `${bin}:${oldPath}`;
  try {
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ credsStore: 'fake' }));
    assert.deepEqual(await new CredentialStore({ configDir: dir }).get('r.example'), { username: 'fu', password: 'fs' });
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ credsStore: 'missing-helper' }));
    await assert.rejects(new CredentialStore({ configDir: dir }).get('r.example'), (e) => isBerthError(e, 'unavailable'));
  } finally {
    process.env.PATH = oldPath;
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
