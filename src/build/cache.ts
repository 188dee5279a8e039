/**
 * The build cache: step key -> image holding the state after that step (table build_cache). A key is
 * the digest of everything a step's result depends on (see `stepKey`); a hit is only returned while
 * its image still exists, so `rmi`/`prune` invalidate entries by deleting images.
 */
import { createHash } from 'node:crypto';
import type { Digest } from '../content/digest.js';
import type { ImageStore } from '../image/image-store.js';
import { type Database, writeTx } from '../metadata/db.js';

export class BuildCache {
  constructor(
    private readonly db: Database,
    private readonly images: ImageStore,
  ) {}

  /** The image recorded for `key`, if it still exists (and marks the entry used). */
  get(key: string): Digest | undefined {
    const row = this.db.prepare('SELECT image_id FROM build_cache WHERE key = ?').get(key) as { image_id: Digest } | undefined;
    if (!row) return undefined;
    if (!this.images.get(row.image_id)) return undefined;
    writeTx(this.db, () => this.db.prepare('UPDATE build_cache SET last_used = ? WHERE key = ?').run(Date.now(), key));
    return row.image_id;
  }

  put(key: string, imageId: Digest): void {
    const now = Date.now();
    writeTx(this.db, () =>
      this.db
        .prepare(
          'INSERT INTO build_cache (key, image_id, created, last_used) VALUES (?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET image_id = excluded.image_id, last_used = excluded.last_used',
        )
        .run(key, imageId, now, now),
    );
  }
}

/**
 * A step's cache key: sha256 over the parent's key and the step's description (the instruction after
 * expansion, the build args it sees, content checksums of its sources), as canonical JSON.
 */
export function stepKey(parent: string, step: unknown): string {
  return `sha256:${createHash('sha256').update(parent).update('\n').update(JSON.stringify(step)).digest('hex')}`;
}
