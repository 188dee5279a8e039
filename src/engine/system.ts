/** System-wide views: disk usage and engine information. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Engine } from './engine.js';
import { imagesInUse } from './images.js';

export interface UsageRow {
  type: 'Images' | 'Containers' | 'Local Volumes' | 'Build Cache';
  total: number;
  active: number;
  size: number;
  reclaimable: number;
  items: { name: string; size: number; note?: string }[];
}

/** Bytes used by a directory tree (no symlink following). */
export function dirSize(dir: string): number {
  let total = 0;
  const stack = [dir];
  while (stack.length) {
    const d = stack.pop() as string;
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(d, { withFileTypes: true });
    } catch {
      continue;
    }
    for (const e of entries) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) stack.push(p);
      else if (e.isFile()) {
        try {
          total += fs.lstatSync(p).size;
        } catch {
          /* vanished */
        }
      }
    }
  }
  return total;
}

type UsageProvider = (engine: Engine) => UsageRow;
const providers: UsageProvider[] = [];
export function registerUsage(p: UsageProvider): void {
  providers.push(p);
}

export function diskUsage(engine: Engine): UsageRow[] {
  const images = engine.images.list();
  const used = imagesInUse(engine);
  const rows: UsageRow[] = [];
  // Layers shared by several images are counted once.
  const seen = new Set<string>();
  let size = 0;
  let reclaimable = 0;
  const items: UsageRow['items'] = [];
  for (const img of images) {
    let unique = 0;
    for (const l of engine.layers.lowerChain(img.topLayer)) {
      if (seen.has(l.chainId)) continue;
      seen.add(l.chainId);
      unique += l.size;
    }
    size += unique;
    if (!used.has(img.id)) reclaimable += unique;
    items.push({ name: img.tags[0] ?? img.id.slice(7, 19), size: img.size });
  }
  rows.push({ type: 'Images', total: images.length, active: used.size, size, reclaimable, items });
  for (const p of providers) rows.push(p(engine));
  const types: UsageRow['type'][] = ['Images', 'Containers', 'Local Volumes', 'Build Cache'];
  for (const t of types) if (!rows.some((r) => r.type === t)) rows.push({ type: t, total: 0, active: 0, size: 0, reclaimable: 0, items: [] });
  rows.sort((a, b) => types.indexOf(a.type) - types.indexOf(b.type));
  return rows;
}

export async function systemInfo(engine: Engine): Promise<Record<string, unknown>> {
  const { VERSION } = await import('../version.js');
  const images = engine.images.list().length;
  const c = engine.db.prepare("SELECT json_extract(state, '$.status') AS s, COUNT(*) AS n FROM containers GROUP BY s").all() as { s: string; n: number }[];
  const count = (s: string) => c.find((r) => r.s === s)?.n ?? 0;
  return {
    ServerVersion: VERSION,
    Containers: c.reduce((a, r) => a + r.n, 0),
    ContainersRunning: count('running'),
    ContainersPaused: count('paused'),
    ContainersStopped: count('exited') + count('created'),
    Images: images,
    Driver: 'overlay',
    DockerRootDir: engine.paths.root,
    RunRoot: engine.paths.runroot,
    DefaultRuntime: engine.options.runtime ?? 'runc',
    CgroupVersion: fs.existsSync('/sys/fs/cgroup/cgroup.controllers') ? '2' : '1',
    KernelVersion: os.release(),
    OperatingSystem: readOsName(),
    OSType: 'linux',
    Architecture: os.machine(),
    NCPU: os.cpus().length,
    MemTotal: os.totalmem(),
    Name: os.hostname(),
  };
}

function readOsName(): string {
  try {
    const m = /^PRETTY_NAME="?([^"\n]*)"?/m.exec(fs.readFileSync('/etc/os-release', 'utf8'));
    return m?.[1] ?? 'Linux';
  } catch {
    return 'Linux';
  }
}

/** Subsystems with their own store checks register them when loaded. */
export async function registerAllChecks(): Promise<void> {
  // Literal specifiers so the bundler ships them; each module registers its checks when loaded.
  await import('../container/check.js');
  await import('../network/check.js');
  await import('../volume/check.js');
  await import('../build/check.js');
}
