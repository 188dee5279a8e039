import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { openDatabase, writeTx } from './db.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-db-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

function fresh(name: string) {
  const db = openDatabase(path.join(dir, `${name}.db`));
  db.exec('CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER)');
  const rows = () => db.prepare('SELECT k, v FROM t ORDER BY k').all() as { k: string; v: number }[];
  return { db, rows };
}

test('writeTx commits, returns the result, and rolls back whole on a throw', () => {
  const { db, rows } = fresh('basic');
  const got = writeTx(db, () => {
    db.prepare('INSERT INTO t VALUES (?, ?)').run('a', 1);
    return 42;
  });
  assert.equal(got, 42);
  assert.throws(() =>
    writeTx(db, () => {
      db.prepare('INSERT INTO t VALUES (?, ?)').run('b', 2);
      throw new Error('boom');
    }),
  /boom/);
  assert.deepEqual(rows(), [{ k: 'a', v: 1 }]);
  assert.equal(db.inTransaction, false);
  db.close();
});

test('writeTx nested is a savepoint: an inner failure undoes only the inner writes', () => {
  const { db, rows } = fresh('nested');
  writeTx(db, () => {
    db.prepare('INSERT INTO t VALUES (?, ?)').run('outer', 1);
    assert.throws(() =>
      writeTx(db, () => {
        db.prepare('INSERT INTO t VALUES (?, ?)').run('inner', 2);
        throw new Error('inner');
      }),
    );
    writeTx(db, () => db.prepare('INSERT INTO t VALUES (?, ?)').run('inner-ok', 3));
  });
  assert.deepEqual(rows(), [{ k: 'inner-ok', v: 3 }, { k: 'outer', v: 1 }]);
  assert.equal(db.inTransaction, false);
  db.close();
});

test('writeTx refuses an async function and leaves nothing open', async () => {
  const { db, rows } = fresh('async');
  assert.throws(() => writeTx(db, (async () => db.prepare('INSERT INTO t VALUES (?, ?)').run('x', 1)) as () => unknown), /cannot return a promise/);
  assert.equal(db.inTransaction, false);
  assert.deepEqual(rows(), []);
  db.close();
});

test('writeTx takes the write lock first: a second connection waits its turn instead of failing', () => {
  const file = path.join(dir, 'lock.db');
  const a = openDatabase(file);
  a.exec('CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER)');
  const b = openDatabase(file);
  writeTx(a, () => {
    // b cannot start a write transaction while a holds the lock: BEGIN IMMEDIATE is busy at once
    // (its busy timeout would wait; a zero timeout shows the lock is taken at BEGIN, not at COMMIT).
    b.pragma('busy_timeout = 0');
    assert.throws(() => writeTx(b, () => b.prepare('INSERT INTO t VALUES (?, ?)').run('b', 1)), /locked|busy/i);
    a.prepare('INSERT INTO t VALUES (?, ?)').run('a', 1);
  });
  assert.equal(b.inTransaction, false);
  writeTx(b, () => b.prepare('INSERT INTO t VALUES (?, ?)').run('b', 2));
  assert.deepEqual(a.prepare('SELECT k FROM t ORDER BY k').pluck().all(), ['a', 'b']);
  a.close();
  b.close();
});
