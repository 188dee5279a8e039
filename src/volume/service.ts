/**
 * Named and anonymous volumes (local driver): <root>/volumes/<name>/_data. A new volume is filled
 * with the image's content at its mount point on first use, as docker does (unless nocopy).
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { ContainerRecord, MountSpec } from '../container/types.js';
import type { Engine } from '../engine/engine.js';
import { BerthError, conflict, invalidArgument, notFound } from '../errors.js';
import { writeTx } from '../metadata/db.js';
import { filterBool, matchLabels } from '../util/filters.js';
import { emitEvent } from '../engine/events.js';
import { acquireVolumeMount, parseLocalOptions, releaseVolumeMounts, unmountForRemoval } from './mounts.js';

export interface VolumeRecord {
  name: string;
  driver: string;
  created: number;
  labels: Record<string, string>;
  options: Record<string, string>;
  anonymous: boolean;
  mountpoint: string;
}

interface Row {
  name: string;
  driver: string;
  created: number;
  labels: string;
  options: string;
  anonymous: number;
}

const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

export class VolumeService {
  constructor(readonly engine: Engine) {}

  private dir(name: string): string {
    return path.join(this.engine.paths.volumes, name);
  }

  private toRecord(r: Row): VolumeRecord {
    return {
      name: r.name,
      driver: r.driver,
      created: r.created,
      labels: JSON.parse(r.labels) as Record<string, string>,
      options: JSON.parse(r.options) as Record<string, string>,
      anonymous: r.anonymous === 1,
      mountpoint: path.join(this.dir(r.name), '_data'),
    };
  }

  create(opts: { name?: string; driver?: string; labels?: Record<string, string>; options?: Record<string, string>; anonymous?: boolean } = {}): VolumeRecord {
    const name = opts.name ?? randomBytes(32).toString('hex');
    if (!NAME_RE.test(name))
      throw invalidArgument(`"${name}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed`);
    const driver = opts.driver ?? 'local';
    if (driver !== 'local') throw invalidArgument(`volume driver "${driver}" is not supported: use local`);
    // Docker's local driver checks its options at create; the mount itself happens at first use.
    parseLocalOptions(opts.options ?? {});
    const existing = this.get(name);
    if (existing) return existing;
    fs.mkdirSync(path.join(this.dir(name), '_data'), { recursive: true, mode: 0o755 });
    writeTx(this.engine.db, () => {
      this.engine.db
        .prepare('INSERT OR IGNORE INTO volumes (name, driver, created, labels, options, anonymous) VALUES (?, ?, ?, ?, ?, ?)')
        .run(name, driver, Date.now(), JSON.stringify(opts.labels ?? {}), JSON.stringify(opts.options ?? {}), opts.anonymous ? 1 : 0);
    });
    emitEvent(this.engine.paths.runroot, 'volume', 'create', name, { driver });
    return this.get(name) as VolumeRecord;
  }

  get(name: string): VolumeRecord | undefined {
    const r = this.engine.db.prepare('SELECT * FROM volumes WHERE name = ?').get(name) as Row | undefined;
    return r ? this.toRecord(r) : undefined;
  }

  inspect(name: string): VolumeRecord {
    const v = this.get(name);
    if (!v) throw notFound(`get ${name}: no such volume`);
    return v;
  }

  list(): VolumeRecord[] {
    return (this.engine.db.prepare('SELECT * FROM volumes ORDER BY name').all() as Row[]).map((r) => this.toRecord(r));
  }

  /** Volumes matching docker's `volume ls` filters (name substring, driver, label, dangling). */
  listFiltered(filters: Map<string, string[]>): VolumeRecord[] {
    const dangling = filterBool(filters, 'dangling');
    return this.list().filter((v) => {
      const names = filters.get('name');
      if (names && !names.some((n) => v.name.includes(n))) return false;
      const drivers = filters.get('driver');
      if (drivers && !drivers.includes(v.driver)) return false;
      if (!matchLabels(filters.get('label'), v.labels)) return false;
      return dangling === undefined || (this.users(v.name).length === 0) === dangling;
    });
  }

  /** Containers (any state) that mount a volume. */
  users(name: string): string[] {
    const rows = this.engine.db.prepare('SELECT id, config FROM containers').all() as { id: string; config: string }[];
    return rows.filter((r) => (JSON.parse(r.config) as { mounts: MountSpec[] }).mounts.some((m) => m.type === 'volume' && m.name === name)).map((r) => r.id);
  }

  remove(name: string, opts: { force?: boolean } = {}): void {
    const v = this.get(name);
    if (!v) {
      if (opts.force) return;
      throw notFound(`get ${name}: no such volume`);
    }
    const users = this.users(name);
    if (users.length) throw conflict(`remove ${name}: volume is in use - [${users.join(', ')}]`);
    const trash = path.join(this.engine.paths.volumes, `.trash-${name}-${randomBytes(4).toString('hex')}`);
    // A leftover mount (a killed process) must go first: deleting through a bind would delete host files.
    unmountForRemoval(this.engine, name);
    writeTx(this.engine.db, () => {
      this.engine.db.prepare('DELETE FROM volumes WHERE name = ?').run(name);
    });
    emitEvent(this.engine.paths.runroot, 'volume', 'destroy', name, { driver: v.driver });
    try {
      fs.renameSync(this.dir(name), trash);
    } catch {
      return;
    }
    fs.rmSync(trash, { recursive: true, force: true });
  }

  /**
   * The host directory to bind for a container's volume mount; creates the volume on first use (with
   * the mount's volume options and labels) and copies the image's files at the mount point into a
   * new, empty volume (unless nocopy).
   */
  mountSourceFor(rec: ContainerRecord, m: MountSpec): string {
    let name = m.name;
    if (!name) {
      // Anonymous: one per container and destination, remembered in the container config.
      name = m.source || randomBytes(32).toString('hex');
      m.source = name;
      m.name = name;
      const dest = m.destination;
      this.engine.db
        .prepare('SELECT 1')
        .get();
      const svcConfig = rec.config;
      const mm = svcConfig.mounts.find((x) => x.destination === dest);
      if (mm) {
        mm.name = name;
        mm.source = name;
      }
      writeTx(this.engine.db, () => {
        this.engine.db.prepare('UPDATE containers SET config = ? WHERE id = ?').run(JSON.stringify(svcConfig), svcConfig.id);
      });
    }
    let v = this.get(name);
    const fresh = !v;
    // --mount volume-opt/volume-label apply to a volume made here; an existing one keeps its own (as docker).
    v ??= this.create({ name, anonymous: m.anonymous ?? false, ...(m.volumeOptions ? { options: m.volumeOptions } : {}), ...(m.volumeLabels ? { labels: m.volumeLabels } : {}) });
    const data = v.mountpoint;
    // -o type/device/o: mounted for the first user, unmounted by the last (volume/mounts.ts).
    acquireVolumeMount(this.engine, name, v.options, data, rec.config.id);
    // At start the root file system is mounted but not yet recorded in the state.
    const rootfs = rec.state.rootfs || path.join(this.engine.paths.runContainers, rec.config.id, 'merged');
    if (fresh && !(m.options ?? []).includes('nocopy')) {
      const src = path.join(rootfs, m.destination);
      try {
        if (fs.statSync(src).isDirectory() && fs.readdirSync(data).length === 0) {
          fs.cpSync(src, data, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
          const st = fs.statSync(src);
          fs.chownSync(data, st.uid, st.gid);
          fs.chmodSync(data, st.mode & 0o7777);
        }
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new BerthError('internal', `copying image content into volume ${name}: ${(e as Error).message}`, { cause: e });
      }
    }
    return data;
  }
}

/** Removal hook: `rm -v` (and --rm) deletes the container's anonymous volumes. */
export function onContainerRemove(engine: Engine, rec: ContainerRecord, opts: { volumes?: boolean }): void {
  // A mount the container still held (its exit was never recorded) is released with it.
  releaseVolumeMounts(engine, rec.config.id);
  if (!opts.volumes) return;
  const svc = new VolumeService(engine);
  for (const m of rec.config.mounts) {
    if (m.type !== 'volume' || !m.anonymous || !m.name) continue;
    const v = svc.get(m.name);
    if (!v?.anonymous) continue;
    const users = svc.users(m.name).filter((u) => u !== rec.config.id);
    if (users.length === 0) {
      // The record is still there during removal; remove directly.
      writeTx(engine.db, () => engine.db.prepare('DELETE FROM volumes WHERE name = ?').run(m.name));
      fs.rmSync(path.join(engine.paths.volumes, m.name), { recursive: true, force: true });
    }
  }
}
