import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isBerthError } from '../errors.js';
import { applyChanges, splitWords } from './changes.js';

test('CMD/ENTRYPOINT in JSON and shell form, ENV both forms, LABEL, EXPOSE, VOLUME', () => {
  const c = applyChanges({ Env: ['PATH=/bin', 'A=0'] }, [
    'CMD ["sh", "-c", "echo hi"]',
    'ENTRYPOINT /bin/run --fast',
    'ENV A=1 B="two words"',
    'ENV C three words',
    'LABEL a=b "c d"=e',
    'EXPOSE 80 53/udp',
    'VOLUME ["/data"]',
    'USER nobody',
    'WORKDIR /srv',
    'STOPSIGNAL SIGINT',
  ]);
  assert.deepEqual(c.Cmd, ['sh', '-c', 'echo hi']);
  assert.deepEqual(c.Entrypoint, ['/bin/sh', '-c', '/bin/run --fast']);
  assert.deepEqual(c.Env, ['PATH=/bin', 'A=1', 'B=two words', 'C=three words']);
  assert.deepEqual(c.Labels, { a: 'b', 'c d': 'e' });
  assert.deepEqual(Object.keys(c.ExposedPorts ?? {}), ['80/tcp', '53/udp']);
  assert.deepEqual(Object.keys(c.Volumes ?? {}), ['/data']);
  assert.equal(c.User, 'nobody');
  assert.equal(c.WorkingDir, '/srv');
  assert.equal(c.StopSignal, 'SIGINT');
});

test('instructions docker refuses in --change are refused', () => {
  assert.throws(() => applyChanges({}, ['RUN rm -rf /']), (e) => isBerthError(e, 'invalid_argument'));
  assert.throws(() => applyChanges({}, ['FROM x']), (e) => isBerthError(e, 'invalid_argument'));
});

test('splitWords honours quotes and escapes', () => {
  assert.deepEqual(splitWords(`a "b c" 'd e' f\\ g ""`), ['a', 'b c', 'd e', 'f g', '']);
  assert.throws(() => splitWords('"open'));
});
