import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BerthError } from '../errors.js';
import { type FlagSpec, parseArgs } from './args.js';
import { parseMount, parsePublish, resourcesFromFlags, splitCsvFields, updateOptionsFromFlags } from './run-options.js';

const invalid = (re: RegExp) => (e: unknown) => e instanceof BerthError && e.code === 'invalid_argument' && re.test(e.message);

test('--mount is a CSV record: quoted fields keep their commas', () => {
  assert.deepEqual(splitCsvFields('a=1,"b=2,3",c'), ['a=1', 'b=2,3', 'c']);
  assert.deepEqual(splitCsvFields('"x=""q"""'), ['x="q"']);
  assert.throws(() => splitCsvFields('"open'), invalid(/quoted-field/));
});

test('--mount volume-opt, volume-label, volume-driver=local, volume-nocopy', () => {
  assert.deepEqual(parseMount('type=volume,src=v,dst=/d,volume-driver=local,volume-opt=type=tmpfs,volume-opt=device=tmpfs,"volume-opt=o=size=1m,uid=7",volume-label=team=a,volume-nocopy'), {
    type: 'volume',
    source: 'v',
    name: 'v',
    destination: '/d',
    readonly: false,
    options: ['nocopy'],
    volumeOptions: { type: 'tmpfs', device: 'tmpfs', o: 'size=1m,uid=7' },
    volumeLabels: { team: 'a' },
  });
  assert.deepEqual(parseMount('type=volume,src=v,dst=/d,volume-nocopy=false').options, []);
  // An anonymous volume takes driver options too.
  assert.deepEqual(parseMount('dst=/d,volume-opt=type=tmpfs,volume-opt=device=tmpfs'), { type: 'volume', source: '', destination: '/d', readonly: false, anonymous: true, volumeOptions: { type: 'tmpfs', device: 'tmpfs' } });
  assert.throws(() => parseMount('type=bind,src=/tmp,dst=/d,volume-opt=a=b'), invalid(/cannot mix 'volume-\*' options with mount type 'bind'/));
  assert.throws(() => parseMount('type=tmpfs,dst=/d,volume-nocopy'), invalid(/cannot mix/));
  assert.throws(() => parseMount('src=v,dst=/d,volume-opt=novalue'), invalid(/invalid volume-opt "novalue": expected KEY=VALUE/));
  assert.throws(() => parseMount('src=v,dst=/d,volume-driver=nfs'), invalid(/plugin "nfs" not found/));
});

test('-p with an IPv6 host address: bracketed or bare (docker splits off the last two fields), normalised', () => {
  const one = (hostIp: string, hostPort: number) => [{ hostIp, hostPort, containerPort: 80, protocol: 'tcp' }];
  assert.deepEqual(parsePublish('[::1]:8080:80'), one('::1', 8080));
  assert.deepEqual(parsePublish('::1:8080:80'), one('::1', 8080));
  assert.deepEqual(parsePublish('[::]:8080:80'), one('::', 8080));
  assert.deepEqual(parsePublish('[fd00:0:0::1]::80'), one('fd00::1', 0));
  assert.deepEqual(parsePublish('fd00::1:8080:80/udp'), [{ hostIp: 'fd00::1', hostPort: 8080, containerPort: 80, protocol: 'udp' }]);
  assert.deepEqual(parsePublish('127.0.0.1:8080:80'), one('127.0.0.1', 8080));
  assert.deepEqual(parsePublish('8080:80'), one('', 8080));
  assert.throws(() => parsePublish('[::1:8080:80'), invalid(/missing '\]'/));
  assert.throws(() => parsePublish('nohost:8080:80'), invalid(/invalid IP address: nohost/));
  assert.throws(() => parsePublish('::1:80'), invalid(/invalid IP address: :/));
});

test('update flags: limits alone, a swap limit without memory, --restart without a default; nothing given is an error', () => {
  const flags: FlagSpec[] = ['memory', 'memory-swap', 'memory-reservation', 'cpus', 'cpuset-mems', 'pids-limit', 'restart'].map((name) => ({ name, type: name === 'pids-limit' ? 'int' : 'string', description: '' }));
  const parse = (argv: string[]) => updateOptionsFromFlags(parseArgs(argv, flags));
  assert.deepEqual(parse(['--memory', '96m', '--cpus', '1.5', '--pids-limit', '-1', 'c']), { resources: { memory: 96 << 20, nanoCpus: 1.5e9, pidsLimit: -1 } });
  assert.deepEqual(parse(['--memory-swap', '200m', 'c']), { resources: { memorySwap: 200 << 20 } }, 'the engine checks it against the recorded memory limit');
  assert.deepEqual(parse(['--restart', 'on-failure:3', 'c']), { resources: {}, restartPolicy: { name: 'on-failure', maximumRetryCount: 3 } });
  assert.throws(() => parse(['c']), (e: unknown) => e instanceof BerthError && /one or more flags/.test(e.message));
  assert.throws(() => parse(['--memory', '64m', '--memory-reservation', '128m', 'c']), /memory reservation/);
  assert.throws(() => parse(['--cpuset-mems', 'x', 'c']), /cpuset mems/);
  // run and create keep docker's rule: a swap limit needs a memory limit on the same command line.
  assert.throws(() => resourcesFromFlags(parseArgs(['--memory-swap', '200m'], flags)), /always set the Memory limit/);
});
