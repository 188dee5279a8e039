/**
 * Starts conmon, the per-container monitor that outlives berth: it runs `<runtime> create`, keeps
 * the container's stdio (log file, attach socket), writes the exit code to the exit dir and runs
 * the exit command (`berth container cleanup ID`). We learn the container's pid (or runc's error)
 * through the sync pipe conmon inherits as fd 3.
 */
import { spawn } from 'node:child_process';
import { BerthError } from '../errors.js';

export interface MonitorOptions {
  id: string;
  name: string;
  bundle: string;
  runtimeBinary: string;
  runtimeRoot: string;
  logPath: string;
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
export function launchMonitor(o: MonitorOptions): Promise<MonitorResult> {
  const args = [
    '--api-version', '1',
    '-c', o.id,
    '-u', o.id,
    '-n', o.name,
    '-r', o.runtimeBinary,
    '-b', o.bundle,
    '-p', o.pidFile,
    '-P', o.monitorPidFile,
    '-l', `k8s-file:${o.logPath}`,
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
  return new Promise((resolve, reject) => {
    const child = spawn(o.conmon ?? 'conmon', args, {
      stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
      env: { ...process.env, _OCI_SYNCPIPE: '3' },
      detached: true,
    });
    let stderr = '';
    let sync = '';
    let settled = false;
    const done = (err: BerthError | undefined, res?: MonitorResult) => {
      if (settled) return;
      settled = true;
      child.stderr?.destroy();
      (child.stdio[3] as unknown as { destroy(): void } | null)?.destroy();
      if (err) reject(err);
      else resolve(res as MonitorResult);
    };
    child.on('error', (e) =>
      done(new BerthError('internal', `cannot run conmon: ${e.message}`, { hint: 'install conmon (apt-get install conmon)', cause: e })),
    );
    child.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const pipe = child.stdio[3] as NodeJS.ReadableStream;
    pipe.on('data', (d: Buffer) => {
      sync += d.toString();
      const nl = sync.indexOf('\n');
      if (nl < 0) return;
      let msg: { data?: number; message?: string };
      try {
        msg = JSON.parse(sync.slice(0, nl)) as { data?: number; message?: string };
      } catch {
        done(new BerthError('internal', `conmon sent an unreadable message: ${sync.slice(0, 200)}`));
        return;
      }
      if (typeof msg.data === 'number' && msg.data > 0) done(undefined, { pid: msg.data });
      else done(new BerthError('internal', msg.message ?? `the runtime failed to create the container${stderr ? `: ${stderr.trim()}` : ''}`));
      (pipe as unknown as { destroy(): void }).destroy();
    });
    pipe.on('end', () => {
      if (!settled)
        done(new BerthError('internal', `conmon exited without reporting the container${stderr ? `: ${stderr.trim()}` : ''}`));
    });
    child.unref();
  });
}
