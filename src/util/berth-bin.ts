/**
 * Path of bin/berth.cjs, the CLI's Node entry, for conmon's exit command and helper processes
 * (monitors, the port proxy): run with process.execPath, it skips the shell launcher, which this
 * process already went through. Lives in util/ so that network/ can start berth processes too.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BerthError } from '../errors.js';

export function berthBin(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const candidate = path.join(dir, 'bin', 'berth.cjs');
    if (fs.existsSync(candidate)) return candidate;
    dir = path.dirname(dir);
  }
  throw new BerthError('internal', 'cannot find bin/berth.cjs next to the engine');
}
