import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { TestStore } from './helpers.js';

describe('volumes: CLI and mounts', { skip: process.getuid?.() !== 0 && 'needs root' }, () => {
  const s = new TestStore('vol');
  before(() => s.busybox());
  after(() => s.cleanup());

  test('create, ls (filters, -q, --format), inspect, rm', () => {
    assert.equal(s.ok(['volume', 'create', '--label', 'team=a', 'v1']).trim(), 'v1');
    s.ok(['volume', 'create', 'v2']);
    assert.deepEqual(s.ok(['volume', 'ls', '-q']).trim().split('\n'), ['v1', 'v2']);
    assert.equal(s.ok(['volume', 'ls', '-q', '--filter', 'label=team=a']).trim(), 'v1');
    assert.equal(s.ok(['volume', 'ls', '--format', '{{.Name}} {{.Driver}}', '--filter', 'name=v2']).trim(), 'v2 local');
    const doc = JSON.parse(s.ok(['volume', 'inspect', 'v1'])) as { Name: string; Mountpoint: string; Labels: Record<string, string> }[];
    assert.equal(doc[0]?.Name, 'v1');
    assert.deepEqual(doc[0]?.Labels, { team: 'a' });
    assert.ok(fs.existsSync(doc[0]?.Mountpoint ?? ''));
    s.ok(['volume', 'rm', 'v1', 'v2']);
    const missing = s.run(['volume', 'inspect', 'v1']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no such volume/);
  });

  test('a named volume keeps data across containers; in use cannot be removed', () => {
    s.ok(['run', '--name', 'writer', '-v', 'data:/data', 'busybox', 'sh', '-c', 'echo kept > /data/f']);
    const rm = s.run(['volume', 'rm', 'data']);
    assert.equal(rm.code, 1);
    assert.match(rm.stderr, /volume is in use/);
    assert.equal(s.ok(['volume', 'ls', '-q', '--filter', 'dangling=false']).trim(), 'data');
    s.ok(['rm', 'writer']);
    assert.equal(s.ok(['run', '--rm', '--mount', 'type=volume,source=data,target=/d', 'busybox', 'cat', '/d/f']), 'kept\n');
    s.ok(['volume', 'rm', 'data']);
  });

  test('anonymous volumes go with rm -v; --volumes-from shares mounts', () => {
    s.ok(['run', '--name', 'anon', '-v', '/scratch', 'busybox', 'sh', '-c', 'echo x > /scratch/x']);
    const vols = s.ok(['volume', 'ls', '-q']).trim().split('\n').filter(Boolean);
    assert.equal(vols.length, 1);
    assert.equal(s.ok(['run', '--rm', '--volumes-from', 'anon:ro', 'busybox', 'cat', '/scratch/x']), 'x\n');
    const ro = s.run(['run', '--rm', '--volumes-from', 'anon:ro', 'busybox', 'sh', '-c', 'echo y > /scratch/y']);
    assert.notEqual(ro.code, 0, 'read-only through :ro');
    s.ok(['rm', '-v', 'anon']);
    assert.equal(s.ok(['volume', 'ls', '-q']).trim(), '');
  });

  test('image VOLUME content prefills a new named volume; tmpfs; missing bind source', () => {
    // An image with content at a VOLUME path, made by commit.
    s.ok(['run', '--name', 'base', 'busybox', 'sh', '-c', 'mkdir -p /seed && echo seeded > /seed/file']);
    s.ok(['commit', '--change', 'VOLUME /seed', 'base', 'seeded:1']);
    s.ok(['rm', 'base']);
    assert.equal(s.ok(['run', '--rm', '-v', 'fresh:/seed', 'seeded:1', 'cat', '/seed/file']), 'seeded\n');
    s.ok(['volume', 'rm', 'fresh']);
    assert.match(s.ok(['run', '--rm', '--tmpfs', '/t', 'busybox', 'sh', '-c', 'grep " /t " /proc/mounts']), /tmpfs/);
    const missing = path.join(s.dir, 'does-not-exist');
    const r = s.run(['run', '--rm', '-v', `${missing}:/m`, 'busybox', 'true']);
    assert.equal(r.code, 125);
    assert.match(r.stderr, /bind source path does not exist/);
    s.ok(['volume', 'prune', '-a', '-f']);
    assert.equal(s.ok(['volume', 'ls', '-q']).trim(), '');
  });
});
