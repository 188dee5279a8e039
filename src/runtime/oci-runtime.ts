/**
 * A thin wrapper around an OCI runtime's command line (runc by default; any runc-compatible binary such
 * as crun can be selected). Every call runs the binary once with `--root <root>`; failures become
 * BerthErrors classified from the runtime's own error text.
 *
 * `runc create` / `runc exec` are not run from here: conmon runs them (it owns the container's stdio);
 * `globalArgs` and `execArgs` give conmon the arguments it needs.
 */
import { execFile, execFileSync } from 'node:child_process';
import { accessSync, closeSync, constants as fsConstants, openSync, readSync, unlinkSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { basename, delimiter, join } from 'node:path';
import { BerthError, type ErrorCode } from '../errors.js';
import type { CgroupStats } from './cgroups.js';
import type { OciResources } from './spec.js';

export type RuntimeStatus = 'creating' | 'created' | 'running' | 'paused' | 'stopped';

export interface RuntimeState {
  status: RuntimeStatus;
  /** Host pid of the container's init; 0 once stopped. */
  pid: number;
  bundle?: string;
}

/** Usage numbers of one container (from `runc events --stats`); the same shape cgroups.readStats returns. */
export type RuntimeStats = CgroupStats;

export interface OciRuntimeOptions {
  /** Binary name (looked up in PATH) or path; default 'runc' (PATH, then /usr/sbin/runc). */
  binary?: string;
  /** Runtime state directory, e.g. <runroot>/runc; give each runtime its own. */
  root: string;
  /** Only the cgroupfs manager is supported. */
  systemdCgroup?: false;
  /** Upper bound of one runtime call; default 60 s (a call on a frozen container can hang). */
  timeoutMs?: number;
}

export interface ExecArgsOptions {
  detach?: boolean;
  tty?: boolean;
  consoleSocket?: string;
  pidFile?: string;
}

/** Largest uint64: runc reports "no limit" as this (or close to it, rounded to pages). */
const UNLIMITED_THRESHOLD = 2 ** 62;

function resolveBinary(name: string): string {
  const isExecutable = (p: string) => {
    try {
      accessSync(p, fsConstants.X_OK);
      return true;
    } catch {
      return false;
    }
  };
  if (name.includes('/')) {
    if (isExecutable(name)) return name;
  } else {
    for (const dir of (process.env.PATH ?? '').split(delimiter)) {
      if (dir !== '' && isExecutable(join(dir, name))) return join(dir, name);
    }
    for (const dir of ['/usr/sbin', '/usr/bin', '/usr/local/sbin', '/usr/local/bin', '/sbin', '/bin']) {
      if (isExecutable(join(dir, name))) return join(dir, name);
    }
  }
  throw new BerthError('failed_precondition', `OCI runtime "${name}" not found`, {
    hint: 'install runc (apt-get install runc) or choose another runtime with --runtime',
  });
}

/**
 * Extracts the error messages from a runtime's stderr or conmon's log text: runc's logfmt lines
 * (`time=... level=error msg="..."`), JSON log lines (`{"level":"error","msg":"..."}`) or plain text.
 */
export function runtimeErrorText(text: string): string {
  const msgs: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '') continue;
    if (line.startsWith('{')) {
      try {
        const j = JSON.parse(line) as { level?: string; msg?: string };
        if (typeof j.msg === 'string' && (j.level === undefined || j.level === 'error' || j.level === 'fatal')) msgs.push(j.msg);
        continue;
      } catch {
        // not JSON: fall through
      }
    }
    const m = /\bmsg="((?:[^"\\]|\\.)*)"/.exec(line);
    if (m) {
      if (/\blevel=(warning|info|debug)\b/.test(line)) continue;
      msgs.push(m[1].replace(/\\(.)/g, '$1'));
      continue;
    }
    msgs.push(line);
  }
  return msgs.join('; ');
}

