import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { removeTree } from './remove-tree.js';

describe('removeTree', () => {
  it('removes nested files, fifos, empty and mode-000 directories, and links without following them', () => {
    const base = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-rt-'));
    const outside = path.join(base, 'outside');
    fs.mkdirSync(outside);
    fs.writeFileSync(path.join(outside, 'keep'), 'x');
    const t = path.join(base, 'tree');
    fs.mkdirSync(path.join(t, 'a', 'b', 'c'), { recursive: true });
    fs.mkdirSync(path.join(t, 'work', 'work'), { recursive: true });
    fs.chmodSync(path.join(t, 'work', 'work'), 0o000);
    fs.writeFileSync(path.join(t, 'a', 'f'), 'data');
    fs.writeFileSync(path.join(t, 'a', 'b', 'g'), 'data');
    fs.symlinkSync(outside, path.join(t, 'dirlink'));
    fs.symlinkSync(path.join(outside, 'keep'), path.join(t, 'a', 'filelink'));
    fs.symlinkSync('/nonexistent', path.join(t, 'dangling'));
    removeTree(t);
    assert.equal(fs.existsSync(t), false);
    assert.equal(fs.readFileSync(path.join(outside, 'keep'), 'utf8'), 'x');
    removeTree(t); // missing: fine
    const file = path.join(base, 'plain');
    fs.writeFileSync(file, '');
    removeTree(file);
    assert.equal(fs.existsSync(file), false);
    fs.rmSync(base, { recursive: true, force: true });
  });
});
