/**
 * Starts conmon, the per-container monitor that outlives berth: it runs `<runtime> create`, keeps
 * the container's stdio (log file, attach socket), writes the exit code to the exit dir and runs
 * the exit command (`berth container cleanup ID`). We learn the container's pid (or runc's error)
 * through the sync pipe conmon inherits as fd 3. conmon is started with posix_spawn (sys/libc.ts
 * spawnPiped), not node:child_process, which costs a `run` 7-13 ms to load and fork.
 */
import fs from 'node:fs';
import { BerthError } from '../errors.js';
import { type PipedChild, spawnPiped, waitChild } from '../sys/libc.js';

export interface MonitorOptions {
  id: string;
  name: string;
  bundle: string;
  runtimeBinary: string;
  runtimeRoot: string;
  /** undefined: conmon's none driver, nothing kept (--log-driver none). */
  logPath: string | undefined;
  logMaxSize: number;
  exitDir: string;
  socketDir: string;
  pidFile: string;
  monitorPidFile: string;
  tty: boolean;
  stdin: boolean;
  /** Keep the container's stdin open when an attached client goes away (docker's -i without StdinOnce). */
  leaveStdinOpen?: boolean;
  exitCommand: string[];
  conmon?: string;
  /**
   * false: conmon skips its fsync of the log when the container exits (`--no-sync-log`), for
   * containers whose log is removed with them (`--rm`), as their writable layer is mounted volatile.
   * conmon writes the exit file only after that sync.
   */
  syncLog?: boolean;
}

export interface MonitorResult {
  pid: number;
}

/** Launches conmon; resolves once the runtime created the container (not yet started). */
export async function launchMonitor(o: MonitorOptions): Promise<MonitorResult> {
  const args = [
    '--api-version', '1',
    '-c', o.id,
    '-u', o.id,
    '-n', o.name,
    '-r', o.runtimeBinary,
    '-b', o.bundle,
    '-p', o.pidFile,
    '-P', o.monitorPidFile,
    '-l', o.logPath === undefined ? 'none:' : `k8s-file:${o.logPath}`,
    '--exit-dir', o.exitDir,
    '--socket-dir-path', o.socketDir,
    '--syslog=false',
    '--log-level', 'error',
    '--runtime-arg', `--root=${o.runtimeRoot}`,
  ];
  if (o.logMaxSize > 0) args.push('--log-size-max', String(o.logMaxSize));
  if (o.syncLog === false) args.push('--no-sync-log');
  if (o.tty) args.push('-t');
  if (o.stdin) args.push('-i');
  if (o.stdin && o.leaveStdinOpen) args.push('--leave-stdin-open');
  if (o.exitCommand.length) {
    args.push('--exit-command', o.exitCommand[0] as string);
    for (const a of o.exitCommand.slice(1)) args.push('--exit-command-arg', a);
  }
  let child: PipedChild;
  try {
    const env = Object.entries({ ...process.env, _OCI_SYNCPIPE: '3' }).map(([k, v]) => `${k}=${v ?? ''}`);
    child = spawnPiped(o.conmon ?? 'conmon', ['conmon', ...args], env, { pipes: [2, 3], setsid: true });
  } catch (e) {
    // Not 'internal': start() would read it as the runtime's own error and drop the hint.
    throw new BerthError('failed_precondition', `cannot run conmon: ${(e as Error).message}`, { hint: 'install conmon (apt-get install conmon)', cause: e });
  }
  const syncFd = child.pipes.get(3) as number;
  const stderrFd = child.pipes.get(2) as number;
  try {
    let line: string | undefined;
    try {
      line = await readLine(syncFd);
    } finally {
      // conmon's first process exits as soon as it has forked the monitor (or failed): reap it.
      waitChild(child.pid);
    }
    let msg: { data?: number; message?: string } | undefined;
    if (line !== undefined) {
      try {
        msg = JSON.parse(line) as { data?: number; message?: string };
      } catch {
        throw new BerthError('internal', `conmon sent an unreadable message: ${line.slice(0, 200)}`);
      }
      if (typeof msg.data === 'number' && msg.data > 0) return { pid: msg.data };
    }
    // Both of conmon's processes have let go of stderr by now (the monitor moves its stdio to /dev/null).
    const stderr = readAll(stderrFd).trim();
    if (msg) throw new BerthError('internal', msg.message ?? `the runtime failed to create the container${stderr ? `: ${stderr}` : ''}`);
    throw new BerthError('internal', `conmon exited without reporting the container${stderr ? `: ${stderr}` : ''}`);
  } finally {
    fs.closeSync(syncFd);
    fs.closeSync(stderrFd);
  }
}

/**
 * The first line conmon writes on the sync pipe, or undefined at end of file. Read on libuv's
 * thread pool: the runtime's create takes tens of milliseconds, and an API service keeps serving
 * meanwhile. conmon keeps its end open for the container's life, so nothing reads past the line.
 */
async function readLine(fd: number): Promise<string | undefined> {
  const buf = Buffer.alloc(4096);
  let got = '';
  for (;;) {
    const n = await new Promise<number>((resolve, reject) => fs.read(fd, buf, 0, buf.length, null, (e, bytes) => (e ? reject(e) : resolve(bytes))));
    if (n === 0) return got ? got : undefined;
    got += buf.toString('utf8', 0, n);
    const nl = got.indexOf('\n');
    if (nl >= 0) return got.slice(0, nl);
  }
}

function readAll(fd: number): string {
  const buf = Buffer.alloc(4096);
  let out = '';
  for (;;) {
    let n: number;
    try {
      n = fs.readSync(fd, buf, 0, buf.length, null);
    } catch {
      return out;
    }
    if (n === 0) return out;
    out += buf.toString('utf8', 0, n);
  }
}
