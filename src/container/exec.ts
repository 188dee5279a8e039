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
  /** A TTY's initial size: runc sizes the exec's terminal before the command starts. */
  consoleSize?: { rows: number; cols: number };
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
  if (o.tty && o.consoleSize) proc.consoleSize = { height: o.consoleSize.rows, width: o.consoleSize.cols };
  const file = path.join(d.run, `exec-${randomBytes(6).toString('hex')}.json`);
  fs.writeFileSync(file, JSON.stringify(proc));
  return file;
}

/**
 * Docker's exit code for an exec the runtime could not start, from the tail of the runtime's
 * stderr: 127 when the command is not found, 126 when it cannot be run; undefined when the
 * command did start (its own exit code stands).
 */
export function execFailureCode(runtimeStderr: string): 126 | 127 | undefined {
  if (!/exec failed|unable to start/.test(runtimeStderr)) return undefined;
  if (/executable file not found|no such file or directory/.test(runtimeStderr)) return 127;
  if (/permission denied/.test(runtimeStderr)) return 126;
  return undefined;
}

/** A running `exec`: the runtime's child process and its exit status once it ends. */
export interface ExecProcess {
  child: import('node:child_process').ChildProcess;
  /** Resolves with the exit code (126/127 when the command could not be started, like docker). */
  exited: Promise<number>;
}

/**
 * Starts `cmd` in the running container through the runtime (`runc exec`). stdin/stdout/stderr are
 * pipes (with `tty` the runtime allocates the terminal and copies through its own stdio;
 * `consoleSize` is its initial size: in the process spec, and on script's pty, whose size runc
 * copies to the container's terminal when it starts forwarding resizes).
 * `onStderr` receives the process' stderr; the runtime's own "exec failed" noise is turned into
 * the 126/127 exit codes instead. The spec file is deleted when the process ends.
 */
export function spawnExec(
  svc: ContainerService,
  rec: ContainerRecord,
  o: ExecOptions & { stdin?: boolean; detach?: boolean; onStderr?: (b: Buffer) => void },
): ExecProcess {
  if (rec.state.status === 'paused') throw new BerthError('conflict', `Container ${rec.config.id} is paused, unpause the container before exec`);
  if (rec.state.status !== 'running') throw new BerthError('conflict', `Container ${rec.config.id} is not running`);
  const specFile = execProcessSpec(svc, rec, o);
  const rt = svc.runtime(rec.config.runtime);
  const args = ['--root', rt.root, 'exec', '--process', specFile];
  if (o.detach) args.push('--detach');
  if (o.tty) args.push('--tty');
  args.push(rec.config.id);
  // runc's foreground --tty needs a controlling terminal of its own: script(1) gives it one.
  const [bin, argv] =
    o.tty && !o.detach
      ? ['script', ['-q', '-e', '-f', '-c', `stty raw -echo${o.consoleSize ? ` rows ${Math.trunc(o.consoleSize.rows)} cols ${Math.trunc(o.consoleSize.cols)}` : ''} 2>/dev/null; exec ${[rt.binary, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ')}`, '/dev/null']]
      : [rt.binary, args];
  const child = spawnChild(bin, argv, { stdio: [o.stdin || (o.tty && !o.detach) ? 'pipe' : 'ignore', o.detach ? 'ignore' : 'pipe', 'pipe'] });
  let tail = '';
  child.stderr?.on('data', (d: Buffer) => {
    tail = (tail + d.toString()).slice(-4096);
    if (!/exec failed|unable to start container process/.test(tail)) o.onStderr?.(d);
  });
  const exited = new Promise<number>((resolve) => {
    child.on('error', (e) => {
      tail += String(e);
      resolve(126);
    });
    child.on('close', (code, signal) => {
      fs.rmSync(specFile, { force: true });
      resolve(execFailureCode(tail) ?? code ?? (signal ? 128 + (os.constants.signals[signal] ?? 9) : 1));
    });
  });
  return { child, exited };
}

import { spawn as spawnChild } from 'node:child_process';
import os from 'node:os';
