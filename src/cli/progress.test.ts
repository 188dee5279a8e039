import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { eventText, progressBar, progressRenderer } from './progress.js';

function sinkTo(tty: boolean): { out: Writable & { isTTY?: boolean; columns?: number }; text: () => string } {
  let buf = '';
  const out = new Writable({
    write(c, _e, cb) {
      buf += c.toString();
      cb();
    },
  }) as Writable & { isTTY?: boolean; columns?: number };
  out.isTTY = tty;
  out.columns = 120;
  return { out, text: () => buf };
}

describe('cli progress rendering', () => {
  test('docker-shaped bar and text', () => {
    assert.equal(progressBar(0, 100), `[>${' '.repeat(49)}]  0B/100B`);
    assert.equal(progressBar(100, 100), `[${'='.repeat(50)}]  100B/100B`);
    assert.equal(eventText({ id: 'abc', status: 'Pull complete' }, true), 'abc: Pull complete');
    assert.equal(eventText({ status: 'Digest: sha256:x' }, true), 'Digest: sha256:x');
  });

  test('plain output: one line per status change, no byte counts', () => {
    const { out, text } = sinkTo(false);
    const r = progressRenderer(out);
    r.sink({ id: 'a', status: 'Pulling fs layer' });
    r.sink({ id: 'a', status: 'Downloading', progressDetail: { current: 1, total: 2 } });
    r.sink({ id: 'a', status: 'Downloading', progressDetail: { current: 2, total: 2 } });
    r.sink({ id: 'a', status: 'Pull complete' });
    r.sink({ id: 'a', status: 'Pull complete' });
    r.sink({ status: '', aux: { Tag: 'x' } });
    r.sink({ status: 'Status: done' });
    assert.equal(text(), 'a: Pulling fs layer\na: Pull complete\nStatus: done\n');
  });

  test('terminal output rewrites the line of a known id in place', () => {
    const { out, text } = sinkTo(true);
    const r = progressRenderer(out);
    r.sink({ id: 'a', status: 'Waiting' });
    r.sink({ id: 'b', status: 'Waiting' });
    r.sink({ id: 'a', status: 'Pull complete' });
    assert.equal(text(), 'a: Waiting\nb: Waiting\n\x1b[2A\r\x1b[2Ka: Pull complete\x1b[2B\r');
  });
});
