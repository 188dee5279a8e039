/**
 * Metadata in SQLite (better-sqlite3), WAL mode, safe for many berth processes at once:
 * writers take the lock up front (BEGIN IMMEDIATE) and wait on it (busy_timeout) instead of failing.
 * Schema changes are numbered migrations applied in one exclusive transaction each.
 */
import fs from 'node:fs';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { fromSystemError } from '../errors.js';
import { nodeModuleFile } from '../util/module-path.js';

export type Database = BetterSqlite3.Database;

/** Each entry is applied once, in order; never edit a released one, append a new one. */
const MIGRATIONS: string[] = [
  // 1: images, tags, layers, leases
  `
  CREATE TABLE images (
    id TEXT PRIMARY KEY,              -- config digest
    manifest_digest TEXT,            -- digest of the stored (OCI) manifest
    created INTEGER NOT NULL,        -- image creation time (ms), from config
    added INTEGER NOT NULL,          -- when it entered this store (ms)
    size INTEGER NOT NULL,           -- unpacked size of all layers
    top_layer TEXT,                  -- chain id of the top layer, NULL for an empty image
    parent TEXT,                     -- local parent image id (build/commit)
    labels TEXT NOT NULL DEFAULT '{}',
    meta TEXT NOT NULL DEFAULT '{}'  -- engine-owned extras (build context digest, ...)
  );
  CREATE TABLE tags (
    name TEXT PRIMARY KEY,           -- normalized reference: docker.io/library/busybox:latest
    image_id TEXT NOT NULL REFERENCES images(id),
    updated INTEGER NOT NULL
  );
  CREATE INDEX tags_image ON tags(image_id);
  CREATE TABLE repo_digests (
    repo TEXT NOT NULL,              -- docker.io/library/busybox
    digest TEXT NOT NULL,            -- manifest digest as the registry knows it
    image_id TEXT NOT NULL REFERENCES images(id),
    PRIMARY KEY (repo, digest)
  );
  CREATE INDEX repo_digests_image ON repo_digests(image_id);
  CREATE TABLE layers (
    chain_id TEXT PRIMARY KEY,
    diff_id TEXT NOT NULL,           -- digest of the uncompressed tar
    parent TEXT,                     -- parent chain id
    size INTEGER NOT NULL,           -- unpacked bytes
    created INTEGER NOT NULL
  );
  CREATE TABLE layer_blobs (         -- known encodings of a diff (uncompressed tar, gzip, zstd)
    diff_id TEXT NOT NULL,
    digest TEXT NOT NULL,
    media_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    PRIMARY KEY (diff_id, digest)
  );
  CREATE INDEX layer_blobs_digest ON layer_blobs(digest);
  CREATE TABLE leases (
    id TEXT PRIMARY KEY,
    pid INTEGER NOT NULL,
    created INTEGER NOT NULL
  );
  CREATE TABLE lease_resources (
    lease_id TEXT NOT NULL REFERENCES leases(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,              -- 'blob' | 'layer' | 'image'
    ref TEXT NOT NULL,
    PRIMARY KEY (lease_id, kind, ref)
  );
  `,
  // 2: containers
  `
  CREATE TABLE containers (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    image_id TEXT NOT NULL,
    image_ref TEXT NOT NULL,         -- what the user typed, as docker shows it
    created INTEGER NOT NULL,
    config TEXT NOT NULL,            -- engine ContainerConfig JSON (immutable after create except rename/update)
    state TEXT NOT NULL              -- engine ContainerState JSON
  );
  CREATE INDEX containers_image ON containers(image_id);
  `,
  // 3: volumes, networks, build cache
  `
  CREATE TABLE volumes (
    name TEXT PRIMARY KEY,
    driver TEXT NOT NULL,
    created INTEGER NOT NULL,
    labels TEXT NOT NULL DEFAULT '{}',
    options TEXT NOT NULL DEFAULT '{}',
    anonymous INTEGER NOT NULL DEFAULT 0
  );
  CREATE TABLE networks (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created INTEGER NOT NULL,
    config TEXT NOT NULL
  );
  CREATE TABLE build_cache (
    key TEXT PRIMARY KEY,
    image_id TEXT NOT NULL,
    created INTEGER NOT NULL,
    last_used INTEGER NOT NULL
  );
  CREATE INDEX build_cache_image ON build_cache(image_id);
  `,
];

let addonPath: string | undefined;
function nativeBindingPath(): string {
  addonPath ??= nodeModuleFile('better-sqlite3/build/Release/better_sqlite3.node');
  return addonPath;
}

export const SCHEMA_VERSION = MIGRATIONS.length;

export function openDatabase(file: string): Database {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  let db: Database;
  try {
    // Passing the addon path skips the `bindings` package's file-system search (~10 ms per command).
    db = new BetterSqlite3(file, { timeout: 30_000, nativeBinding: nativeBindingPath() });
  } catch (e) {
    throw fromSystemError(e, `opening the metadata database ${file}`);
  }
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  migrate(db);
  return db;
}

function migrate(db: Database): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current >= MIGRATIONS.length) return;
  const apply = db.transaction(() => {
    // Re-read under the lock: another process may have migrated meanwhile.
    let v = db.pragma('user_version', { simple: true }) as number;
    for (; v < MIGRATIONS.length; v++) {
      db.exec(MIGRATIONS[v] as string);
    }
    db.pragma(`user_version = ${v}`);
  });
  apply.exclusive();
}

const statements = new WeakMap<Database, Map<string, BetterSqlite3.Statement>>();

/**
 * The prepared statement for `sql` on `db`, prepared once per connection: the stores run the same
 * few queries many times per command, and preparing each time cost about 1 ms of a `run`.
 */
export function stmt(db: Database, sql: string): BetterSqlite3.Statement {
  let m = statements.get(db);
  if (!m) statements.set(db, (m = new Map()));
  let st = m.get(sql);
  if (!st) m.set(sql, (st = db.prepare(sql)));
  return st;
}

/**
 * Runs fn in a write transaction that takes the write lock first, so concurrent writers queue
 * instead of deadlocking; nested, it is a savepoint. better-sqlite3's own db.transaction() does the
 * same but prepares nine statements per connection and builds four wrappers per call.
 */
export function writeTx<T>(db: Database, fn: () => T): T {
  const nested = db.inTransaction;
  stmt(db, nested ? 'SAVEPOINT berth_tx' : 'BEGIN IMMEDIATE').run();
  let result: T;
  try {
    result = fn();
    if (result instanceof Promise) throw new TypeError('writeTx: a transaction function cannot return a promise');
    stmt(db, nested ? 'RELEASE berth_tx' : 'COMMIT').run();
  } catch (e) {
    // SQLite may already have rolled back (SQLITE_FULL, SQLITE_IOERR ends the transaction by itself).
    if (db.inTransaction) {
      if (nested) {
        stmt(db, 'ROLLBACK TO berth_tx').run();
        stmt(db, 'RELEASE berth_tx').run();
      } else stmt(db, 'ROLLBACK').run();
    }
    throw e;
  }
  return result;
}
