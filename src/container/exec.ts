/** Process specs for `exec`: the container's own process settings with the caller's overrides. */
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { BerthError } from '../errors.js';
import { ALL_CAPABILITIES } from '../runtime/spec.js';
import type { ContainerService } from './service.js';
import { mergeEnv } from './service.js';
import type { ContainerRecord } from './types.js';
import { resolveUser } from './user.js';

export interface ExecOptions {
  cmd: string[];
  env: string[];
  tty: boolean;
  user?: string;
  workdir?: string;
  privileged?: boolean;
}

/** Writes the process spec next to the bundle and returns its path (the caller deletes it). */
export function execProcessSpec(svc: ContainerService, rec: ContainerRecord, o: ExecOptions): string {
  const d = svc.dirs(rec.config.id);
  let base: { process: Record<string, unknown> };
  try {
    base = JSON.parse(fs.readFileSync(path.join(d.bundle, 'config.json'), 'utf8')) as { process: Record<string, unknown> };
  } catch (e) {
    throw new BerthError('failed_precondition', `container ${rec.config.name} has no runtime bundle; is it running?`, { cause: e });
  }
  const proc = { ...base.process };
  proc.args = o.cmd;
  proc.terminal = o.tty;
  proc.env = mergeEnv(proc.env as string[], o.env);
  if (o.workdir) proc.cwd = o.workdir;
  if (o.user !== undefined) {
    const u = resolveUser(d.merged, o.user);
    proc.user = { uid: u.uid, gid: u.gid, additionalGids: u.additionalGids };
    proc.env = mergeEnv(proc.env as string[], [`HOME=${u.home}`]);
  }
  if (o.privileged) {
    const all = [...ALL_CAPABILITIES];
    proc.capabilities = { bounding: all, effective: all, permitted: all };
  }
  delete proc.consoleSize;
  const file = path.join(d.run, `exec-${randomBytes(6).toString('hex')}.json`);
  fs.writeFileSync(file, JSON.stringify(proc));
  return file;
}
