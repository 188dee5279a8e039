import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { rechunk } from './chunks.js';

async function* from(chunks: Buffer[]): AsyncGenerator<Buffer> {
  for (const c of chunks) yield c;
}

describe('rechunk', () => {
  it('yields blocks of exactly the size (the last shorter) with the same bytes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.uint8Array({ maxLength: 50 }), { maxLength: 20 }), fc.integer({ min: 1, max: 17 }), async (arrs, size) => {
        const input = arrs.map((a) => Buffer.from(a));
        const out: Buffer[] = [];
        for await (const b of rechunk(from(input), size)) out.push(Buffer.from(b));
        assert.deepEqual(Buffer.concat(out), Buffer.concat(input));
        for (const b of out.slice(0, -1)) assert.equal(b.length, size);
        if (out.length) assert.ok((out.at(-1) as Buffer).length >= 1 && (out.at(-1) as Buffer).length <= size);
      }),
    );
  });
});
