// Bundles the CLI into dist/bundle (ESM, code-split at every dynamic import) so a command loads a few
// files instead of dozens of modules: start-up is part of every command's latency.
import { build } from 'esbuild';

await build({
  entryPoints: ['src/cli/main.ts'],
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  outdir: 'dist/bundle',
  external: ['koffi', '*.node'],
  banner: { js: "import { createRequire as __berthCreateRequire } from 'node:module'; const require = __berthCreateRequire(import.meta.url);" },
  logLevel: 'warning',
  minifySyntax: true,
});
