import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { TestStore, eventually, mountsUnder } from './helpers.js';

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

  test('system df counts volumes: their data, the ones in use, what an unused one would free', () => {
    s.ok(['volume', 'create', 'dfa']);
    s.ok(['volume', 'create', 'dfb']);
    s.ok(['run', '--rm', '--network', 'none', '-v', 'dfa:/d', 'busybox', 'sh', '-c', 'head -c 300000 /dev/zero > /d/f']);
    s.ok(['run', '--rm', '--network', 'none', '-v', 'dfb:/d', 'busybox', 'sh', '-c', 'head -c 200000 /dev/zero > /d/f']);
    s.ok(['run', '-d', '--network', 'none', '--name', 'dfu', '-v', 'dfa:/d', 'busybox', 'sleep', '1000']);
    const row = () => s.ok(['system', 'df', '--format', '{{.Type}}|{{.TotalCount}}|{{.Active}}|{{.Size}}|{{.Reclaimable}}']).split('\n').find((l) => l.startsWith('Local Volumes'));
    assert.equal(row(), 'Local Volumes|2|1|500kB|200kB (40%)');
    assert.match(s.ok(['system', 'df', '-v']), /^ {2}dfa\t300kB\t1 container$/m);
    s.ok(['rm', '-f', 'dfu']);
    assert.equal(row(), 'Local Volumes|2|0|500kB|500kB (100%)');
    s.ok(['volume', 'rm', 'dfa', 'dfb']);
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

  test('local driver options: a tmpfs volume with size=, shared while in use, unmounted by the last user', async () => {
    s.ok(['volume', 'create', '-d', 'local', '-o', 'type=tmpfs', '-o', 'device=tmpfs', '-o', 'o=size=3m,mode=0750', 'tv']);
    const doc = JSON.parse(s.ok(['volume', 'inspect', 'tv'])) as { Options: Record<string, string>; Mountpoint: string }[];
    assert.deepEqual(doc[0]?.Options, { type: 'tmpfs', device: 'tmpfs', o: 'size=3m,mode=0750' });
    const data = doc[0]?.Mountpoint ?? '';
    assert.ok(!mountsUnder(s.dir).includes(data), 'not mounted before first use');
    // The file system is a 3 MiB tmpfs (df -k: 3072 blocks) with the mode asked for.
    const df = s.ok(['run', '--rm', '-v', 'tv:/t', 'busybox', 'sh', '-c', 'grep " /t " /proc/mounts; df -k /t | tail -1; stat -c %a /t']);
    assert.match(df, /^tmpfs \/t tmpfs /m);
    assert.match(df, /\s3072\s/);
    assert.match(df, /^750$/m);
    assert.ok(!mountsUnder(s.dir).includes(data), 'the last user unmounted it');
    // Two containers see the same tmpfs while one keeps it mounted; the data goes with the last one.
    s.ok(['run', '-d', '--name', 'holder', '-v', 'tv:/t', 'busybox', 'sh', '-c', 'echo shared > /t/f; sleep 300']);
    assert.ok(mountsUnder(s.dir).includes(data));
    await eventually(() => s.run(['run', '--rm', '-v', 'tv:/t', 'busybox', 'cat', '/t/f']).stdout === 'shared\n');
    assert.ok(mountsUnder(s.dir).includes(data), 'still mounted for the holder');
    s.ok(['rm', '-f', 'holder']);
    assert.ok(!mountsUnder(s.dir).includes(data));
    // A mount held for a container whose exit was never recorded (a killed berth): system check repairs it.
    s.ok(['run', '-d', '--name', 'holder2', '-v', 'tv:/t', 'busybox', 'sleep', '300']);
    fs.appendFileSync(path.join(s.runroot, 'volume-mounts', 'tv'), `${'f'.repeat(64)}\n`);
    s.ok(['rm', '-f', 'holder2']);
    assert.ok(mountsUnder(s.dir).includes(data), 'still held by the unknown container');
    const check = s.run(['system', 'check']);
    assert.equal(check.code, 1);
    assert.match(check.stdout, /volume tv is mounted for container ffffffffffff, which is not running/);
    s.ok(['system', 'check', '--repair']);
    assert.ok(!mountsUnder(s.dir).includes(data), 'repaired');
    assert.match(s.ok(['system', 'check']), /store is consistent/);
    assert.equal(s.run(['run', '--rm', '-v', 'tv:/t', 'busybox', 'ls', '/t']).stdout, '', 'a fresh tmpfs');
    s.ok(['volume', 'rm', 'tv']);
  });

  test('local driver options: a bind volume onto a host directory, read-only flag, missing device', () => {
    const host = path.join(s.dir, 'hostdir');
    fs.mkdirSync(host);
    fs.writeFileSync(path.join(host, 'from-host'), 'hello\n');
    s.ok(['volume', 'create', '-o', 'type=none', '-o', `device=${host}`, '-o', 'o=bind', 'bv']);
    assert.equal(s.ok(['run', '--rm', '-v', 'bv:/b', 'busybox', 'sh', '-c', 'cat /b/from-host; echo written > /b/from-ctr']), 'hello\n');
    assert.equal(fs.readFileSync(path.join(host, 'from-ctr'), 'utf8'), 'written\n');
    assert.equal(s.ok(['run', '--rm', '--mount', 'source=bv,target=/other', 'busybox', 'cat', '/other/from-ctr']), 'written\n');
    // Removing the volume never touches the host directory.
    s.ok(['volume', 'rm', 'bv']);
    assert.deepEqual(fs.readdirSync(host).sort(), ['from-ctr', 'from-host']);
    s.ok(['volume', 'create', '-o', 'type=none', '-o', `device=${host}`, '-o', 'o=bind,ro', 'bro']);
    const ro = s.run(['run', '--rm', '-v', 'bro:/b', 'busybox', 'sh', '-c', 'cat /b/from-host && touch /b/x']);
    assert.equal(ro.stdout, 'hello\n');
    assert.match(ro.stderr, /Read-only file system/);
    s.ok(['volume', 'rm', 'bro']);
    s.ok(['volume', 'create', '-o', 'type=none', '-o', `device=${path.join(s.dir, 'nope')}`, '-o', 'o=bind', 'gone']);
    const r = s.run(['run', '--name', 'gone-user', '-v', 'gone:/g', 'busybox', 'true']);
    assert.equal(r.code, 125);
    assert.match(r.stderr, /error while mounting volume 'gone'.*no such file or directory/i);
    assert.ok(!mountsUnder(s.dir).some((m) => m.includes('/volumes/gone/')), 'nothing half mounted');
    s.ok(['rm', 'gone-user']);
    s.ok(['volume', 'rm', 'gone']);
  });

  test('--mount volume-opt/volume-label create the volume with driver options; an existing volume keeps its own; volume-nocopy', () => {
    const opts = 'volume-driver=local,volume-opt=type=tmpfs,volume-opt=device=tmpfs,"volume-opt=o=size=2m,mode=0700",volume-label=made-by=mount';
    const out = s.ok(['run', '--rm', '--mount', `type=volume,src=mv,dst=/m,${opts}`, 'busybox', 'sh', '-c', 'grep " /m " /proc/mounts; df -k /m | tail -1; stat -c %a /m']);
    assert.match(out, /^tmpfs \/m tmpfs /m);
    assert.match(out, /\s2048\s/, 'a 2 MiB tmpfs');
    assert.match(out, /^700$/m);
    type Vol = { Options: Record<string, string>; Labels: Record<string, string> };
    const doc = () => (JSON.parse(s.ok(['volume', 'inspect', 'mv'])) as Vol[])[0];
    assert.deepEqual(doc()?.Options, { type: 'tmpfs', device: 'tmpfs', o: 'size=2m,mode=0700' });
    assert.deepEqual(doc()?.Labels, { 'made-by': 'mount' });
    // Docker ignores volume-opt for a volume that exists: the first options stay.
    const again = s.ok(['run', '--rm', '--mount', 'type=volume,src=mv,dst=/m,volume-opt=type=tmpfs,volume-opt=device=tmpfs,volume-opt=o=size=5m', 'busybox', 'sh', '-c', 'df -k /m | tail -1']);
    assert.match(again, /\s2048\s/);
    assert.deepEqual(doc()?.Options, { type: 'tmpfs', device: 'tmpfs', o: 'size=2m,mode=0700' });
    s.ok(['volume', 'rm', 'mv']);
    // Bad driver options fail at create, before any container or volume exists.
    const before = s.ok(['ps', '-aq']);
    for (const [spec, re] of [
      ['type=volume,src=badopt,dst=/m,volume-opt=foo=bar', /invalid option: "foo"/],
      ['type=volume,src=badopt,dst=/m,volume-opt=type=tmpfs', /missing required option: "device"/],
      ['type=volume,src=badopt,dst=/m,volume-driver=nfs', /plugin "nfs" not found/],
      ['type=bind,src=/tmp,dst=/m,volume-opt=a=b', /cannot mix 'volume-\*' options with mount type 'bind'/],
    ] as [string, RegExp][]) {
      const r = s.run(['run', '--rm', '--mount', spec, 'busybox', 'true']);
      assert.equal(r.code, 125, spec);
      assert.match(r.stderr, re);
    }
    assert.equal(s.ok(['ps', '-aq']), before);
    assert.equal(s.run(['volume', 'inspect', 'badopt']).code, 1, 'no volume was made');
    // volume-nocopy: a new volume over image content stays empty; without it the content is copied.
    assert.equal(s.ok(['run', '--rm', '--mount', 'type=volume,src=nc,dst=/usr,volume-nocopy', 'busybox', '/bin/ls', '-A', '/usr']), '');
    assert.equal(s.ok(['run', '--rm', '--mount', 'type=volume,src=cp,dst=/usr', 'busybox', '/bin/ls', '/usr']), 'bin\nsbin\n');
    s.ok(['volume', 'rm', 'nc', 'cp']);
  });

  test('local driver options: bad options are refused at create', () => {
    const before = s.ok(['volume', 'ls', '-q']);
    const bad: [string[], RegExp][] = [
      [['-o', 'foo=bar'], /invalid option: "foo"/],
      [['-o', 'type=tmpfs'], /missing required option: "device"/],
      [['-o', 'device=tmpfs'], /missing required option: "type"/],
      [['-o', 'o=size=1m'], /missing required option: "device"/],
      [['-o', 'type=none', '-o', 'device=relative/dir', '-o', 'o=bind'], /absolute host path/],
      [['-o', 'type=tmpfs', '-o', 'device=tmpfs', '-o', 'o=size=1m,shared'], /propagation/],
      [['-o', 'size=10m'], /invalid option: "size"/],
    ];
    for (const [opts, re] of bad) {
      const r = s.run(['volume', 'create', ...opts, 'bad']);
      assert.equal(r.code, 1, `${opts.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, re);
    }
    assert.equal(s.ok(['volume', 'ls', '-q']), before, 'nothing created');
  });
});
