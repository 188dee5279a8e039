/**
 * /containers/{id}/exec and /exec/{id}/*: exec sessions live in the service's memory, with a copy
 * under <runroot>/api-exec/ so `inspect` still answers for sessions of an earlier service run.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { spawnExec } from '../container/exec.js';
import type { ContainerService } from '../container/service.js';
import { BerthError, invalidArgument, notFound } from '../errors.js';
import { setWindowSize } from '../sys/libc.js';
import { optBool, optStr, optStrList } from './create-body.js';
import { type Router, frame, hijack, noContent, qInt, readJson, readUpgradeJson, sendJson } from './http.js';

interface ExecSession {
  ID: string;
  ContainerID: string;
  Running: boolean;
  ExitCode: number | null;
  Pid: number;
  OpenStdin: boolean;
  OpenStdout: boolean;
  OpenStderr: boolean;
  DetachKeys: string;
  ProcessConfig: { tty: boolean; entrypoint: string; arguments: string[]; privileged: boolean; user: string };
  env: string[];
  workdir: string;
  /** ConsoleSize [height, width] of a TTY exec, applied from its start (docker CLI >= 23 sends it). */
  consoleSize?: [number, number];
}

export function registerExec(router: Router, svc: ContainerService): void {
  const sessions = new Map<string, ExecSession>();
  /** The `script` process that gives each running TTY exec its terminal (for resize). */
  const terminals = new Map<string, number>();
  const dir = path.join(svc.engine.paths.runroot, 'api-exec');
  const save = (s: ExecSession) => {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    fs.writeFileSync(path.join(dir, `${s.ID}.json`), JSON.stringify(s));
  };
  const load = (id: string): ExecSession => {
    const s = sessions.get(id);
    if (s) return s;
    if (/^[0-9a-f]{64}$/.test(id)) {
      try {
        return JSON.parse(fs.readFileSync(path.join(dir, `${id}.json`), 'utf8')) as ExecSession;
      } catch {
        /* fall through */
      }
    }
    throw notFound(`No such exec instance: ${id}`);
  };

  router.add('POST', '/containers/{id}/exec', async (ctx) => {
    const body = await readJson(ctx.req);
    const rec = svc.get(ctx.params.id as string);
    const cmd = optStrList(body, 'Cmd', 'ExecConfig.Cmd', true);
    if (!cmd?.length) throw new BerthError('invalid_argument', 'No exec command specified');
    if (rec.state.status !== 'running') throw new BerthError('conflict', `Container ${rec.config.id} is not running`);
    const s: ExecSession = {
      ID: randomBytes(32).toString('hex'),
      ContainerID: rec.config.id,
      Running: false,
      ExitCode: null,
      Pid: 0,
      OpenStdin: optBool(body, 'AttachStdin', 'ExecConfig.AttachStdin') ?? false,
      OpenStdout: optBool(body, 'AttachStdout', 'ExecConfig.AttachStdout') ?? false,
      OpenStderr: optBool(body, 'AttachStderr', 'ExecConfig.AttachStderr') ?? false,
      DetachKeys: optStr(body, 'DetachKeys') ?? '',
      ProcessConfig: {
        tty: optBool(body, 'Tty', 'ExecConfig.Tty') ?? false,
        entrypoint: cmd[0] as string,
        arguments: cmd.slice(1),
        privileged: optBool(body, 'Privileged', 'ExecConfig.Privileged') ?? false,
        user: optStr(body, 'User', 'ExecConfig.User') ?? '',
      },
      env: optStrList(body, 'Env', 'ExecConfig.Env') ?? [],
      workdir: optStr(body, 'WorkingDir', 'ExecConfig.WorkingDir') ?? '',
    };
    const cs = body.ConsoleSize;
    if (cs !== undefined && cs !== null) {
      if (!Array.isArray(cs) || cs.length !== 2 || cs.some((n) => typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 0xffff))
        throw new BerthError('invalid_argument', 'json: cannot unmarshal ConsoleSize: expected [height, width] as two unsigned integers');
      if (cs[0] > 0 && cs[1] > 0) s.consoleSize = [cs[0] as number, cs[1] as number];
    }
    sessions.set(s.ID, s);
    save(s);
    sendJson(ctx, 201, { Id: s.ID });
  });

  router.add('POST', '/exec/{id}/start', async (ctx) => {
    const body = await readUpgradeJson(ctx);
    const s = load(ctx.params.id as string);
    if (s.Running || s.ExitCode !== null) throw new BerthError('conflict', `Exec ${s.ID} has already run`);
    const detach = optBool(body, 'Detach', 'ExecStartConfig.Detach') ?? false;
    const tty = s.ProcessConfig.tty;
    const rec = svc.get(s.ContainerID);
    const o: Parameters<typeof spawnExec>[2] = {
      cmd: [s.ProcessConfig.entrypoint, ...s.ProcessConfig.arguments],
      env: s.env,
      tty,
      privileged: s.ProcessConfig.privileged,
      stdin: !detach && s.OpenStdin,
      detach: false,
    };
    if (s.ProcessConfig.user) o.user = s.ProcessConfig.user;
    if (tty && s.consoleSize) o.consoleSize = { rows: s.consoleSize[0], cols: s.consoleSize[1] };
    if (s.workdir) o.workdir = s.workdir;
    if (detach) {
      const p = spawnExec(svc, rec, o);
      s.Running = true;
      s.Pid = p.child.pid ?? 0;
      p.child.stdout?.resume();
      void p.exited.then((code) => {
        s.Running = false;
        s.ExitCode = code;
        save(s);
      });
      return noContent(ctx, 200);
    }
    let conn: ReturnType<typeof hijack> | undefined;
    const write = (kind: 1 | 2, d: Buffer) => {
      if (!conn || conn.out.destroyed) return;
      if (kind === 1 ? !s.OpenStdout : !s.OpenStderr) return;
      conn.out.write(tty ? d : frame(kind, d));
    };
    o.onStderr = (d) => write(2, d);
    const p = spawnExec(svc, rec, o);
    conn = hijack(ctx, !tty);
    s.Running = true;
    s.Pid = p.child.pid ?? 0;
    if (tty && p.child.pid) terminals.set(s.ID, p.child.pid);
    save(s);
    p.child.stdout?.on('data', (d: Buffer) => write(1, d));
    if (p.child.stdin) {
      const stdin = p.child.stdin;
      stdin.on('error', () => undefined);
      conn.input.on('data', (d: Buffer) => stdin.write(d));
      conn.input.on('end', () => stdin.end());
    }
    const onGone = () => p.child.kill('SIGKILL');
    ctx.signal.addEventListener('abort', onGone, { once: true });
    const code = await p.exited;
    terminals.delete(s.ID);
    ctx.signal.removeEventListener('abort', onGone);
    s.Running = false;
    s.ExitCode = code;
    save(s);
    if (!ctx.signal.aborted) conn.end();
  });

  router.add('POST', '/exec/{id}/resize', async (ctx) => {
    const s = load(ctx.params.id as string);
    const h = qInt(ctx.query, 'h');
    const w = qInt(ctx.query, 'w');
    if (h === undefined || w === undefined || h < 0 || w < 0 || h > 0xffff || w > 0xffff) throw invalidArgument('resize needs h and w: the height and width of the terminal in characters');
    const pid = terminals.get(s.ID);
    if (!s.ProcessConfig.tty) throw invalidArgument(`exec ${s.ID} has no TTY to resize (it was created without Tty)`);
    // A session that already ended has nothing to resize (clients resize right after start).
    if (pid === undefined && s.ExitCode === null) throw new BerthError('conflict', `exec ${s.ID} is not started: start it before resizing its TTY`);
    if (pid !== undefined) await resizeExecTerminal(pid, h, w, ctx.signal);
    noContent(ctx, 200);
  });

  router.add('GET', '/exec/{id}/json', async (ctx) => {
    const s = load(ctx.params.id as string);
    const { env: _e, workdir: _w, consoleSize: _c, ...doc } = s;
    sendJson(ctx, 200, { ...doc, ExitCode: s.ExitCode ?? 0, CanRemove: false });
  });
}

