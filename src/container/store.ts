/**
 * Container records in SQLite. Config is written once (rename/update aside); state changes go
 * through `updateState`, a read-modify-write inside one IMMEDIATE transaction so concurrent berth
 * processes (the CLI, conmon's exit command, a health monitor) never lose each other's updates.
 */
import { BerthError, conflict, notFound } from '../errors.js';
import { type Database, stmt, writeTx } from '../metadata/db.js';
import type { ContainerConfig, ContainerRecord, ContainerState } from './types.js';

interface Row {
  id: string;
  name: string;
  config: string;
  state: string;
}

const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

export class ContainerStore {
  constructor(private readonly db: Database) {}

  private toRecord(r: Row): ContainerRecord {
    return { config: JSON.parse(r.config) as ContainerConfig, state: JSON.parse(r.state) as ContainerState };
  }

  static validateName(name: string): void {
    if (!NAME_RE.test(name))
      throw new BerthError('invalid_argument', `Invalid container name (${name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
  }

  insert(rec: ContainerRecord): void {
    try {
      writeTx(this.db, () => {
        this.db
          .prepare('INSERT INTO containers (id, name, image_id, image_ref, created, config, state) VALUES (?, ?, ?, ?, ?, ?, ?)')
          .run(rec.config.id, rec.config.name, rec.config.imageId, rec.config.image, rec.config.created, JSON.stringify(rec.config), JSON.stringify(rec.state));
      });
    } catch (e) {
      if ((e as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE' || (e as { code?: string }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
        const other = stmt(this.db, 'SELECT id FROM containers WHERE name = ?').get(rec.config.name) as { id: string } | undefined;
        throw conflict(
          `Conflict. The container name "/${rec.config.name}" is already in use by container "${other?.id ?? ''}". You have to remove (or rename) that container to be able to reuse that name.`,
        );
      }
      throw e;
    }
  }

  get(id: string): ContainerRecord | undefined {
    const r = stmt(this.db, 'SELECT id, name, config, state FROM containers WHERE id = ?').get(id) as Row | undefined;
    return r ? this.toRecord(r) : undefined;
  }

  /** docker's lookup order: full ID, exact name, then unique ID prefix. */
  resolve(idOrName: string): ContainerRecord {
    const name = idOrName.startsWith('/') ? idOrName.slice(1) : idOrName;
    let r = stmt(this.db, 'SELECT id, name, config, state FROM containers WHERE id = ?').get(name) as Row | undefined;
    r ??= stmt(this.db, 'SELECT id, name, config, state FROM containers WHERE name = ?').get(name) as Row | undefined;
    if (!r && /^[0-9a-f]+$/.test(name)) {
      const rows = this.db
        .prepare('SELECT id, name, config, state FROM containers WHERE id >= ? AND id < ? LIMIT 2')
        .all(name, `${name}g`) as Row[];
      if (rows.length > 1) throw new BerthError('invalid_argument', `multiple containers found with provided prefix: ${name}`);
      r = rows[0];
    }
    if (!r) throw notFound(`No such container: ${idOrName}`);
    return this.toRecord(r);
  }

  list(): ContainerRecord[] {
    return (stmt(this.db, 'SELECT id, name, config, state FROM containers ORDER BY created DESC').all() as Row[]).map((r) =>
      this.toRecord(r),
    );
  }

  /** Atomically transforms the state; `fn` may throw to abort. Returns the new record. */
  updateState(id: string, fn: (s: ContainerState, c: ContainerConfig) => ContainerState | void): ContainerRecord {
    return writeTx(this.db, () => {
      const r = stmt(this.db, 'SELECT id, name, config, state FROM containers WHERE id = ?').get(id) as Row | undefined;
      if (!r) throw notFound(`No such container: ${id}`);
      const rec = this.toRecord(r);
      const next = fn(rec.state, rec.config) ?? rec.state;
      stmt(this.db, 'UPDATE containers SET state = ? WHERE id = ?').run(JSON.stringify(next), id);
      return { config: rec.config, state: next };
    });
  }

  updateConfig(id: string, fn: (c: ContainerConfig) => ContainerConfig): ContainerRecord {
    return writeTx(this.db, () => {
      const rec = this.get(id);
      if (!rec) throw notFound(`No such container: ${id}`);
      const next = fn(rec.config);
      stmt(this.db, 'UPDATE containers SET config = ?, name = ? WHERE id = ?').run(JSON.stringify(next), next.name, id);
      return { config: next, state: rec.state };
    });
  }

  rename(id: string, newName: string): void {
    ContainerStore.validateName(newName);
    try {
      this.updateConfig(id, (c) => ({ ...c, name: newName }));
    } catch (e) {
      if ((e as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE')
        throw conflict(`Error when allocating new name: Conflict. The container name "/${newName}" is already in use.`);
      throw e;
    }
  }

  delete(id: string): void {
    writeTx(this.db, () => {
      stmt(this.db, 'DELETE FROM containers WHERE id = ?').run(id);
    });
  }
}
