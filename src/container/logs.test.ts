import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { followLog, type LogLine, readLog, readLogFrom } from './logs.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-logs-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

let n = 0;
/** k8s-file entries line<from>..line<to-1>. */
const entries = (from: number, to: number) => {
  let s = '';
  for (let i = from; i < to; i++) s += `2026-11-28T06:00:00.${String(i).padStart(9, '0')}Z stdout F line${i}\n`;
  return s;
};
const numbers = (ls: LogLine[]) => ls.map((l) => Number(l.text.slice(4)));
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

/** Rotates as the rotator does: .1 -> .2, the log -> .1, a new empty log. */
function rotate(file: string): void {
  if (fs.existsSync(`${file}.1`)) fs.renameSync(`${file}.1`, `${file}.2`);
  fs.renameSync(file, `${file}.1`);
  fs.writeFileSync(file, '');
}

function fresh(): string {
  const file = path.join(dir, `log${n++}`, 'ctr.log');
  fs.mkdirSync(path.dirname(file));
  return file;
}

test('readLog reads rotated files oldest first; tail and a partial last entry', () => {
  const file = fresh();
  fs.writeFileSync(file, entries(0, 5));
  rotate(file);
  fs.appendFileSync(file, entries(5, 8));
  rotate(file);
  fs.appendFileSync(file, `${entries(8, 10)}2026-11-28T06:00:01.000000000Z stdout P half`);
  assert.deepEqual(numbers(readLog(file)), range(0, 10), 'the unfinished entry is left for later');
  assert.deepEqual(numbers(readLog(file, { tail: 3 })), [7, 8, 9]);
});

test('follow: what is written between the read and the follow comes once; rotations in between and after lose nothing', async () => {
  const file = fresh();
  fs.writeFileSync(file, entries(0, 10));
  const { lines, cursor } = readLogFrom(file, {}, true);
  assert.ok(cursor);
  const seen = numbers(lines);
  // Written after the read, then rotated twice before the follower even looks.
  fs.appendFileSync(file, entries(10, 20));
  rotate(file);
  fs.appendFileSync(file, entries(20, 30));
  rotate(file);
  fs.appendFileSync(file, entries(30, 35));
  let polls = 0;
  await followLog(
    file,
    cursor,
    (l) => seen.push(Number(l.text.slice(4))),
    () => {
      polls++;
      if (polls === 2) {
        fs.appendFileSync(file, entries(35, 40));
        rotate(file);
        fs.appendFileSync(file, entries(40, 45));
      }
      return polls >= 4;
    },
  );
  assert.deepEqual(seen, range(0, 45), 'every entry once, in order');
});

test('follow: the file we read is deleted by a later rotation (max-file 2): the newer files still follow', async () => {
  const file = fresh();
  fs.writeFileSync(file, entries(0, 5));
  const { lines, cursor } = readLogFrom(file, {}, true);
  const seen = numbers(lines);
  fs.appendFileSync(file, entries(5, 8));
  rotate(file);
  fs.rmSync(`${file}.1`); // max-file 2 keeps .1 only: the next rotation deletes ours
  fs.renameSync(file, `${file}.1`);
  fs.writeFileSync(file, entries(8, 12));
  await followLog(file, cursor, (l) => seen.push(Number(l.text.slice(4))), () => true);
  assert.deepEqual(seen, range(0, 12), 'our descriptor kept the deleted file readable');
});

test('readLogFrom without follow keeps no descriptor; a missing log is empty', () => {
  const file = fresh();
  assert.deepEqual(readLogFrom(file, {}, true), { lines: [] });
  fs.writeFileSync(file, entries(0, 3));
  const before = fs.readdirSync('/proc/self/fd').length;
  const r = readLogFrom(file, {}, false);
  assert.equal(r.cursor, undefined);
  assert.equal(fs.readdirSync('/proc/self/fd').length, before);
});
