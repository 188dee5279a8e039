/**
 * Unpacked layers, one directory per chain ID, ready to be overlay lower directories.
 *
 * <root>/layers/<chain hex>/diff   the layer's files (overlay whiteouts already converted)
 * <root>/l/<short>                 symlink -> ../layers/<chain hex>/diff, keeps overlay mount options short
 *
 * A layer is unpacked into <root>/layers/tmp-*, then renamed into place and recorded in the database
 * in one step; concurrent unpacks of the same layer race benignly (the loser discards its copy).
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { type Digest, digestHex } from '../content/digest.js';
import { corrupt, fromSystemError, notFound } from '../errors.js';
import { applyLayer } from '../layer/apply.js';
import { type Database, writeTx } from '../metadata/db.js';

export interface LayerRecord {
  chainId: Digest;
  diffId: Digest;
  parent: Digest | null;
  size: number;
  created: number;
}

export function chainIdOf(parent: Digest | null, diffId: Digest): Digest {
  if (!parent) return diffId;
  return `sha256:${createHash('sha256').update(`${parent} ${diffId}`).digest('hex')}`;
}

/** Chain IDs for a list of diff IDs (bottom first). */
export function chainIds(diffIds: Digest[]): Digest[] {
  const out: Digest[] = [];
  let parent: Digest | null = null;
  for (const d of diffIds) {
    parent = chainIdOf(parent, d);
    out.push(parent);
  }
  return out;
}

/** Short link name for a chain id: 20 hex chars, unique enough and short enough for ~180 lowerdirs in one page. */
export function shortLinkName(chainId: Digest): string {
  return digestHex(chainId).slice(0, 20);
}

export class LayerStore {
  readonly root: string;
  constructor(
    root: string,
    private readonly db: Database,
  ) {
    this.root = root;
    fs.mkdirSync(path.join(root, 'layers'), { recursive: true });
    fs.mkdirSync(path.join(root, 'l'), { recursive: true });
  }

  layerDir(chainId: Digest): string {
    return path.join(this.root, 'layers', digestHex(chainId), 'diff');
  }

  /** Path relative to the store root, through the short link (for overlay lowerdir= when cwd is root). */
  shortPath(chainId: Digest): string {
    return `l/${shortLinkName(chainId)}`;
  }

  get(chainId: Digest): LayerRecord | undefined {
    const row = this.db
      .prepare('SELECT chain_id, diff_id, parent, size, created FROM layers WHERE chain_id = ?')
      .get(chainId) as { chain_id: Digest; diff_id: Digest; parent: Digest | null; size: number; created: number } | undefined;
    if (!row) return undefined;
    return { chainId: row.chain_id, diffId: row.diff_id, parent: row.parent, size: row.size, created: row.created };
  }

  has(chainId: Digest): boolean {
    return this.get(chainId) !== undefined && fs.existsSync(this.layerDir(chainId));
  }

  /** The lower directories of a chain, top-most first (overlay's lowerdir order). */
  lowerChain(top: Digest | null): LayerRecord[] {
    const out: LayerRecord[] = [];
    let cur = top;
    while (cur) {
      const rec = this.get(cur);
      if (!rec) throw notFound(`layer ${cur} is missing from the store`, { hint: 'run berth system check --repair' });
      out.push(rec);
      cur = rec.parent;
    }
    return out;
  }

  /** Makes a temporary directory inside the store (same filesystem, so a rename publishes it). */
  makeTempDir(): string {
    const dir = path.join(this.root, 'layers', `tmp-${Date.now()}-${randomBytes(6).toString('hex')}`);
    fs.mkdirSync(path.join(dir, 'diff'), { recursive: true });
    return dir;
  }

  /**
   * Unpacks a layer stream on top of `parent` unless its chain already exists.
   * `expectedDiffId`, when known (from the image config), is checked against the bytes.
   */
  async unpack(
    parent: Digest | null,
    src: Readable,
    opts: { expectedDiffId?: Digest; signal?: AbortSignal } = {},
  ): Promise<LayerRecord> {
    if (opts.expectedDiffId) {
      const existing = this.get(chainIdOf(parent, opts.expectedDiffId));
      if (existing && fs.existsSync(this.layerDir(existing.chainId))) {
        src.resume();
        src.destroy();
        return existing;
      }
    }
    const tmp = this.makeTempDir();
    try {
      const res = await applyLayer(src, path.join(tmp, 'diff'), opts.signal ? { signal: opts.signal } : {});
      if (opts.expectedDiffId && res.diffId !== opts.expectedDiffId) {
        throw corrupt(`layer content ${res.diffId} does not match the image's diff id ${opts.expectedDiffId}`);
      }
      return this.publish(parent, res.diffId, res.size, tmp);
    } catch (e) {
      fs.rmSync(tmp, { recursive: true, force: true });
      throw e;
    }
  }

  /** Moves a fully written temporary layer dir into place and records it. Consumes `tmp`. */
  publish(parent: Digest | null, diffId: Digest, size: number, tmp: string): LayerRecord {
    const chainId = chainIdOf(parent, diffId);
    const finalDir = path.join(this.root, 'layers', digestHex(chainId));
    try {
      fs.renameSync(tmp, finalDir);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw fromSystemError(e, 'publishing a layer');
      fs.rmSync(tmp, { recursive: true, force: true });
    }
    const link = path.join(this.root, 'l', shortLinkName(chainId));
    try {
      fs.symlinkSync(`../layers/${digestHex(chainId)}/diff`, link);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw fromSystemError(e, 'linking a layer');
    }
    const now = Date.now();
    writeTx(this.db, () => {
      this.db
        .prepare('INSERT OR IGNORE INTO layers (chain_id, diff_id, parent, size, created) VALUES (?, ?, ?, ?, ?)')
        .run(chainId, diffId, parent, size, now);
    });
    return this.get(chainId) as LayerRecord;
  }

  /** Deletes a layer's directory and record. The caller guarantees nothing references it. */
  remove(chainId: Digest): void {
    const dir = path.join(this.root, 'layers', digestHex(chainId));
    writeTx(this.db, () => {
      this.db.prepare('DELETE FROM layers WHERE chain_id = ?').run(chainId);
    });
    fs.rmSync(path.join(this.root, 'l', shortLinkName(chainId)), { force: true });
    // Rename first so a crash never leaves a half-deleted directory under a valid name.
    const trash = path.join(this.root, 'layers', `trash-${randomBytes(6).toString('hex')}`);
    try {
      fs.renameSync(dir, trash);
    } catch {
      return;
    }
    fs.rmSync(trash, { recursive: true, force: true });
  }

  list(): LayerRecord[] {
    return (
      this.db.prepare('SELECT chain_id, diff_id, parent, size, created FROM layers').all() as {
        chain_id: Digest;
        diff_id: Digest;
        parent: Digest | null;
        size: number;
        created: number;
      }[]
    ).map((r) => ({ chainId: r.chain_id, diffId: r.diff_id, parent: r.parent, size: r.size, created: r.created }));
  }
}
