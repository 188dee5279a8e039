#!/usr/bin/env node
'use strict';
// Berth's CLI entry, started by bin/berth (see there why). It runs the bundled CLI
// (dist/bundle/main.cjs, made by `npm run build`) through a V8 code cache, one per command (`run`,
// `ps`, ...): the first use of a command compiles what it needs and saves the bytecode; later uses
// skip parsing and compiling. A cache V8 rejects (another
// Node version or flags) is simply rewritten. Caches live beside the bundle, so a rebuild drops them.
const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');
const Module = require('node:module');

const bundle = path.join(__dirname, '..', 'dist', 'bundle');
const file = path.join(bundle, 'main.cjs');
const argv = process.argv.slice(2);

/** The command word (after global flags), naming the cache; anything odd shares one cache. */
function commandWord() {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (/^(--root|--runroot|--runtime|--host|-H)$/.test(a)) i++;
    else if (!a.startsWith('-')) return /^[a-z][a-z-]{0,30}$/.test(a) ? a : 'other';
  }
  return 'other';
}

let source;
try {
  // ASCII only (scripts/bundle.mjs checks): latin1 makes a one-byte string, faster than utf8.
  source = fs.readFileSync(file, 'latin1');
} catch (e) {
  process.stderr.write(`berth: cannot start: ${e.message}\nDid you run "npm run build"?\n`);
  process.exit(125);
}
const cacheFile = path.join(bundle, 'cache', `${commandWord()}.bin`);
let cachedData;
try {
  cachedData = fs.readFileSync(cacheFile);
} catch {
  cachedData = undefined;
}
const script = new vm.Script(Module.wrap(source), { filename: file, cachedData });
if (cachedData === undefined || script.cachedDataRejected) {
  // Saved at exit, so the cache holds every function this command compiled. Written to a temporary
  // name and renamed: concurrent berth processes never read a half-written cache.
  process.once('exit', () => {
    try {
      const tmp = `${cacheFile}.${process.pid}`;
      fs.writeFileSync(tmp, script.createCachedData());
      fs.renameSync(tmp, cacheFile);
    } catch {
      /* a read-only install runs without a cache */
    }
  });
}
const mod = { exports: {} };
script.runInThisContext()(mod.exports, Module.createRequire(file), mod, file, bundle);
mod.exports.main(argv).then((code) => {
  process.exitCode = code;
});
// When nothing is left to do, exit at once: Node's natural end frees the whole environment and
// heap first (cleanup hooks, isolate disposal), which process.exit skips. 'beforeExit' fires only
// once the event loop is empty, so servers, followers and pending writes are never cut short.
process.once('beforeExit', () => process.exit());