function classify(message: string): { code: ErrorCode; hint?: string } {
  const exec = /exec: "([^"]*)"|exec: ([^\s:]+)/.exec(message);
  if (/executable file not found in \$PATH/.test(message) || (exec && /no such file or directory/.test(message))) {
    return { code: 'command_not_found', hint: 'check the command name and the image\'s PATH' };
  }
  if (exec && /permission denied|exec format error|is a directory/.test(message)) {
    return { code: 'cannot_invoke', hint: 'make sure the command is an executable for this architecture (chmod +x)' };
  }
  if (/container does not exist|container "[^"]*" does not exist|no such container/i.test(message)) return { code: 'not_found' };
  if (/container with id exists|already exists/.test(message)) return { code: 'already_exists' };
  if (/container not running|is not running|cannot start a container that has stopped|container is paused|cannot (pause|resume)|is already (running|paused)|has already been started/i.test(message)) {
    return { code: 'conflict' };
  }
  if (/operation not permitted|permission denied/.test(message)) return { code: 'permission_denied' };
  if (/cgroups in hybrid mode not supported/.test(message)) {
    return { code: 'failed_precondition', hint: 'this runtime does not support cgroup v1 hybrid hosts; use runc' };
  }
  return { code: 'internal' };
}

/**
 * Classifies the error text of a failed container start (runc's stderr, or conmon's log, which relays it):
 * a missing command -> command_not_found (docker exit 127); a command that is not executable ->
 * cannot_invoke (126); an unknown container -> not_found; a container in the wrong state -> conflict;
 * EPERM -> permission_denied; anything else -> internal. The message is the runtime's own words.
 */
export function classifyStartError(stderrOrLogText: string): BerthError {
  const text = runtimeErrorText(stderrOrLogText) || 'OCI runtime failed without a message';
  const { code, hint } = classify(text);
  return new BerthError(code, `OCI runtime error: ${text}`, hint !== undefined ? { hint } : {});
}

/** Turns a signal name ("TERM", "SIGTERM", "sigkill") or number into its number; invalid_argument otherwise. */
export function signalNumber(signal: number | string): number {
  if (typeof signal === 'number' || /^\d+$/.test(signal)) {
    const n = Number(signal);
    if (!Number.isInteger(n) || n < 1 || n > 64) throw new BerthError('invalid_argument', `invalid signal: ${signal}`);
    return n;
  }
  const upper = signal.toUpperCase();
  const name = (upper.startsWith('SIG') ? upper : `SIG${upper}`) as keyof typeof osConstants.signals;
  const n = osConstants.signals[name];
  if (n === undefined) throw new BerthError('invalid_argument', `invalid signal: ${signal}`);
  return n;
}

export class OciRuntime {
  readonly binary: string;
  readonly root: string;
  private readonly timeoutMs: number;

  /** Fails with failed_precondition when the binary cannot be found. */
  constructor(opts: OciRuntimeOptions) {
    this.binary = resolveBinary(opts.binary ?? 'runc');
    this.root = opts.root;
    this.timeoutMs = opts.timeoutMs ?? 60_000;
  }

  /** Global arguments every call needs (for conmon: one `--runtime-arg` each). */
  get globalArgs(): string[] {
    return ['--root', this.root];
  }

