/**
 * `system check`: verifies that every record points at something real and that nothing lies
 * around unrecorded; `repair` removes leftovers of crashed operations and records that cannot be
 * made whole.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Digest } from '../content/digest.js';
import { verifyBlob } from '../content/store.js';
import { writeTx } from '../metadata/db.js';
import type { Engine } from './engine.js';
import { gcLayersAndBlobs, readManifest } from './images.js';
import { dropDeadLeases } from './leases.js';

export interface CheckProblem {
  kind: string;
  detail: string;
  repaired: boolean;
}

export interface CheckReport {
  problems: CheckProblem[];
  checked: { images: number; layers: number; blobs: number; containers: number };
}

export type ExtraCheck = (engine: Engine, repair: boolean, add: (kind: string, detail: string, repaired: boolean) => void) => Promise<void> | void;

const extraChecks: ExtraCheck[] = [];
/** Lets subsystems above the image store (containers, networks) add their own checks. */
export function registerCheck(c: ExtraCheck): void {
  extraChecks.push(c);
}

export async function checkStore(engine: Engine, opts: { repair?: boolean; quick?: boolean } = {}): Promise<CheckReport> {
  const repair = opts.repair === true;
  const problems: CheckProblem[] = [];
  const add = (kind: string, detail: string, repaired: boolean) => problems.push({ kind, detail, repaired });
  const report: CheckReport = { problems, checked: { images: 0, layers: 0, blobs: 0, containers: 0 } };

  const dead = repair ? dropDeadLeases(engine.db) : 0;
  if (dead) add('lease', `${dead} lease(s) of processes that died`, true);

  // Leftover temporary files of crashed writes.
  const stale = engine.blobs.staleIngests(repair ? 0 : 60_000);
  const liveIngest = new Set<string>();
  for (const p of stale) {
    if (liveIngest.has(p)) continue;
    if (repair) fs.rmSync(p, { force: true });
    add('ingest', `unfinished blob write ${path.basename(p)}`, repair);
  }
  const layersDir = path.join(engine.paths.root, 'layers');
  for (const n of fs.existsSync(layersDir) ? fs.readdirSync(layersDir) : []) {
    if (n.startsWith('tmp-') || n.startsWith('trash-')) {
      const age = Date.now() - fs.statSync(path.join(layersDir, n)).mtimeMs;
      if (!repair && age < 60_000) continue;
      if (repair) fs.rmSync(path.join(layersDir, n), { recursive: true, force: true });
      add('layer', `unfinished layer directory ${n}`, repair);
    }
  }

  // Layers: record <-> directory.
  const layers = engine.layers.list();
  const known = new Set(layers.map((l) => l.chainId.slice(7)));
  for (const l of layers) {
    report.checked.layers++;
    if (!fs.existsSync(engine.layers.layerDir(l.chainId))) {
      add('layer', `layer ${l.chainId} is recorded but its directory is missing`, false);
    }
    if (l.parent && !known.has(l.parent.slice(7))) add('layer', `layer ${l.chainId} has a missing parent ${l.parent}`, false);
  }
  for (const n of fs.existsSync(layersDir) ? fs.readdirSync(layersDir) : []) {
    if (/^[0-9a-f]{64}$/.test(n) && !known.has(n)) {
      if (repair) fs.rmSync(path.join(layersDir, n), { recursive: true, force: true });
      add('layer', `layer directory ${n} has no record`, repair);
    }
  }

  // Images: config, manifest, layer blobs, layer chain.
  const brokenImages: Digest[] = [];
  for (const img of engine.images.list()) {
    report.checked.images++;
    const missing: string[] = [];
    if (!engine.blobs.has(img.id)) missing.push(`config ${img.id}`);
    if (!img.manifestDigest || !engine.blobs.has(img.manifestDigest)) missing.push(`manifest ${img.manifestDigest}`);
    else {
      try {
        for (const l of readManifest(engine, img).layers) if (!engine.blobs.has(l.digest)) missing.push(`layer blob ${l.digest}`);
      } catch {
        missing.push('a readable manifest');
      }
    }
    try {
      for (const l of engine.layers.lowerChain(img.topLayer)) if (!fs.existsSync(engine.layers.layerDir(l.chainId))) missing.push(`layer ${l.chainId}`);
    } catch {
      missing.push('its layer chain');
    }
    if (missing.length) {
      brokenImages.push(img.id);
      add('image', `image ${img.id.slice(7, 19)} (${img.tags.join(', ') || 'untagged'}) lacks ${missing.join(', ')}`, false);
    }
  }

  // Blobs: digest of the bytes.
  if (!opts.quick) {
    for (const b of engine.blobs.list()) {
      report.checked.blobs++;
      if (!(await verifyBlob(engine.blobs, b.digest))) {
        if (repair) engine.blobs.delete(b.digest);
        add('blob', `blob ${b.digest} does not match its digest`, repair);
      }
    }
  }

  for (const c of extraChecks) await c(engine, repair, add);

  if (repair) {
    // Images that cannot be made whole are removed (their names first), then garbage is collected.
    for (const id of brokenImages) {
      writeTx(engine.db, () => {
        engine.db.prepare('DELETE FROM tags WHERE image_id = ?').run(id);
      });
      const inUse = engine.db.prepare('SELECT 1 FROM containers WHERE image_id = ?').get(id);
      if (!inUse) engine.images.delete(id);
      const p = problems.find((x) => x.kind === 'image' && x.detail.includes(id.slice(7, 19)));
      if (p) p.repaired = true;
    }
    const gc = gcLayersAndBlobs(engine);
    if (gc.blobs || gc.layers) add('gc', `removed ${gc.blobs} unreferenced blob(s) and ${gc.layers} layer(s)`, true);
  }
  return report;
}
