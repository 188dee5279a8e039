import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type FlagSpec, UsageError, parseArgs } from './args.js';

const specs: FlagSpec[] = [
  { name: 'detach', short: 'd', type: 'bool', description: '' },
  { name: 'interactive', short: 'i', type: 'bool', description: '' },
  { name: 'tty', short: 't', type: 'bool', description: '' },
  { name: 'env', short: 'e', type: 'list', description: '' },
  { name: 'publish', short: 'p', type: 'list', description: '' },
  { name: 'name', type: 'string', description: '' },
  { name: 'time', short: 't2', type: 'int', description: '' },
  { name: 'sig-proxy', type: 'bool', default: true, description: '' },
];

test('docker flag grammar: bundles, attached values, repeats, =', () => {
  const p = parseArgs(['-it', '-p80:80', '-p', '443:443', '-e=A=1', '--env', 'B=2', '--name=web', '--sig-proxy=false', 'busybox', 'sh'], specs, { interspersed: false });
  assert.equal(p.flags.interactive, true);
  assert.equal(p.flags.tty, true);
  assert.deepEqual(p.flags.publish, ['80:80', '443:443']);
  assert.deepEqual(p.flags.env, ['A=1', 'B=2']);
  assert.equal(p.flags.name, 'web');
  assert.equal(p.flags['sig-proxy'], false);
  assert.deepEqual(p.args, ['busybox', 'sh']);
});

test('run-style parsing stops at the image; flags after belong to the command', () => {
  const p = parseArgs(['-d', 'busybox', 'ls', '-la', '--name', 'x'], specs, { interspersed: false });
  assert.deepEqual(p.args, ['busybox', 'ls', '-la', '--name', 'x']);
  assert.equal(p.flags.name, undefined);
});

test('interspersed parsing and --', () => {
  const p = parseArgs(['a', '-d', 'b', '--', '-e'], specs);
  assert.deepEqual(p.args, ['a', 'b', '-e']);
  assert.equal(p.flags.detach, true);
});

test('errors are usage errors with docker wording', () => {
  assert.throws(() => parseArgs(['--bogus'], specs), (e) => e instanceof UsageError && /unknown flag: --bogus/.test(e.message));
  assert.throws(() => parseArgs(['-x'], specs), (e) => e instanceof UsageError && /unknown shorthand flag: 'x' in -x/.test(e.message));
  assert.throws(() => parseArgs(['--name'], specs), (e) => e instanceof UsageError && /flag needs an argument/.test(e.message));
  assert.throws(() => parseArgs(['--time', 'soon'], specs), (e) => e instanceof UsageError && /invalid argument "soon"/.test(e.message));
  assert.throws(() => parseArgs(['--detach=maybe'], specs), (e) => e instanceof UsageError);
});
