// Lint rule for the module direction: nothing imports cli/ or api/ except cli/ and api/ themselves,
// and compat/ is only imported by the edges. Exits non-zero naming each offending import.
import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', 'src');
const bad = [];
function walk(dir) {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p);
    else if (p.endsWith('.ts')) check(p);
  }
}
function check(file) {
  const rel = path.relative(root, file);
  const top = rel.split(path.sep)[0];
  const text = fs.readFileSync(file, 'utf8');
  // The CLI is bundled: a dynamic import with a computed specifier would not be shipped.
  for (const m of text.matchAll(/\bimport\((?!\s*['"`])([^)]*)\)/g)) {
    if (!rel.endsWith('.test.ts')) bad.push(`${rel}: import(${m[1]}) has a computed specifier; use a string literal so the bundle includes it`);
  }
  for (const m of text.matchAll(/(?:from|import\()\s*'(\.[^']+)'/g)) {
    const target = path.relative(root, path.resolve(path.dirname(file), m[1]));
    const ttop = target.split(path.sep)[0];
    const edge = (t) => t === 'cli' || t === 'api' || t === 'bench' || t === 'test';
    if ((ttop === 'cli' || ttop === 'api') && !edge(top) && !rel.endsWith('.test.ts') && !(target === 'cli/version.js' || target === 'cli/version.ts'))
      bad.push(`${rel}: imports ${target} (engine code must not depend on the edges)`);
    if (ttop === 'compat' && !edge(top) && top !== 'compat') bad.push(`${rel}: imports ${target} (compat/ is for the edges)`);
  }
}
walk(root);
if (bad.length) {
  console.error(bad.join('\n'));
  process.exit(1);
}
