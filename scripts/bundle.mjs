// Bundles the CLI into dist/bundle (ESM, code-split at every dynamic import) so a command loads a few
// files instead of dozens of modules: start-up is part of every command's latency. The bundle is
// written beside the old one and swapped in with a rename, so running commands never see it half-built.
import fs from 'node:fs';
import { build } from 'esbuild';

const out = 'dist/bundle';
const tmp = `dist/bundle.tmp-${process.pid}`;
await build({
  entryPoints: ['src/cli/main.ts'],
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  outdir: tmp,
  external: ['koffi', '*.node'],
  banner: { js: "import { createRequire as __berthCreateRequire } from 'node:module'; const require = __berthCreateRequire(import.meta.url);" },
  logLevel: 'warning',
  minifySyntax: true,
});
const old = `dist/bundle.old-${process.pid}`;
if (fs.existsSync(out)) fs.renameSync(out, old);
fs.renameSync(tmp, out);
fs.rmSync(old, { recursive: true, force: true });
