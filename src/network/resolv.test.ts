import assert from 'node:assert/strict';
import { test } from 'node:test';
import { containerResolvConf } from './resolv.js';

test('resolv.conf for a namespace of its own: loopback nameservers dropped, docker defaults when none is left', () => {
  assert.equal(containerResolvConf('nameserver 10.0.0.2\nsearch lan\n'), 'nameserver 10.0.0.2\nsearch lan\n');
  assert.equal(containerResolvConf('nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch lan\n'), 'options edns0 trust-ad\nsearch lan\nnameserver 8.8.8.8\nnameserver 8.8.4.4\n');
  assert.equal(containerResolvConf('nameserver ::1\nnameserver 192.168.1.1\n'), 'nameserver 192.168.1.1\n');
  assert.equal(containerResolvConf(''), '', 'nothing on the host: nothing added (no network is assumed)');
});
