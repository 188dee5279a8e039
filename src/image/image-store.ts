/**
 * Images and their names: records in SQLite, manifests and configs as blobs in the content store.
 * An image ID is the digest of its config. Names are stored fully qualified
 * (docker.io/library/busybox:latest) and shown familiar (busybox:latest).
 */
import type { Digest } from '../content/digest.js';
import type { BlobProvider, BlobStore } from '../content/store.js';
import { BerthError, conflict, corrupt, notFound } from '../errors.js';
import { type Database, stmt, writeTx } from '../metadata/db.js';
import type { ImageConfig } from './oci.js';
import { formatReference, parseReference, withDefaultTag } from './reference.js';

export interface ImageRecord {
  id: Digest;
  manifestDigest: Digest | null;
  created: number;
  added: number;
  size: number;
  topLayer: Digest | null;
  parent: Digest | null;
  labels: Record<string, string>;
  meta: ImageMeta;
  /** Fully qualified names (docker.io/library/busybox:latest). */
  tags: string[];
  /** repo@digest as pulled from or pushed to registries. */
  repoDigests: string[];
}

/** Engine-owned extras kept with an image. */
export interface ImageMeta {
  /** Digest of the build context the image was built from (stale-image warning). */
  buildContext?: { dir: string; digest: string; dockerfile: string; tags: string[] };
  /** Layer encodings chosen for this image, diffId -> blob digest in the content store. */
  [k: string]: unknown;
}

interface ImageRow {
  id: Digest;
  manifest_digest: Digest | null;
  created: number;
  added: number;
  size: number;
  top_layer: Digest | null;
  parent: Digest | null;
  labels: string;
  meta: string;
}

const HEX64 = /^(?:sha256:)?([0-9a-f]{64})$/;
const HEX_PREFIX = /^(?:sha256:)?([0-9a-f]{1,63})$/;

export interface NewImage {
  id: Digest;
  manifestDigest: Digest;
  created: number;
  size: number;
  topLayer: Digest | null;
  parent?: Digest | null;
  labels?: Record<string, string>;
  meta?: ImageMeta;
}

/** Called after a name or an image changed (the engine turns it into Docker's image events). */
export type ImageEventSink = (action: 'tag' | 'untag' | 'delete', id: Digest, attributes: Record<string, string>) => void;

function toRecord(row: ImageRow, tags: string[], repoDigests: string[]): ImageRecord {
  return {
    id: row.id,
    manifestDigest: row.manifest_digest,
    created: row.created,
    added: row.added,
    size: row.size,
    topLayer: row.top_layer,
    parent: row.parent,
    labels: JSON.parse(row.labels) as Record<string, string>,
    meta: JSON.parse(row.meta) as ImageMeta,
    tags,
    repoDigests,
  };
}

export class ImageStore {
  constructor(
    private readonly db: Database,
    readonly blobs: BlobStore,
    private readonly onEvent: ImageEventSink = () => {},
  ) {}

  private rowToRecord(row: ImageRow): ImageRecord {
    const tags = (stmt(this.db, 'SELECT name FROM tags WHERE image_id = ? ORDER BY name').all(row.id) as { name: string }[]).map((r) => r.name);
    const digests = stmt(this.db, 'SELECT repo, digest FROM repo_digests WHERE image_id = ? ORDER BY repo').all(row.id) as { repo: string; digest: string }[];
    return toRecord(row, tags, digests.map((r) => `${r.repo}@${r.digest}`));
  }

  get(id: Digest): ImageRecord | undefined {
    const row = stmt(this.db, 'SELECT * FROM images WHERE id = ?').get(id) as ImageRow | undefined;
    return row ? this.rowToRecord(row) : undefined;
  }

