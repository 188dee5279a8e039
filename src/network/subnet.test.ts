import assert from 'node:assert/strict';
import { test } from 'node:test';
import { firstFree, formatSubnet, hostRoutes, ipRangeBounds, overlaps, parseSubnet, routedElsewhere } from './subnet.js';

test('parseSubnet accepts CIDRs and refuses host bits and junk', () => {
  assert.equal(formatSubnet(parseSubnet('10.89.0.0/16')), '10.89.0.0/16');
  assert.throws(() => parseSubnet('10.89.0.1/16'), /host bits/);
  assert.throws(() => parseSubnet('10.89.0.0'), /CIDR/);
  assert.throws(() => parseSubnet('300.1.0.0/16'), /invalid IPv4/);
});

test('overlaps is symmetric and prefix-aware', () => {
  assert.ok(overlaps(parseSubnet('10.89.0.0/16'), parseSubnet('10.89.3.0/24')));
  assert.ok(overlaps(parseSubnet('10.89.3.0/24'), parseSubnet('10.89.0.0/16')));
  assert.ok(!overlaps(parseSubnet('10.89.0.0/16'), parseSubnet('10.90.0.0/24')));
});

test('firstFree skips taken subnets', () => {
  const pool = parseSubnet('10.90.0.0/15');
  const got = firstFree(pool, 24, [parseSubnet('10.90.0.0/24'), parseSubnet('10.90.1.0/24')]);
  assert.equal(got && formatSubnet(got), '10.90.2.0/24');
  assert.equal(firstFree(parseSubnet('10.90.0.0/24'), 24, [parseSubnet('10.0.0.0/8')]), undefined);
});

test('hostRoutes reads /proc/net/route', () => {
  const text = [
    'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT',
    'eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0',
    'eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0',
    'berth0\t0000590A\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0',
  ].join('\n');
  assert.deepEqual(hostRoutes(text).map((r) => `${r.iface} ${formatSubnet(r.subnet)}`), ['eth0 192.0.2.0/24', 'berth0 10.89.0.0/16']);
});

test('routedElsewhere: a network\'s own bridge never takes its subnet; another interface does', () => {
  const routes = [
    { iface: 'berthabc', subnet: parseSubnet('10.90.75.0/24') },
    { iface: 'eth0', subnet: parseSubnet('192.0.2.0/24') },
  ];
  assert.equal(routedElsewhere(parseSubnet('10.90.75.0/24'), 'berthabc', routes), undefined, 'its own bridge, just brought up by another process');
  assert.equal(routedElsewhere(parseSubnet('10.90.75.0/24'), 'berthdef', routes), 'berthabc');
  assert.equal(routedElsewhere(parseSubnet('192.0.2.128/25'), 'berthabc', routes), 'eth0');
  assert.equal(routedElsewhere(parseSubnet('10.90.76.0/24'), 'berthabc', routes), undefined);
});

test('ipRangeBounds: a CIDR inside the subnet as host-local bounds, network and broadcast addresses left out', () => {
  const s = parseSubnet('10.77.5.0/24');
  assert.deepEqual(ipRangeBounds('10.77.5.128/26', s), { first: '10.77.5.128', last: '10.77.5.191' });
  assert.deepEqual(ipRangeBounds('10.77.5.0/24', s), { first: '10.77.5.1', last: '10.77.5.254' });
  assert.deepEqual(ipRangeBounds('10.77.5.192/26', s), { first: '10.77.5.192', last: '10.77.5.254' });
  assert.deepEqual(ipRangeBounds('10.77.5.7/32', s), { first: '10.77.5.7', last: '10.77.5.7' });
  assert.throws(() => ipRangeBounds('10.77.6.0/26', s), /not inside subnet/);
  assert.throws(() => ipRangeBounds('10.77.0.0/16', s), /not inside subnet/);
  assert.throws(() => ipRangeBounds('10.77.5.129/26', s), /host bits are set/);
  assert.throws(() => ipRangeBounds('10.77.5.255/32', s), /no usable address/);
});
