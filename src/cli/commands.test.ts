import assert from 'node:assert/strict';
import { test } from 'node:test';
import { findCommand, helpText, isGroup, topLevelHelp } from './commands.js';

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

test('group help: update is listed, the internal commands are not; every name stays apart from its summary', () => {
  const group = findCommand(['container']);
  assert.ok(group);
  const text = helpText(group.def);
  assert.match(text, /^ {2}update +Update configuration/m);
  for (const internal of ['cleanup', 'port-proxy', 'healthcheck-monitor']) assert.doesNotMatch(text, new RegExp(`^  ${internal}\\b`, 'm'), internal);
  for (const line of [...text.split('\n'), ...topLevelHelp().split('\n')].filter((l) => /^ {2}\S/.test(l))) assert.match(line, /^ {2}\S+ +\S/, line);
  assert.equal(findCommand(['update', 'c'])?.def.path.join(' '), 'container update');
});