  /** All images with their names, in one pass (fast for `images` on large stores). */
  list(): ImageRecord[] {
    const rows = stmt(this.db, 'SELECT * FROM images ORDER BY created DESC').all() as ImageRow[];
    const group = (pairs: { image_id: string; value: string }[]) => {
      const m = new Map<string, string[]>();
      for (const r of pairs) m.set(r.image_id, [...(m.get(r.image_id) ?? []), r.value]);
      return m;
    };
    const tags = group(stmt(this.db, 'SELECT image_id, name AS value FROM tags ORDER BY name').all() as { image_id: string; value: string }[]);
    const digests = group(
      stmt(this.db, "SELECT image_id, repo || '@' || digest AS value FROM repo_digests").all() as { image_id: string; value: string }[],
    );
    return rows.map((row) => toRecord(row, tags.get(row.id) ?? [], digests.get(row.id) ?? []));
  }

  /**
   * Resolves what a user typed, with docker's precedence: a full ID, then a name (tag or digest),
   * then an ID prefix. Fails with not_found ("No such image") or invalid_argument (ambiguous prefix).
   */
  resolve(nameOrId: string): ImageRecord {
    const img = this.tryResolve(nameOrId);
    if (!img) throw notFound(`No such image: ${nameOrId}`);
    return img;
  }

  tryResolve(nameOrId: string): ImageRecord | undefined {
    const full = HEX64.exec(nameOrId);
    if (full) {
      const img = this.get(`sha256:${full[1]}` as Digest);
      if (img) return img;
    }
    let byName: ImageRecord | undefined;
    try {
      const ref = parseReference(nameOrId);
      if (ref.digest) {
        const row = this.db
          .prepare('SELECT image_id FROM repo_digests WHERE repo = ? AND digest = ?')
          .get(`${ref.domain}/${ref.path}`, ref.digest) as { image_id: Digest } | undefined;
        if (row) byName = this.get(row.image_id);
        else {
          // A pull by digest of an image whose manifest digest we stored.
          const r2 = stmt(this.db, 'SELECT id FROM images WHERE manifest_digest = ?').get(ref.digest) as
            | { id: Digest }
            | undefined;
          if (r2) byName = this.get(r2.id);
        }
      } else {
        const name = formatReference(withDefaultTag(ref));
        const row = stmt(this.db, 'SELECT image_id FROM tags WHERE name = ?').get(name) as { image_id: Digest } | undefined;
        if (row) byName = this.get(row.image_id);
      }
    } catch (e) {
      if (!(e instanceof BerthError)) throw e;
    }
    if (byName) return byName;
    const prefix = HEX_PREFIX.exec(nameOrId);
    if (prefix) {
      const rows = this.db
        .prepare("SELECT id FROM images WHERE id >= ? AND id < ? LIMIT 2")
        .all(`sha256:${prefix[1]}`, `sha256:${prefix[1]}g`) as { id: Digest }[];
      if (rows.length > 1)
        throw new BerthError('invalid_argument', `image ID prefix "${nameOrId}" is ambiguous`, {
          hint: 'give more characters of the ID',
        });
      if (rows.length === 1) return this.get((rows[0] as { id: Digest }).id);
    }
    return undefined;
  }

  /** Records an image (idempotent: the same config digest is the same image). Manifest and config blobs must exist. */
  create(img: NewImage): ImageRecord {
    if (!this.blobs.has(img.id)) throw corrupt(`image config ${img.id} is not in the content store`);
    if (!this.blobs.has(img.manifestDigest)) throw corrupt(`image manifest ${img.manifestDigest} is not in the content store`);
    writeTx(this.db, () => {
      this.db
        .prepare(
          `INSERT INTO images (id, manifest_digest, created, added, size, top_layer, parent, labels, meta)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT(id) DO UPDATE SET parent = COALESCE(images.parent, excluded.parent),
             meta = CASE WHEN excluded.meta = '{}' THEN images.meta ELSE excluded.meta END`,
        )
        .run(
          img.id,
          img.manifestDigest,
          img.created,
          Date.now(),
          img.size,
          img.topLayer,
          img.parent ?? null,
          JSON.stringify(img.labels ?? {}),
          JSON.stringify(img.meta ?? {}),
        );
    });
    return this.get(img.id) as ImageRecord;
  }

