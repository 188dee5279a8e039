import assert from 'node:assert/strict';
import { test } from 'node:test';
import { contains6, formatIp6, formatSubnet6, hostRoutes6, overlaps6, parseIp6, parseSubnet6, pickUla64 } from './subnet6.js';

test('IPv6 addresses parse and print in RFC 5952 form', () => {
  assert.equal(formatIp6(parseIp6('fd00:0:0:0:0:0:0:1')), 'fd00::1');
  assert.equal(formatIp6(parseIp6('FD42:1:0:0:1:0:0:0')), 'fd42:1:0:0:1::', 'the longest zero run');
  assert.equal(formatIp6(parseIp6('::')), '::');
  assert.equal(formatIp6(parseIp6('::ffff:10.0.0.1')), '::ffff:a00:1');
  assert.equal(formatIp6(parseIp6('1:2:3:4:5:6:7:8')), '1:2:3:4:5:6:7:8');
  assert.throws(() => parseIp6('10.0.0.1'), /invalid IPv6 address/);
});

test('IPv6 subnets: host bits, size, link-local and overlaps', () => {
  const a = parseSubnet6('fd42:4265:7274::/64');
  assert.equal(formatSubnet6(a), 'fd42:4265:7274::/64');
  assert.ok(contains6(a, parseIp6('fd42:4265:7274::5')));
  assert.ok(!contains6(a, parseIp6('fd42:4265:7274:1::5')));
  assert.ok(overlaps6(a, parseSubnet6('fd42:4265:7274::/120')));
  assert.ok(!overlaps6(a, parseSubnet6('fd42:4265:7274:1::/64')));
  assert.throws(() => parseSubnet6('fd42::1/64'), /host bits are set, use fd42::\/64/);
  assert.throws(() => parseSubnet6('fd42::/124'), /too small/);
  assert.throws(() => parseSubnet6('fe80::/64'), /link-local/);
  const taken = [parseSubnet6('fd00::/8')];
  assert.throws(() => pickUla64('x', taken), /no free/);
  const u = pickUla64('x', []);
  assert.equal(u.prefix, 64);
  assert.equal(u.base >> 120n, 0xfdn);
});

test('host IPv6 routes: link-local, multicast, default and host routes are not clashes', () => {
  const text = [
    'fd000000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0',
    'fe800000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0',
    '00000000000000000000000000000000 00 00000000000000000000000000000000 00 fd000000000000000000000000000001 00000400 00000001 00000000 00000003     eth0',
    'fd000000000000000000000000000002 80 00000000000000000000000000000000 00 00000000000000000000000000000000 00000000 00000003 00000000 80200001     eth0',
    'ff000000000000000000000000000000 08 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000003 00000000 00000001     eth0',
  ].join('\n');
  assert.deepEqual(hostRoutes6(text).map((r) => `${r.iface} ${formatSubnet6(r.subnet)}`), ['eth0 fd00::/64']);
});