  private run(args: string[], input?: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const child = execFile(
        this.binary,
        [...this.globalArgs, ...args],
        { timeout: this.timeoutMs, maxBuffer: 16 * 1024 * 1024, encoding: 'utf8' },
        (err, stdout, stderr) => {
          if (!err) return resolve(stdout);
          const e = err as NodeJS.ErrnoException & { killed?: boolean };
          if (e.code === 'ENOENT' || e.code === 'EACCES') {
            return reject(new BerthError('failed_precondition', `cannot run OCI runtime ${this.binary}: ${e.message}`, { cause: err }));
          }
          if (e.killed) {
            return reject(new BerthError('unavailable', `${this.binary} ${args[0]} did not finish within ${this.timeoutMs} ms`, { cause: err }));
          }
          const classified = classifyStartError(stderr || e.message);
          reject(new BerthError(classified.code, `${this.binary} ${args[0]}: ${runtimeErrorText(stderr) || e.message}`, {
            cause: err,
            ...(classified.hint !== undefined ? { hint: classified.hint } : {}),
          }));
        },
      );
      if (input !== undefined) child.stdin?.end(input);
    });
  }

  /** The container's state, or undefined when the runtime does not know the id. */
  async state(id: string): Promise<RuntimeState | undefined> {
    let out: string;
    try {
      out = await this.run(['state', id]);
    } catch (e) {
      if (e instanceof BerthError && e.code === 'not_found') return undefined;
      throw e;
    }
    const j = JSON.parse(out) as { status: RuntimeStatus; pid: number; bundle?: string };
    return { status: j.status, pid: j.pid, ...(j.bundle !== undefined ? { bundle: j.bundle } : {}) };
  }

  /**
   * Starts a created container (runs the user's process). conflict if it is not in state created.
   * With runc and the container's init pid known, this does what `runc start` does without a runc
   * process: runc's init waits, after create, to open `<root>/<id>/exec.fifo` for writing; opening
   * it for reading lets init exec the user's command, init's byte arrives and the fifo closes on
   * exec, and removing the fifo is how runc marks the container running. Anything unexpected (no
   * fifo, another runtime) takes the `runc start` path.
   */
  async start(id: string, opts: { initPid?: number } = {}): Promise<void> {
    if (opts.initPid && basename(this.binary) === 'runc') {
      const fifo = join(this.root, id, 'exec.fifo');
      let fd: number | undefined;
      try {
        fd = openSync(fifo, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
      } catch {
        fd = undefined;
      }
      if (fd !== undefined) return startThroughFifo(fd, fifo, opts.initPid);
    }
    await this.run(['start', id]);
  }

  /** Sends a signal to the init process, or with `all` to every process of the container. */
  async kill(id: string, signal: number | string, opts: { all?: boolean } = {}): Promise<void> {
    const sig = String(signalNumber(signal));
    await this.run(['kill', ...(opts.all ? ['--all'] : []), id, sig]);
  }

  /** Deletes the runtime's state (and cgroups) of a stopped container; `force` kills a running one first. not_found if unknown. */
  async delete(id: string, opts: { force?: boolean } = {}): Promise<void> {
    await this.run(['delete', ...(opts.force ? ['--force'] : []), id]);
  }

  /**
   * Synchronous, idempotent delete for cleanup paths (exit hooks, `rm`): succeeds when the runtime does
   * not know the id. Other failures throw as `delete` does.
   */
  deleteSync(id: string, opts: { force?: boolean } = {}): void {
    try {
      execFileSync(this.binary, [...this.globalArgs, 'delete', ...(opts.force ? ['--force'] : []), id], {
        timeout: this.timeoutMs,
        stdio: ['ignore', 'ignore', 'pipe'],
        encoding: 'utf8',
      });
    } catch (err) {
      const stderr = String((err as { stderr?: unknown }).stderr ?? '');
      const classified = classifyStartError(stderr || (err as Error).message);
      if (classified.code === 'not_found') return;
      throw new BerthError(classified.code, `${this.binary} delete: ${runtimeErrorText(stderr) || (err as Error).message}`, { cause: err });
    }
  }

  async pause(id: string): Promise<void> {
    await this.run(['pause', id]);
  }

  async resume(id: string): Promise<void> {
    await this.run(['resume', id]);
  }

  /** Host pids of the container's processes. */
  async ps(id: string): Promise<number[]> {
    const out = await this.run(['ps', '--format', 'json', id]);
    const pids = JSON.parse(out) as number[] | null;
    return pids ?? [];
  }

  /** One sample of the container's usage (`events --stats`). For many containers cgroups.readStats is cheaper. */
  async stats(id: string): Promise<RuntimeStats> {
    const out = await this.run(['events', '--stats', id]);
    const j = JSON.parse(out) as {
      data?: {
        cpu?: { usage?: { total?: number } };
        memory?: { usage?: { usage?: number; limit?: number } };
        pids?: { current?: number; limit?: number };
      };
    };
    const d = j.data ?? {};
    const memLimit = d.memory?.usage?.limit;
    const pidsLimit = d.pids?.limit;
    return {
      cpuTotalNs: d.cpu?.usage?.total ?? 0,
      memoryUsage: d.memory?.usage?.usage ?? 0,
      memoryLimit: memLimit === undefined || memLimit === 0 || memLimit >= UNLIMITED_THRESHOLD ? undefined : memLimit,
      pidsCurrent: d.pids?.current ?? 0,
      pidsLimit: pidsLimit === undefined || pidsLimit === 0 || pidsLimit >= UNLIMITED_THRESHOLD ? undefined : pidsLimit,
    };
  }

  /** Changes resource limits of a running container (`docker update`); omitted fields are unchanged. */
  async update(id: string, resources: Omit<OciResources, 'devices'>): Promise<void> {
    await this.run(['update', '--resources', '-', id], JSON.stringify(resources));
  }

  /**
   * Arguments (after the binary) of `runc exec` for a process described in `processSpecPath` (an OCI
   * `process` object in JSON). conmon builds this itself from `--exec-process-spec` plus `globalArgs`;
   * this is for running exec directly or checking what conmon will do.
   */
  execArgs(id: string, processSpecPath: string, opts: ExecArgsOptions = {}): string[] {
    const args = [...this.globalArgs, 'exec', '--process', processSpecPath];
    if (opts.detach) args.push('--detach');
    if (opts.tty) args.push('--tty');
    if (opts.consoleSocket !== undefined) args.push('--console-socket', opts.consoleSocket);
    if (opts.pidFile !== undefined) args.push('--pid-file', opts.pidFile);
    args.push(id);
    return args;
  }

}