  /** Points a name at an image; returns the image the name pointed to before (now possibly dangling). */
  tag(id: Digest, name: string): Digest | undefined {
    const full = formatReference(withDefaultTag(parseReference(name)));
    if (parseReference(name).digest) throw new BerthError('invalid_argument', `refusing to create a tag with a digest reference: ${name}`);
    const moved = writeTx(this.db, () => {
      if (!stmt(this.db, 'SELECT 1 FROM images WHERE id = ?').get(id)) throw notFound(`No such image: ${id}`);
      const prev = stmt(this.db, 'SELECT image_id FROM tags WHERE name = ?').get(full) as { image_id: Digest } | undefined;
      this.db
        .prepare('INSERT INTO tags (name, image_id, updated) VALUES (?, ?, ?) ON CONFLICT(name) DO UPDATE SET image_id = excluded.image_id, updated = excluded.updated')
        .run(full, id, Date.now());
      return prev && prev.image_id !== id ? prev.image_id : undefined;
    });
    this.onEvent('tag', id, { name: full });
    return moved;
  }

  /** Removes one name. Returns the image it pointed to. */
  untag(name: string): Digest {
    const full = formatReference(withDefaultTag(parseReference(name)));
    const id = writeTx(this.db, () => {
      const row = stmt(this.db, 'SELECT image_id FROM tags WHERE name = ?').get(full) as { image_id: Digest } | undefined;
      if (!row) throw notFound(`No such image: ${name}`);
      stmt(this.db, 'DELETE FROM tags WHERE name = ?').run(full);
      return row.image_id;
    });
    this.onEvent('untag', id, { name: full });
    return id;
  }

  addRepoDigest(id: Digest, repo: string, digest: Digest): void {
    writeTx(this.db, () => {
      this.db
        .prepare('INSERT INTO repo_digests (repo, digest, image_id) VALUES (?, ?, ?) ON CONFLICT(repo, digest) DO UPDATE SET image_id = excluded.image_id')
        .run(repo, digest, id);
    });
  }

  removeRepoDigest(repo: string, digest: string): void {
    writeTx(this.db, () => {
      const r = stmt(this.db, 'DELETE FROM repo_digests WHERE repo = ? AND digest = ?').run(repo, digest);
      if (r.changes === 0) throw notFound(`No such image: ${repo}@${digest}`);
    });
  }

  /** Deletes the record and its names. Blobs and layers are left for garbage collection. */
  delete(id: Digest): void {
    writeTx(this.db, () => {
      stmt(this.db, 'DELETE FROM tags WHERE image_id = ?').run(id);
      stmt(this.db, 'DELETE FROM repo_digests WHERE image_id = ?').run(id);
      stmt(this.db, 'UPDATE images SET parent = NULL WHERE parent = ?').run(id);
      stmt(this.db, 'DELETE FROM build_cache WHERE image_id = ?').run(id);
      const r = stmt(this.db, 'DELETE FROM images WHERE id = ?').run(id);
      if (r.changes === 0) throw notFound(`No such image: ${id}`);
    });
    this.onEvent('delete', id, {});
  }

  children(id: Digest): Digest[] {
    return (stmt(this.db, 'SELECT id FROM images WHERE parent = ?').all(id) as { id: Digest }[]).map((r) => r.id);
  }

  setMeta(id: Digest, meta: ImageMeta): void {
    writeTx(this.db, () => {
      stmt(this.db, 'UPDATE images SET meta = ? WHERE id = ?').run(JSON.stringify(meta), id);
    });
  }

  /** Throws conflict if `name` is taken by another image and `force` is not set (not used by docker's tag, kept for build). */
  assertNameFree(name: string, id: Digest): void {
    const full = formatReference(withDefaultTag(parseReference(name)));
    const row = stmt(this.db, 'SELECT image_id FROM tags WHERE name = ?').get(full) as { image_id: Digest } | undefined;
    if (row && row.image_id !== id) throw conflict(`name ${name} is in use`);
  }
}

/** An image's config, read from its blob (the image ID is the config digest). */
export function readImageConfig(blobs: BlobProvider, img: { id: Digest }): ImageConfig {
  try {
    return JSON.parse(blobs.readBuffer(img.id).toString('utf8')) as ImageConfig;
  } catch (e) {
    if (e instanceof BerthError) throw e;
    throw corrupt(`image config ${img.id} is not valid JSON`, { cause: e });
  }
}
