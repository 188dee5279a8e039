import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { request, useService } from './api-support.js';

describe('events: what the CLI does shows up in /events as docker clients expect', { skip: process.getuid?.() !== 0 && 'needs root' }, () => {
  const { store: s, svc } = useService('events');

  test('container, image, volume and network events, filterable by type', async () => {
    const since = Math.floor(Date.now() / 1000) - 1;
    s.ok(['run', '--rm', '--network', 'none', 'busybox', 'true']);
    s.ok(['tag', 'busybox', 'evt:1']);
    s.ok(['rmi', 'evt:1']);
    s.ok(['volume', 'create', 'evtvol']);
    s.ok(['volume', 'rm', 'evtvol']);
    s.ok(['network', 'create', 'evtnet']);
    s.ok(['network', 'rm', 'evtnet']);
    const until = Math.floor(Date.now() / 1000) + 1;
    const r = await request(svc.socket, 'GET', `/v1.45/events?since=${since}&until=${until}`);
    assert.equal(r.status, 200);
    const events = r.body
      .toString()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { Type: string; Action: string; Actor: { Attributes: Record<string, string> } });
    const seen = events.map((e) => `${e.Type}:${e.Action}`);
    for (const want of ['container:create', 'container:start', 'container:die', 'container:destroy', 'image:tag', 'image:untag', 'volume:create', 'volume:destroy', 'network:create', 'network:destroy'])
      assert.ok(seen.includes(want), `missing ${want} in ${seen.join(', ')}`);
    const filters = encodeURIComponent(JSON.stringify({ type: ['volume'] }));
    const f = await request(svc.socket, 'GET', `/v1.45/events?since=${since}&until=${until}&filters=${filters}`);
    const types = new Set(f.body.toString().split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { Type: string }).Type));
    assert.deepEqual([...types], ['volume']);
  });
});
