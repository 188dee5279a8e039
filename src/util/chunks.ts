/** Stream helpers shared by the layer and registry code. */

/**
 * Splits a stream into buffers of exactly `size` bytes (the last one shorter), holding at most one
 * block. A chunk that is exactly one block is passed on without a copy (streams never reuse the
 * buffers they emit).
 */
export async function* rechunk(src: AsyncIterable<Buffer>, size: number): AsyncGenerator<Buffer> {
  let parts: Buffer[] = [];
  let n = 0;
  for await (const c0 of src) {
    let c = c0;
    while (n + c.length >= size) {
      const take = size - n;
      parts.push(c.subarray(0, take));
      yield parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
      parts = [];
      n = 0;
      c = c.subarray(take);
    }
    if (c.length) {
      parts.push(c);
      n += c.length;
    }
  }
  if (n) yield Buffer.concat(parts);
}
