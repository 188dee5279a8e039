import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { TestStore, which } from './helpers.js';

describe('images: import, list, tag, rmi, history, save/load', { skip: process.getuid?.() !== 0 && 'needs root' }, () => {
  const s = new TestStore('images');
  before(() => s.busybox());
  after(() => s.cleanup());

  test('busybox is listed with docker-shaped columns and formats', () => {
    const out = s.ok(['images']);
    const [header, row] = out.trim().split('\n');
    assert.match(header as string, /^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE$/);
    assert.match(row as string, /^busybox\s+latest\s+[0-9a-f]{12}\s+.+\s+\d+(\.\d+)?[kMG]?B$/);
    assert.equal(s.ok(['images', '--format', '{{.Repository}}:{{.Tag}}']).trim(), 'busybox:latest');
    const j = JSON.parse(s.ok(['image', 'ls', '--format', 'json']).trim()) as Record<string, string>;
    assert.equal(j.Repository, 'busybox');
    assert.match(s.ok(['images', '-q']).trim(), /^[0-9a-f]{12}$/);
    assert.equal(s.ok(['image', 'ls', '--format', '{{json .Tag}}']).trim(), '"latest"');
  });

  test('inspect: docker shape, ID is the config digest, short IDs and prefixes resolve', () => {
    const doc = JSON.parse(s.ok(['image', 'inspect', 'busybox']))[0];
    assert.match(doc.Id, /^sha256:[0-9a-f]{64}$/);
    assert.deepEqual(doc.RepoTags, ['busybox:latest']);
    assert.deepEqual(doc.Config.Cmd, ['sh']);
    assert.equal(doc.RootFS.Layers.length, 1);
    const id = doc.Id as string;
    for (const ref of [id, id.slice(7), id.slice(7, 19), id.slice(7, 12), 'docker.io/library/busybox:latest', 'busybox:latest'])
      assert.equal(s.ok(['image', 'inspect', '--format', '{{.Id}}', ref]).trim(), id, ref);
    const r = s.run(['image', 'inspect', 'nosuchimage']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /No such image: nosuchimage/);
  });

  test('tag then rmi untags; rmi of the last name deletes; rmi -f with several names', () => {
    s.ok(['tag', 'busybox', 'localhost:5000/team/bb:v1']);
    s.ok(['tag', 'busybox', 'mybox']);
    const names = s.ok(['images', '--format', '{{.Repository}}:{{.Tag}}']).trim().split('\n').sort();
    assert.deepEqual(names, ['busybox:latest', 'localhost:5000/team/bb:v1', 'mybox:latest']);
    assert.match(s.ok(['rmi', 'mybox']), /^Untagged: mybox:latest$/m);
    const id = s.ok(['image', 'inspect', '--format', '{{.Id}}', 'busybox']).trim();
    const byId = s.run(['rmi', id.slice(7, 19)]);
    assert.equal(byId.code, 1);
    assert.match(byId.stderr, /referenced in multiple repositories/);
    s.ok(['rmi', 'localhost:5000/team/bb:v1']);
    assert.equal(s.ok(['images', '-q']).trim().split('\n').length, 1);
  });

  test('history shows the import with its comment', () => {
    const out = s.ok(['history', '--no-trunc', 'busybox']);
    assert.match(out, /berth import/);
    assert.match(out, /busybox-static from Debian/);
  });

  test('import with --change from stdin, then run-ready config', () => {
    const dir = fs.mkdtempSync(path.join(s.dir, 'imp-'));
    fs.writeFileSync(path.join(dir, 'hello.txt'), 'hi\n');
    const tarball = spawnSync('tar', ['-C', dir, '-cf', '-', '.']).stdout;
    const id = s.ok(['import', '-c', 'ENV FOO=bar', '-c', 'CMD ["cat","/hello.txt"]', '-c', 'LABEL a=b', '-', 'imported:1'], { input: tarball }).trim();
    assert.match(id, /^sha256:[0-9a-f]{64}$/);
    const cfg = JSON.parse(s.ok(['image', 'inspect', 'imported:1']))[0].Config;
    assert.deepEqual(cfg.Env, ['FOO=bar']);
    assert.deepEqual(cfg.Cmd, ['cat', '/hello.txt']);
    assert.deepEqual(cfg.Labels, { a: 'b' });
    assert.match(s.ok(['images', '--filter', 'label=a=b', '--format', '{{.Repository}}']), /imported/);
    assert.equal(s.ok(['images', '--filter', 'reference=busy*', '--format', '{{.Repository}}']).trim(), 'busybox');
    s.ok(['rmi', 'imported:1']);
  });

  test('save -o and export -o write into a device or a symlink in place (never replacing it), a regular file whole', () => {
    const dev = path.join(s.dir, 'nulldev');
    fs.rmSync(dev, { force: true });
    assert.equal(spawnSync('mknod', [dev, 'c', '1', '3']).status, 0, 'a /dev/null node of our own');
    s.ok(['save', '-o', dev, 'busybox']);
    assert.ok(fs.statSync(dev).isCharacterDevice(), 'save -o kept the device node');
    s.ok(['create', '--name', 'exp-o', 'busybox', 'true']);
    s.ok(['export', '-o', dev, 'exp-o']);
    assert.ok(fs.statSync(dev).isCharacterDevice(), 'export -o kept the device node');
    const target = path.join(s.dir, 'real.tar');
    const link = path.join(s.dir, 'link.tar');
    fs.rmSync(target, { force: true });
    fs.rmSync(link, { force: true });
    fs.writeFileSync(target, '');
    fs.symlinkSync(target, link);
    s.ok(['export', '-o', link, 'exp-o']);
    assert.ok(fs.lstatSync(link).isSymbolicLink(), 'the symlink stays');
    assert.ok(fs.statSync(target).size > 1024, 'the archive went where the link points');
    s.ok(['rm', 'exp-o']);
    assert.notEqual(s.run(['save', '-o', s.dir, 'busybox']).code, 0, 'a directory is refused');
  });

  test('save -> load into a fresh store keeps the image ID; OCI archive is readable by skopeo', () => {
    const archive = path.join(s.dir, 'bb.tar');
    s.ok(['save', '-o', archive, 'busybox']);
    const other = new TestStore('load');
    try {
      assert.match(other.ok(['load', '-i', archive]), /Loaded image: busybox:latest/);
      assert.equal(
        other.ok(['image', 'inspect', '--format', '{{.Id}}', 'busybox']).trim(),
        s.ok(['image', 'inspect', '--format', '{{.Id}}', 'busybox']).trim(),
      );
      // load from stdin too
      const other2 = new TestStore('load2');
      try {
        other2.ok(['load'], { input: fs.readFileSync(archive) });
        assert.equal(other2.ok(['images', '-q']).trim().length, 12);
      } finally {
        other2.cleanup();
      }
    } finally {
      other.cleanup();
    }
    if (which('skopeo')) {
      const r = spawnSync('skopeo', ['inspect', '--raw', `oci-archive:${archive}`]);
      assert.equal(r.status, 0, r.stderr?.toString());
      const r2 = spawnSync('skopeo', ['inspect', `docker-archive:${archive}`]);
      assert.equal(r2.status, 0, r2.stderr?.toString());
    }
  });

  test('skopeo-written OCI archive loads with the same config digest', { skip: !which('skopeo') && 'skopeo not installed' }, () => {
    const archive = path.join(s.dir, 'bb2.tar');
    s.ok(['save', '-o', archive, 'busybox']);
    const oci = path.join(s.dir, 'sk-oci.tar');
    const r = spawnSync('skopeo', ['copy', `docker-archive:${archive}`, `oci-archive:${oci}:skopeo/bb:1`]);
    assert.equal(r.status, 0, r.stderr?.toString());
    const cfgDigest = JSON.parse(spawnSync('skopeo', ['inspect', '--raw', `oci-archive:${oci}`]).stdout.toString()).config.digest;
    const other = new TestStore('skopeo');
    try {
      other.ok(['load', '-i', oci]);
      assert.equal(other.ok(['images', '--no-trunc', '-q']).trim(), cfgDigest);
    } finally {
      other.cleanup();
    }
  });

  test('bad input: truncated and corrupt archives fail clearly and leave the store as it was', () => {
    const archive = path.join(s.dir, 'good.tar');
    s.ok(['save', '-o', archive, 'busybox']);
    const data = fs.readFileSync(archive);
    const other = new TestStore('bad');
    try {
      const truncated = path.join(s.dir, 'trunc.tar');
      fs.writeFileSync(truncated, data.subarray(0, Math.floor(data.length / 2)));
      const r = other.run(['load', '-i', truncated]);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /^Error: /);
      assert.equal(r.stderr.trim().split('\n').length, 1);
      const garbage = path.join(s.dir, 'garbage.tar');
      fs.writeFileSync(garbage, Buffer.from('this is not a tar archive at all'.repeat(40)));
      assert.notEqual(other.run(['load', '-i', garbage]).code, 0);
      assert.equal(other.ok(['images', '-q']).trim(), '');
      assert.match(other.ok(['system', 'check']), /store is consistent/);
      const blobs = path.join(other.root, 'content', 'blobs', 'sha256');
      assert.deepEqual(fs.existsSync(blobs) ? fs.readdirSync(blobs) : [], []);
      assert.deepEqual(fs.readdirSync(path.join(other.root, 'content', 'ingest')), []);
    } finally {
      other.cleanup();
    }
  });

  test('usage errors exit 125 with docker-style messages', () => {
    const r = s.run(['images', '--bogus']);
    assert.equal(r.code, 125);
    assert.match(r.stderr, /unknown flag: --bogus/);
    const r2 = s.run(['tag', 'busybox']);
    assert.equal(r2.code, 125);
    const r3 = s.run(['images', '--filter', 'nope=1']);
    assert.notEqual(r3.code, 0);
    assert.match(r3.stderr, /invalid filter 'nope'/);
    assert.match(s.ok(['images', '--help']), /Usage:\s+berth images/);
  });

  test('system df and image prune', () => {
    const df = s.ok(['system', 'df']);
    assert.match(df, /^TYPE\s+TOTAL\s+ACTIVE\s+SIZE\s+RECLAIMABLE/);
    assert.match(df, /^Images\s+1\s+0/m);
    assert.match(s.ok(['image', 'prune', '-f']), /Total reclaimed space: 0B/);
  });
});
