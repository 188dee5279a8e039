import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { isBerthError } from '../errors.js';
import { certsFor } from '../registry/transport.js';
import { loadRegistriesConfig, pullHosts } from './registries.js';

describe('registries configuration', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-regconf-'));
  const file = path.join(dir, 'registries.json');

  test('a missing file means no insecure registries and no mirrors', () => {
    assert.deepEqual(loadRegistriesConfig(path.join(dir, 'absent.json')), { insecure: [], mirrors: {}, blocked: [] });
  });

  test('insecure and mirrors are read; mirrors come before the registry', () => {
    fs.writeFileSync(file, JSON.stringify({ insecure: ['r.lan:5000'], mirrors: { 'docker.io': ['127.0.0.1:5001', 'm2:5000'] } }));
    const cfg = loadRegistriesConfig(file);
    assert.deepEqual(cfg.insecure, ['r.lan:5000']);
    assert.deepEqual(pullHosts('docker.io', cfg), ['127.0.0.1:5001', 'm2:5000', 'docker.io']);
    assert.deepEqual(pullHosts('ghcr.io', cfg), ['ghcr.io']);
  });

  test('blocked registries are never contacted: only their mirrors, or a clear error', () => {
    fs.writeFileSync(file, JSON.stringify({ blocked: ['docker.io'], mirrors: { 'docker.io': ['127.0.0.1:5001'] } }));
    const cfg = loadRegistriesConfig(file);
    assert.deepEqual(pullHosts('docker.io', cfg), ['127.0.0.1:5001']);
    const noMirror = { ...cfg, mirrors: {} };
    assert.throws(() => pullHosts('docker.io', noMirror), (e) => isBerthError(e, 'unavailable') && /blocked/.test((e as Error).message));
  });

  test('certsDirs lists where per-registry certificates are; *.crt are CAs, a .cert with its .key a client certificate', () => {
    const certs = path.join(dir, 'certs.d');
    fs.writeFileSync(file, JSON.stringify({ certsDirs: [certs] }));
    assert.deepEqual(loadRegistriesConfig(file).certsDirs, [certs]);
    assert.equal(certsFor('r.lan:5000', [certs]), undefined);
    fs.mkdirSync(path.join(certs, 'r.lan:5000'), { recursive: true });
    fs.writeFileSync(path.join(certs, 'r.lan:5000', 'ca.crt'), 'CA PEM');
    fs.writeFileSync(path.join(certs, 'r.lan:5000', 'client.cert'), 'CERT PEM');
    assert.deepEqual(certsFor('r.lan:5000', [certs]), { ca: ['CA PEM'] }, 'a .cert without its .key is skipped');
    fs.writeFileSync(path.join(certs, 'r.lan:5000', 'client.key'), 'KEY PEM');
    assert.deepEqual(certsFor('r.lan:5000', [certs]), { ca: ['CA PEM'], cert: 'CERT PEM', key: 'KEY PEM' });
    assert.equal(certsFor('../r.lan:5000', [certs]), undefined);
  });

  test('a malformed file is corrupt, naming the file and the expected shape', () => {
    for (const bad of ['{', '[]', '{"insecure":"x"}', '{"mirrors":{"docker.io":"x"}}', '{"certsDirs":"/etc"}']) {
      fs.writeFileSync(file, bad);
      assert.throws(() => loadRegistriesConfig(file), (e) => isBerthError(e, 'corrupt') && e.message.includes(file) && /insecure/.test(e.hint ?? ''));
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