/**
 * A TTY exec runs `runc exec --tty` under script(1), whose pty is runc's stdin; runc copies that
 * terminal's size to the container's terminal on SIGWINCH, like the CLI's `exec -t` does with
 * the user's terminal. Setting the size of script's pty raises that SIGWINCH. Right after start
 * script may not have started runc yet: retried for up to 2 s.
 */
async function resizeExecTerminal(scriptPid: number, rows: number, cols: number, signal: AbortSignal): Promise<void> {
  for (let i = 0; i < 40 && !signal.aborted; i++) {
    const pts = ptsOfChild(scriptPid);
    if (pts) {
      const fd = fs.openSync(pts, fs.constants.O_RDWR | fs.constants.O_NOCTTY | fs.constants.O_NONBLOCK);
      try {
        setWindowSize(fd, rows, cols);
      } finally {
        fs.closeSync(fd);
      }
      return;
    }
    if (!fs.existsSync(`/proc/${scriptPid}`)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The terminal (/dev/pts/N) that script's child has as its stdin, once it has one. */
function ptsOfChild(pid: number): string | undefined {
  let children: string[];
  try {
    children = fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
  } catch {
    return undefined;
  }
  for (const c of children) {
    try {
      const t = fs.readlinkSync(`/proc/${c}/fd/0`);
      if (t.startsWith('/dev/pts/')) return t;
    } catch {
      /* gone or not yet */
    }
  }
  return undefined;
}
