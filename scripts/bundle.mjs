// Bundles the CLI into one CommonJS file, dist/bundle/main.cjs, that bin/berth.cjs loads through a V8
// code cache (see bin/berth.cjs): start-up is part of every command's latency, and compiling the CLI's
// modules from source (and resolving ES modules one by one) was a third of a `run`'s JavaScript
// time. Modules reached only through a dynamic import() stay lazy: esbuild initialises them on
// first use. The bundle is written beside the old one and swapped in with a rename, so running
// commands never see it half-built; the swap also drops the old build's code caches.
import fs from 'node:fs';
import { build } from 'esbuild';

const out = 'dist/bundle';
const tmp = `dist/bundle.tmp-${process.pid}`;
await build({
  entryPoints: ['src/cli/main.ts'],
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  outfile: `${tmp}/main.cjs`,
  external: ['koffi', '*.node'],
  // The sources are ES modules; the few that need their own location get it from __filename.
  define: { 'import.meta.url': '__berthModuleUrl' },
  banner: { js: "const __berthModuleUrl = require('node:url').pathToFileURL(__filename).href;" },
  // vm.Script (bin/berth.cjs) has no loader for import(): every dynamic import becomes a require().
  supported: { 'dynamic-import': false },
  logLevel: 'warning',
  minifySyntax: true,
});
let code = fs.readFileSync(`${tmp}/main.cjs`, 'utf8');
// esbuild wraps every `import x from 'node:fs'` in its own __toESM(require(...)), which copies the
// module's properties as getters: 60 import sites, a third of them of fs, cost ~5 ms per command.
// One wrapper per module object serves them all (the wrappers are read-only namespaces).
const helper = 'var __toESM = (mod, isNodeMode, target) =>';
if (code.split(helper).length !== 2) {
  console.error('bundle: esbuild\'s __toESM helper has changed shape; update scripts/bundle.mjs');
  process.exit(1);
}
code = code.replace(helper, 'var __toESMEach = (mod, isNodeMode, target) =>');
code += `
function __toESM(mod, isNodeMode) {
  if (mod == null || (typeof mod !== 'object' && typeof mod !== 'function')) return __toESMEach(mod, isNodeMode);
  const cache = (__toESM.cache ??= [new WeakMap(), new WeakMap()])[isNodeMode ? 1 : 0];
  let ns = cache.get(mod);
  if (ns === undefined) cache.set(mod, (ns = __toESMEach(mod, isNodeMode)));
  return ns;
}
`;
// bin/berth.cjs reads the bundle as latin1: an ASCII-only source is a one-byte string for V8, half
// the memory and decoded in a fifth of the time of a UTF-8 one (4 non-ASCII bytes made 1 MiB of
// source cost 4.6 ms to read). esbuild escapes strings but not regular expression literals.
const wide = /[^\x00-\x7f]/.exec(code);
if (wide) {
  console.error(`bundle: a non-ASCII character survived in main.cjs (write it as a \\u escape) near: ${code.slice(Math.max(0, wide.index - 60), wide.index + 20)}`);
  process.exit(1);
}
// Builtins that cost milliseconds to load (crypto alone is 3-4 ms) and that many commands never
// touch: esbuild requires a module's imports when the module is initialised, so `run` loaded zlib
// because the layer store imports the decompressor. These become proxies that load the builtin
// on first use of any export.
const LAZY = ['crypto', 'zlib', 'child_process', 'stream', 'dgram', 'net', 'tls', 'http', 'https', 'stream/promises', 'timers/promises', 'fs/promises', 'readline', 'worker_threads'];
const lazyRe = new RegExp(`(?<== )(?:__toESM\\(require\\("node:(${LAZY.join('|')})"\\), 1\\)|require\\("node:(${LAZY.join('|')})"\\))(?=[;,\\n])`, 'g');
let lazySites = 0;
code = code.replace(lazyRe, (_m, esm, plain) => {
  lazySites++;
  return esm ? `__lazyBuiltin("node:${esm}", 1)` : `__lazyBuiltin("node:${plain}", 0)`;
});
if (lazySites < 20) {
  console.error(`bundle: only ${lazySites} lazy builtin import sites found; esbuild's require shape may have changed`);
  process.exit(1);
}
code += `
function __lazyBuiltin(id, esm) {
  let real;
  const load = () => (real ??= esm ? __toESM(require(id), 1) : require(id));
  return new Proxy(Object.create(null), {
    get: (_t, k) => load()[k],
    has: (_t, k) => k in load(),
    ownKeys: () => Reflect.ownKeys(load()),
    getOwnPropertyDescriptor: (_t, k) => {
      const d = Reflect.getOwnPropertyDescriptor(load(), k);
      return d && { ...d, configurable: true };
    },
  });
}
`;
fs.writeFileSync(`${tmp}/main.cjs`, code);
const dynamic = /(?<![\w$.])import\(/.exec(code);
if (dynamic) {
  console.error(`bundle: a dynamic import() survived in main.cjs near: ${code.slice(dynamic.index, dynamic.index + 80)}`);
  process.exit(1);
}
fs.mkdirSync(`${tmp}/cache`);
const old = `dist/bundle.old-${process.pid}`;
if (fs.existsSync(out)) fs.renameSync(out, old);
fs.renameSync(tmp, out);
fs.rmSync(old, { recursive: true, force: true });
