/**
 * Leases keep garbage collection away from what an operation in progress has written but not yet
 * referenced (a pulled blob before its image is recorded). A lease belongs to a process; leases of
 * dead processes are ignored by GC and deleted by `system check --repair`.
 */
import { type Database, writeTx } from '../metadata/db.js';
import { pidAlive } from '../util/process.js';
import { randomHex } from '../util/random.js';

export type LeaseKind = 'blob' | 'layer' | 'image';

export class Lease {
  readonly id: string;
  constructor(private readonly db: Database) {
    this.id = randomHex(8);
    writeTx(db, () => db.prepare('INSERT INTO leases (id, pid, created) VALUES (?, ?, ?)').run(this.id, process.pid, Date.now()));
  }
  add(kind: LeaseKind, ref: string): void {
    writeTx(this.db, () =>
      this.db.prepare('INSERT OR IGNORE INTO lease_resources (lease_id, kind, ref) VALUES (?, ?, ?)').run(this.id, kind, ref),
    );
  }
  release(): void {
    writeTx(this.db, () => this.db.prepare('DELETE FROM leases WHERE id = ?').run(this.id));
  }
}

export function withLease<T>(db: Database, fn: (l: Lease) => Promise<T>): Promise<T> {
  const lease = new Lease(db);
  return fn(lease).finally(() => lease.release());
}


/** Resources held by leases of live processes. */
export function leasedResources(db: Database): { kind: LeaseKind; ref: string }[] {
  const rows = db
    .prepare('SELECT l.pid, r.kind, r.ref FROM leases l JOIN lease_resources r ON r.lease_id = l.id')
    .all() as { pid: number; kind: LeaseKind; ref: string }[];
  return rows.filter((r) => r.pid === process.pid || pidAlive(r.pid));
}

/** Deletes leases whose process is gone. Returns how many. */
export function dropDeadLeases(db: Database): number {
  const rows = db.prepare('SELECT id, pid FROM leases').all() as { id: string; pid: number }[];
  const dead = rows.filter((r) => r.pid !== process.pid && !pidAlive(r.pid));
  if (dead.length) writeTx(db, () => { for (const d of dead) db.prepare('DELETE FROM leases WHERE id = ?').run(d.id); });
  return dead.length;
}
