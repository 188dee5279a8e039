/**
 * Where a file inside node_modules is, found without Node's resolver when possible: the bundle
 * (dist/bundle/main.cjs) sits two levels below the package root, so `<root>/node_modules/<spec>` is
 * one existsSync away. require.resolve reads package.json files and export maps first (about 1 ms
 * for better-sqlite3's addon, on every command). Anywhere else (the tsc output the tests run, an
 * install that hoists dependencies) falls back to the resolver.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export function nodeModuleFile(spec: string): string {
  const direct = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'node_modules', spec);
  if (fs.existsSync(direct)) return direct;
  return createRequire(import.meta.url).resolve(spec);
}
