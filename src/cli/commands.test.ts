import assert from 'node:assert/strict';
import { test } from 'node:test';
import { findCommand, isGroup } from './commands.js';

test('findCommand: a verb, an alias, the longest path wins', () => {
  assert.deepEqual(findCommand(['image', 'ls', '-a'])?.def.path, ['image', 'ls']);
  assert.equal(findCommand(['image', 'ls', '-a'])?.consumed, 2);
  assert.deepEqual(findCommand(['ps', '-a'])?.def.path, ['container', 'ls'], 'ps is an alias of container ls');
});

test('findCommand: a group alone or with a flag (--help) is its help; an unknown verb is not a command', () => {
  for (const argv of [['system'], ['system', '--help'], ['network', '-h']]) {
    const found = findCommand(argv);
    assert.ok(found, argv.join(' '));
    assert.equal(found.def.handler, undefined, `${argv.join(' ')} shows the group's help`);
    assert.equal(found.consumed, 1);
  }
  assert.equal(findCommand(['system', 'nosuchverb']), undefined);
  assert.equal(findCommand(['nosuchcommand']), undefined);
  assert.ok(isGroup('system') && isGroup('image') && !isGroup('ps') && !isGroup(undefined));
});

test('-f is --format for every inspect, version and info, as in docker', () => {
  for (const argv of [['inspect'], ['container', 'inspect'], ['image', 'inspect'], ['network', 'inspect'], ['volume', 'inspect'], ['version'], ['info']]) {
    const found = findCommand([...argv, 'x']);
    assert.ok(found, argv.join(' '));
    assert.equal(found.def.flags.find((f) => f.short === 'f')?.name, 'format', `${argv.join(' ')} -f`);
  }
});
