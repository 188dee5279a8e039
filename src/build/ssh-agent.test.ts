import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { parseSshFlags, startAgentProxy } from './ssh-agent.js';

test('--ssh: default and ID take SSH_AUTH_SOCK, ID=SOCKET names one; key files, a missing agent and bad ids are refused', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-ssh-unit-'));
  const sock = path.join(dir, 's');
  const server = net.createServer((c) => c.end('pong'));
  await new Promise<void>((r) => server.listen(sock, r));
  try {
    assert.deepEqual(parseSshFlags(['default', 'work', `other=${sock}`], { SSH_AUTH_SOCK: sock }), { default: sock, work: sock, other: sock });
    assert.throws(() => parseSshFlags(['default'], {}), /make sure SSH_AUTH_SOCK is set/);
    fs.writeFileSync(path.join(dir, 'key'), 'x');
    assert.throws(() => parseSshFlags([`default=${path.join(dir, 'key')}`], {}), /not key files/);
    assert.throws(() => parseSshFlags([`default=${sock},${sock}`], {}), /not key files/);
    assert.throws(() => parseSshFlags([`default=${path.join(dir, 'none')}`], {}), /no SSH agent socket/);
    assert.throws(() => parseSshFlags(['bad id'], { SSH_AUTH_SOCK: sock }), /invalid --ssh/);

    // The relay: its own socket with the asked mode, each connection reaches the agent; close removes it.
    const proxy = await startAgentProxy(sock, { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0, mode: 0o640 });
    assert.equal(fs.statSync(proxy.socket).mode & 0o777, 0o640);
    const reply = await new Promise<string>((resolve, reject) => {
      let got = '';
      const c = net.connect(proxy.socket);
      c.on('data', (d) => (got += d.toString()));
      c.on('end', () => resolve(got));
      c.on('error', reject);
    });
    assert.equal(reply, 'pong');
    proxy.close();
    assert.equal(fs.existsSync(path.dirname(proxy.socket)), false);
  } finally {
    server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