/** What `runc start` does: opens runc's exec fifo, which lets init go on, takes init's byte, then removes the fifo. */
function startThroughFifo(fd: number, fifo: string, initPid: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const buf = Buffer.alloc(16);
    const started = Date.now();
    const finish = (err?: BerthError) => {
      try {
        closeSync(fd);
      } catch {
        /* already closed */
      }
      if (err) return reject(err);
      try {
        unlinkSync(fifo);
      } catch (e) {
        // Init exec'd (its byte arrived): a command as short as `true` may already have exited and
        // a concurrent waiter recorded the exit, which deletes the runtime state, fifo included.
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return resolve();
        return reject(new BerthError('internal', `cannot mark the container started (${fifo}): ${(e as Error).message}`));
      }
      resolve();
    };
    /** Whether init's byte arrived. Not yet: EAGAIN (init holds its end) or 0 bytes (it has not opened it yet). */
    const arrived = (): boolean => {
      try {
        return readSync(fd, buf, 0, buf.length, null) > 0;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EAGAIN') return false;
        throw new BerthError('internal', `OCI runtime error: exec fifo: ${(e as Error).message}`);
      }
    };
    // Polled rather than watched: runc's init opens its end only after `runc create` returned, and a
    // non-blocking read of a fifo nobody writes to yet is an end of file, not a wait. Opening the
    // read end is what lets init go on; its byte follows within a millisecond or two.
    const poll = () => {
      try {
        if (arrived()) return finish();
        try {
          process.kill(initPid, 0);
        } catch {
          // Gone: it may have written, exec'd and exited between the read and the check.
          return finish(arrived() ? undefined : new BerthError('internal', 'OCI runtime error: the container exited before it could start'));
        }
      } catch (e) {
        return finish(e as BerthError);
      }
      setTimeout(poll, Date.now() - started < 200 ? 1 : 20);
    };
    poll();
  });
}
