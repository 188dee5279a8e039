import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { isBerthError } from '../errors.js';
import { OciRuntime, classifyStartError, runtimeErrorText, signalNumber } from './oci-runtime.js';

describe('classifyStartError', () => {
  const cases: [string, string][] = [
    ['time="2026-11-27T19:20:06Z" level=error msg="runc run failed: unable to start container process: exec: \\"nosuchcmd\\": executable file not found in $PATH"', 'command_not_found'],
    ['{"level":"error","msg":"runc create failed: unable to start container process: exec: \\"/nope\\": stat /nope: no such file or directory","time":"x"}', 'command_not_found'],
    ['level=error msg="runc create failed: unable to start container process: exec: \\"/etc/passwd\\": permission denied"', 'cannot_invoke'],
    ['exec: "/bin/x": exec format error', 'cannot_invoke'],
    ['time="x" level=error msg="container does not exist"', 'not_found'],
    ['time="x" level=error msg="container with id exists: c1"', 'already_exists'],
    ['time="x" level=error msg="cannot start a container that has stopped"', 'conflict'],
    ['time="x" level=error msg="unable to apply caps: operation not permitted"', 'permission_denied'],
    ['cgroups in hybrid mode not supported, drop all controllers from cgroupv2', 'failed_precondition'],
    ['something else', 'internal'],
  ];
  for (const [text, code] of cases) {
    it(`${code}: ${text.slice(0, 60)}`, () => assert.equal(classifyStartError(text).code, code));
  }
  it('keeps the runtime message, unescaped, and skips warnings', () => {
    const e = classifyStartError('time="x" level=warning msg="ignored"\ntime="x" level=error msg="exec: \\"nosuchcmd\\": executable file not found in $PATH"');
    assert.match(e.message, /exec: "nosuchcmd": executable file not found in \$PATH/);
    assert.doesNotMatch(e.message, /ignored/);
    assert.equal(runtimeErrorText('plain text\n'), 'plain text');
  });
});

describe('signalNumber', () => {
  it('names with or without SIG, numbers', () => {
    assert.equal(signalNumber('TERM'), 15);
    assert.equal(signalNumber('sigkill'), 9);
    assert.equal(signalNumber(10), 10);
    assert.equal(signalNumber('2'), 2);
    assert.throws(() => signalNumber('NOPE'), (e) => isBerthError(e, 'invalid_argument'));
    assert.throws(() => signalNumber(99), (e) => isBerthError(e, 'invalid_argument'));
  });
});

describe('OciRuntime', () => {
  it('resolves the binary and builds exec arguments for conmon', { skip: !process.env.PATH && 'no PATH' }, () => {
    const rt = new OciRuntime({ binary: process.execPath, root: '/run/berth/runc' });
    assert.deepEqual(rt.globalArgs, ['--root', '/run/berth/runc']);
    assert.deepEqual(rt.execArgs('c1', '/b/exec.json', { detach: true, tty: true, consoleSocket: '/s.sock', pidFile: '/p' }), [
      '--root', '/run/berth/runc', 'exec', '--process', '/b/exec.json', '--detach', '--tty', '--console-socket', '/s.sock', '--pid-file', '/p', 'c1',
    ]);
    assert.deepEqual(rt.execArgs('c1', '/b/exec.json'), ['--root', '/run/berth/runc', 'exec', '--process', '/b/exec.json', 'c1']);
  });
  it('failed_precondition for a missing binary', () => {
    assert.throws(() => new OciRuntime({ binary: 'no-such-runtime-xyz', root: '/tmp/x' }), (e) => isBerthError(e, 'failed_precondition'));
  });
});

describe('start through the exec fifo', () => {
  // Plays runc's part: a process (reaped at once by its parent shell) that waits to open
  // <root>/<id>/exec.fifo for writing, writes its byte and ends at once, like an init whose command
  // exits immediately. The event loop is busy meanwhile, as on a loaded machine: when it runs again,
  // the process is gone and the byte is still in the pipe.
  const setup = () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-fifo-'));
    fs.mkdirSync(path.join(root, 'c1'));
    const fifo = path.join(root, 'c1', 'exec.fifo');
    execFileSync('mkfifo', [fifo]);
    return { root, fifo };
  };
  const block = (ms: number) => {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      /* busy */
    }
  };
  it('a command that ended before the event loop saw its byte still started', async () => {
    const { root, fifo } = setup();
    try {
      // A shell that reaps the writer the moment it ends (as conmon does), writing its pid to a file.
      const pidFile = path.join(root, 'pid');
      execFileSync('sh', ['-c', '( (printf 0 > "$0") & echo $! > "$1"; wait ) </dev/null >/dev/null 2>&1 &', fifo, pidFile]);
      let pid = 0;
      for (const end = Date.now() + 10_000; !pid && Date.now() < end; ) pid = fs.existsSync(pidFile) ? Number(fs.readFileSync(pidFile, 'utf8').trim()) : 0;
      assert.ok(pid > 0, 'the writer started');
      const rt = new OciRuntime({ binary: 'runc', root });
      const started = rt.start('c1', { initPid: pid });
      // Busy in the check phase: the next loop iteration runs the due timer before polling the fifo.
      setImmediate(() => block(300));
      await started;
      assert.equal(fs.existsSync(fifo), false, 'the fifo is removed: the container is marked started');
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
  it('an init that died without sending its byte is an error', async () => {
    const { root, fifo } = setup();
    try {
      const pid = Number(execFileSync('sh', ['-c', 'true </dev/null >/dev/null 2>&1 & echo $!'], { encoding: 'utf8' }).trim());
      const rt = new OciRuntime({ binary: 'runc', root });
      await assert.rejects(rt.start('c1', { initPid: pid }), /exited before it could start/);
      assert.equal(fs.existsSync(fifo), true);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
