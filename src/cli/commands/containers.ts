import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { attach, parseDetachKeys, resizeTerminal } from '../../container/attach.js';
import type { LogLine } from '../../container/logs.js';
import { CONTAINER_FILTERS } from '../../container/list.js';
import { ContainerService } from '../../container/service.js';
import { pidAlive } from '../../util/process.js';
import type { ContainerRecord } from '../../container/types.js';
import { BerthError, invalidArgument, isNotFound } from '../../errors.js';
import { humanSize } from '../../util/human.js';
import { type ParsedArgs, bool, int, list, parseCpArg, str } from '../args.js';
import type { CliContext } from '../context.js';
import { checkCidfile, createOptionsFromFlags, updateOptionsFromFlags, withConsoleSize, writeCidfile } from '../run-options.js';
import { goTime, parseFilterFlags, printJson } from './common.js';
import { stdioWriter } from '../output.js';

async function service(ctx: CliContext): Promise<ContainerService> {
  return new ContainerService(await ctx.engine());
}

/** Runs `fn` for each argument, printing docker's per-item errors; exit 1 if any failed. */
async function eachArg(ctx: CliContext, args: string[], fn: (a: string) => Promise<void>): Promise<number> {
  let failed = 0;
  for (const a of args) {
    try {
      await fn(a);
    } catch (e) {
      if (!(e instanceof BerthError)) throw e;
      ctx.err(`Error response from daemon: ${e.message}`);
      failed++;
    }
  }
  return failed ? 1 : 0;
}

// ------------------------------------------------------------------ create / run / start

export async function create(ctx: CliContext, p: ParsedArgs): Promise<number> {
  const svc = await service(ctx);
  await (await import('./registry.js')).pullForRun(ctx, p, p.args[0] as string);
  const opts = createOptionsFromFlags(p);
  const cidfile = checkCidfile(p);
  const rec = svc.create(opts);
  if (cidfile) writeCidfile(cidfile, rec.config.id);
  ctx.out(rec.config.id);
  return 0;
}

export async function run(ctx: CliContext, p: ParsedArgs): Promise<number> {
  const svc = await service(ctx);
  (await import('../../util/timings.js')).mark('run: engine ready');
  const opts = withConsoleSize(createOptionsFromFlags(p), () => ctx.stdout);
  const detach = bool(p, 'detach');
  if (detach && opts.autoRemove === undefined) opts.autoRemove = false;
  if (opts.tty && !detach && !ctx.stdin.isTTY) throw new BerthError('invalid_argument', 'the input device is not a TTY');
  await (await import('./registry.js')).pullForRun(ctx, p, opts.image);
  const built = svc.engine.images.tryResolve(opts.image);
  if (built?.meta.buildContext) {
    const warning = (await import('../../build/stale.js')).staleContextWarning(svc.engine, built, opts.image);
    if (warning) ctx.err(warning);
  }
  const cidfile = checkCidfile(p);
  const rec = svc.create(opts);
  if (cidfile) writeCidfile(cidfile, rec.config.id);
  if (detach) {
    await svc.start(rec.config.id);
    ctx.out(rec.config.id);
    return 0;
  }
  return runAttached(ctx, svc, rec, { stdin: opts.openStdin ?? false, detachKeys: str(p, 'detach-keys'), sigProxy: p.flags['sig-proxy'] !== false });
}

async function runAttached(
  ctx: CliContext,
  svc: ContainerService,
  rec: ContainerRecord,
  o: { stdin: boolean; detachKeys: string | undefined; sigProxy: boolean },
): Promise<number> {
  const id = rec.config.id;
  const d = svc.dirs(id);
  let session: ReturnType<typeof attach> | undefined;
  const tty = rec.config.tty;
  const restoreRaw = () => {
    if (tty && ctx.stdin.isTTY) ctx.stdin.setRawMode(false);
  };
  try {
    await svc.start(id, {
      // This process waits for the exit and records it; a restart policy needs conmon's exit command.
      ownExit: rec.config.restartPolicy.name === 'no',
      beforeStart: () => {
        session = attach(d.attach, {
          // Without a terminal, output goes to the descriptors directly: no stdio streams to build.
          stdout: tty ? ctx.stdout : stdioWriter(1),
          stderr: tty ? ctx.stderr : stdioWriter(2),
          ...(o.stdin ? { stdin: ctx.stdin } : {}),
          detachKeys: o.stdin && (tty || o.detachKeys !== undefined) ? parseDetachKeys(o.detachKeys) : [],
        });
        if (tty && ctx.stdin.isTTY) {
          ctx.stdin.setRawMode(true);
          resizeTerminal(d.ctl, ctx.stdout.rows ?? 24, ctx.stdout.columns ?? 80);
        }
      },
    });
  } catch (e) {
    session?.close();
    svc.releaseExit(id);
    restoreRaw();
    if (rec.config.autoRemove) await svc.remove(id, { force: true, volumes: true }).catch(() => undefined);
    throw e;
  }
  const onResize = () => resizeTerminal(d.ctl, ctx.stdout.rows ?? 24, ctx.stdout.columns ?? 80);
  if (tty) ctx.stdout.on('resize', onResize);
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];
  const forward = (sig: NodeJS.Signals) => {
    void svc.runtime(rec.config.runtime).kill(id, sig).catch(() => undefined);
  };
  if (o.sigProxy && !tty) for (const s of signals) process.on(s, forward);
  try {
    const how = session ? await session.done : 'exited';
    if (how === 'detached') {
      restoreRaw();
      ctx.err(`\nread escape sequence`);
      return 0;
    }
    const { mark } = await import('../../util/timings.js');
    mark('run: attach closed');
    const code = await svc.wait(id, 'not-running');
    mark('run: exit recorded');
    if (rec.config.autoRemove) await svc.remove(id, { volumes: true }).catch((e: unknown) => {
      if (!isNotFound(e)) throw e;
    });
    mark('run: removed');
    return code;
  } finally {
    // Detached, recorded or failed: from here on conmon's exit command looks after the container.
    svc.releaseExit(id);
    restoreRaw();
    if (tty) ctx.stdout.off('resize', onResize);
    for (const s of signals) process.off(s, forward);
    // A paused pipe on stdin would keep the process alive after the session ended.
    if (o.stdin) ctx.stdin.destroy();
  }
}

export async function start(ctx: CliContext, p: ParsedArgs): Promise<number> {
  const svc = await service(ctx);
  if (bool(p, 'attach') || bool(p, 'interactive')) {
    if (p.args.length > 1) throw invalidArgument('you cannot start and attach multiple containers at once');
    const rec = svc.get(p.args[0] as string);
    return runAttached(ctx, svc, rec, { stdin: bool(p, 'interactive') && rec.config.openStdin, detachKeys: str(p, 'detach-keys'), sigProxy: true });
  }
  return eachArg(ctx, p.args, async (a) => {
    await svc.start(a);
    ctx.out(a);
  });
}

// ------------------------------------------------------------------ stop / kill / pause

export async function stop(ctx: CliContext, p: ParsedArgs): Promise<number> {
  const svc = await service(ctx);
  const t = int(p, 'time');
  const sig = str(p, 'signal');
  return eachArg(ctx, p.args, async (a) => {
    const o: { timeout?: number; signal?: string } = {};
    if (t !== undefined) o.timeout = t;
    if (sig) o.signal = sig;
    await svc.stop(a, o);
    ctx.out(a);
  });
}

export async function kill(ctx: CliContext, p: ParsedArgs): Promise<number> {
  const svc = await service(ctx);
  const sig = str(p, 'signal') ?? 'KILL';
  const { parseSignal } = await import('../../util/human.js');
  parseSignal(sig);
  return eachArg(ctx, p.args, async (a) => {
    await svc.kill(a, /^\d+$/.test(sig) ? Number(sig) : sig.toUpperCase().startsWith('SIG') ? sig.toUpperCase() : `SIG${sig.toUpperCase()}`);
    ctx.out(a);
  });
}

export async function restart(ctx: CliContext, p: ParsedArgs): Promise<number> {
  const svc = await service(ctx);
  const t = int(p, 'time');
  return eachArg(ctx, p.args, async (a) => {
    await svc.restart(a, t !== undefined ? { timeout: t } : {});
    ctx.out(a);
  });
}

export async function pause(ctx: CliContext, p: ParsedArgs): Promise<number> {
  const svc = await service(ctx);
  return eachArg(ctx, p.args, async (a) => {
    await svc.pause(a);
    ctx.out(a);
  });
}

export async function unpause(ctx: CliContext, p: ParsedArgs): Promise<number> {
  const svc = await service(ctx);
  return eachArg(ctx, p.args, async (a) => {
    await svc.unpause(a);
    ctx.out(a);
  });
}

export async function rm(ctx: CliContext, p: ParsedArgs): Promise<number> {
  const svc = await service(ctx);
  return eachArg(ctx, p.args, async (a) => {
    const rec = svc.get(a);
    const usage = svc.writableLayerUsage(rec.config.id);
    await svc.remove(a, { force: bool(p, 'force'), volumes: bool(p, 'volumes') });
    ctx.out(a);
    if (usage.files > 0)
      ctx.err(
        `note: ${rec.config.name}'s writable layer held ${usage.files} changed file${usage.files === 1 ? '' : 's'} (${humanSize(usage.bytes)}), now deleted; keep such changes with 'berth commit' or in a volume (-v)`,
      );
  });
}

export async function update(ctx: CliContext, p: ParsedArgs): Promise<number> {
  const o = updateOptionsFromFlags(p);
  const svc = await service(ctx);
  return eachArg(ctx, p.args, async (a) => {
    await svc.update(a, o);
    ctx.out(a);
  });
}

export async function wait(ctx: CliContext, p: ParsedArgs): Promise<number> {
  const svc = await service(ctx);
  const cond = (str(p, 'condition') ?? 'not-running') as 'not-running' | 'next-exit' | 'removed';
  if (!['not-running', 'next-exit', 'removed'].includes(cond)) throw invalidArgument(`invalid condition: "${cond}"`);
  return eachArg(ctx, p.args, async (a) => {
    ctx.out(String(await svc.wait(a, cond)));
  });
}

export async function rename(ctx: CliContext, p: ParsedArgs): Promise<number> {
  const svc = await service(ctx);
  const rec = svc.get(p.args[0] as string);
  svc.store.rename(rec.config.id, p.args[1] as string);
  return 0;
}

// ------------------------------------------------------------------ ps / inspect

export async function ps(ctx: CliContext, p: ParsedArgs): Promise<number> {
  const svc = await service(ctx);
  const { commandColumn, portsColumn } = await import('../../compat/container-inspect.js');
  const { statusString, timeAgo } = await import('../../util/human.js');
  const { formatRows } = await import('../format.js');
  const filters = parseFilterFlags(list(p, 'filter'), CONTAINER_FILTERS);
  const { listContainers } = await import('../../container/list.js');
  const recs = listContainers(svc, { all: bool(p, 'all'), last: int(p, 'last') ?? -1, latest: bool(p, 'latest'), filters });
  const noTrunc = bool(p, 'no-trunc');
  if (bool(p, 'quiet')) {
    for (const r of recs) ctx.out(noTrunc ? r.config.id : r.config.id.slice(0, 12));
    return 0;
  }
  const now = Date.now();
  const size = bool(p, 'size');
  const rows = recs.map((r) => {
    const row: Record<string, unknown> = {
      ID: noTrunc ? r.config.id : r.config.id.slice(0, 12),
      Image: r.config.image,
      Command: commandColumn(r, noTrunc),
      CreatedAt: goTime(r.config.created),
      RunningFor: timeAgo(r.config.created, now),
      Status: statusString(
        { status: r.state.status, exitCode: r.state.exitCode, startedAt: r.state.startedAt, finishedAt: r.state.finishedAt, ...(r.state.health ? { health: r.state.health.status } : {}) },
        now,
      ),
      State: r.state.status,
      Ports: portsColumn(r),
      Names: r.config.name,
      Labels: Object.entries(r.config.labels)
        .map(([k, v]) => `${k}=${v}`)
        .join(','),
      Mounts: r.config.mounts.map((m) => m.name ?? m.source).join(','),
      Networks: r.config.network.mode,
      LocalVolumes: String(r.config.mounts.filter((m) => m.type === 'volume').length),
      Size: '',
    };
    if (size) {
      const u = svc.writableLayerUsage(r.config.id);
      const img = svc.engine.images.get(r.config.imageId);
      row.Size = `${humanSize(u.bytes)} (virtual ${humanSize(u.bytes + (img?.size ?? 0))})`;
    }
    return row;
  });
  const def = `table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}${size ? '\t{{.Size}}' : ''}`;
  ctx.print(
    formatRows(str(p, 'format'), rows, {
      defaultTable: def,
      headers: { ID: 'CONTAINER ID', Image: 'IMAGE', Command: 'COMMAND', RunningFor: 'CREATED', CreatedAt: 'CREATED AT', Status: 'STATUS', Ports: 'PORTS', Names: 'NAMES', Size: 'SIZE', State: 'STATE', Labels: 'LABELS', Mounts: 'MOUNTS', Networks: 'NETWORKS', LocalVolumes: 'LOCAL VOLUMES' },
    }),
  );
  return 0;
}

export async function inspect(ctx: CliContext, p: ParsedArgs): Promise<number> {
  const svc = await service(ctx);
  const { dockerContainerInspect } = await import('../../compat/container-inspect.js');
  const docs: unknown[] = [];
  let failed = 0;
  for (const a of p.args) {
    try {
      docs.push(dockerContainerInspect(svc, svc.get(a), { size: bool(p, 'size') }));
    } catch (e) {
      if (!isNotFound(e)) throw e;
      ctx.err(`Error: No such container: ${a}`);
      failed++;
    }
  }
  await printJson(ctx, str(p, 'format'), docs);
  return failed ? 1 : 0;
}

/** `berth inspect`: containers first, then images (docker's order), or as --type says. */
export async function inspectAny(ctx: CliContext, p: ParsedArgs): Promise<number> {
  const svc = await service(ctx);
  const { dockerContainerInspect } = await import('../../compat/container-inspect.js');
  const { dockerImageInspect } = await import('../../compat/image-inspect.js');
  const type = str(p, 'type');
  if (type && !['container', 'image'].includes(type)) throw invalidArgument(`"${type}" is not a valid value for --type`);
  const docs: unknown[] = [];
  let failed = 0;
  for (const a of p.args) {
    let doc: unknown;
    if (type !== 'image') {
      try {
        doc = dockerContainerInspect(svc, svc.get(a), { size: bool(p, 'size') });
      } catch (e) {
        if (!isNotFound(e)) throw e;
      }
    }
    if (!doc && type !== 'container') {
      const img = svc.engine.images.tryResolve(a);
      if (img) doc = dockerImageInspect(svc.engine, img);
    }
    if (doc) docs.push(doc);
    else {
      ctx.err(`Error: No such object: ${a}`);
      failed++;
    }
  }
  await printJson(ctx, str(p, 'format'), docs);
  return failed ? 1 : 0;
}

// ------------------------------------------------------------------ logs

function parseTime(v: string | undefined): number | undefined {
  if (v === undefined || v === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v) * 1000;
  const rel = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(v);
  if (rel) return Date.now() - Number(rel[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[rel[2] as 'ms'];
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw invalidArgument(`invalid value for "since"/"until": ${v}`);
  return t;
}

export async function logs(ctx: CliContext, p: ParsedArgs): Promise<number> {
  const svc = await service(ctx);
  const { followLog, readLogFrom } = await import('../../container/logs.js');
  const rec = svc.get(p.args[0] as string);
  const file = svc.logFile(rec);
  const tailFlag = str(p, 'tail') ?? 'all';
  if (tailFlag !== 'all' && !/^-?\d+$/.test(tailFlag)) throw invalidArgument(`invalid value for "tail": ${tailFlag}`);
  const opts: { tail?: number; since?: number; until?: number } = {};
  if (tailFlag !== 'all' && Number(tailFlag) >= 0) opts.tail = Number(tailFlag);
  const since = parseTime(str(p, 'since'));
  if (since !== undefined) opts.since = since;
  const until = parseTime(str(p, 'until'));
  if (until !== undefined) opts.until = until;
  const ts = bool(p, 'timestamps');
  const emit = (l: LogLine) => {
    if (opts.until !== undefined && l.ms > opts.until) return;
    if (opts.since !== undefined && l.ms < opts.since) return;
    const text = `${ts ? `${new Date(l.ms).toISOString().replace('Z', '')}${l.time.slice(23, 29).replace(/[^0-9]/g, '')}Z `.replace(/\.(\d{3})(\d*)Z/, (_m, a: string, b: string) => `.${a}${b}Z`) : ''}${l.text}${l.newline ? '\n' : ''}`;
    (l.stream === 'stderr' ? ctx.stderr : ctx.stdout).write(text);
  };
  const follow = bool(p, 'follow') && until === undefined;
  // conmon drains the container's output after writing the exit file: its end, not the exit, means the log is complete.
  const writer = svc.logWriterPid(rec);
  const { lines, cursor } = readLogFrom(file, opts, follow);
  for (const l of lines) emit(l);
  if (follow) {
    const id = rec.config.id;
    await followLog(file, cursor, emit, () => !svc.store.get(id) || !writer || !pidAlive(writer));
  }
  return 0;
}

// ------------------------------------------------------------------ exec / attach / top

export async function exec(ctx: CliContext, p: ParsedArgs): Promise<number> {
  const svc = await service(ctx);
  const [name, ...cmd] = p.args as [string, ...string[]];
  const rec = svc.get(name);
  if (rec.state.status === 'paused') throw new BerthError('conflict', `Container ${rec.config.id} is paused, unpause the container before exec`);
  if (rec.state.status !== 'running') throw new BerthError('conflict', `Container ${rec.config.id} is not running`);
  const tty = bool(p, 'tty');
  if (tty && !ctx.stdin.isTTY && !bool(p, 'detach')) throw invalidArgument('the input device is not a TTY');
  const { readEnvFile } = await import('../run-options.js');
  const envs = [...list(p, 'env-file').flatMap(readEnvFile), ...list(p, 'env')];
  const { execFailureCode, execProcessSpec } = await import('../../container/exec.js');
  const o: import('../../container/exec.js').ExecOptions = { cmd, env: envs, tty, privileged: bool(p, 'privileged') };
  const u = str(p, 'user');
  if (u !== undefined) o.user = u;
  const w = str(p, 'workdir');
  if (w !== undefined) o.workdir = w;
  // The terminal's size from the command's first instruction (runc would copy it only after the start).
  if (tty && ctx.stdout.isTTY && ctx.stdout.rows && ctx.stdout.columns) o.consoleSize = { rows: ctx.stdout.rows, cols: ctx.stdout.columns };
  const specFile = execProcessSpec(svc, rec, o);
  const rt = svc.runtime(rec.config.runtime);
  const args = ['--root', rt.root, 'exec', '--process', specFile];
  if (bool(p, 'detach')) args.push('--detach');
  if (tty) args.push('--tty');
  args.push(rec.config.id);
  try {
    return await new Promise<number>((resolve, reject) => {
      const child = spawn(rt.binary, args, {
        stdio: [bool(p, 'interactive') || tty ? 'inherit' : 'ignore', bool(p, 'detach') ? 'ignore' : 'inherit', 'pipe'],
      });
      let tail = '';
      child.stderr?.on('data', (d: Buffer) => {
        tail = (tail + d.toString()).slice(-4096);
        if (!/exec failed|runc exec failed|unable to start container process/.test(tail)) ctx.stderr.write(d);
      });
      child.on('error', reject);
      child.on('close', (code, signal) => {
        const failed = execFailureCode(tail);
        if (failed !== undefined) ctx.err(`OCI runtime exec failed: ${tail.trim().split('\n').pop()}`);
        resolve(failed ?? code ?? (signal ? 128 + (os.constants.signals[signal] ?? 9) : 1));
      });
    });
  } finally {
    fs.rmSync(specFile, { force: true });
  }
}

export async function attachCmd(ctx: CliContext, p: ParsedArgs): Promise<number> {
  const svc = await service(ctx);
  const rec = svc.get(p.args[0] as string);
  if (rec.state.status !== 'running') throw new BerthError('conflict', 'You cannot attach to a stopped container, start it first');
  const d = svc.dirs(rec.config.id);
  const withStdin = rec.config.openStdin && !bool(p, 'no-stdin');
  if (rec.config.tty && ctx.stdin.isTTY && withStdin) ctx.stdin.setRawMode(true);
  try {
    const s = attach(d.attach, { stdout: ctx.stdout, stderr: ctx.stderr, ...(withStdin ? { stdin: ctx.stdin } : {}), detachKeys: parseDetachKeys(str(p, 'detach-keys')) });
    if (rec.config.tty) resizeTerminal(d.ctl, ctx.stdout.rows ?? 24, ctx.stdout.columns ?? 80);
    const how = await s.done;
    if (how === 'detached') {
      ctx.err('\nread escape sequence');
      return 0;
    }
    return await svc.wait(rec.config.id);
  } finally {
    if (rec.config.tty && ctx.stdin.isTTY && withStdin) ctx.stdin.setRawMode(false);
    if (withStdin) ctx.stdin.destroy();
  }
}
export { attachCmd as attach };

export async function top(ctx: CliContext, p: ParsedArgs): Promise<number> {
  const svc = await service(ctx);
  const [name, ...psArgs] = p.args as [string, ...string[]];
  const rec = svc.get(name);
  if (rec.state.status !== 'running' && rec.state.status !== 'paused') throw new BerthError('conflict', `Container ${rec.config.id} is not running`);
  const pids = new Set(await svc.runtime(rec.config.runtime).ps(rec.config.id));
  const out = await new Promise<string>((resolve, reject) => {
    const child = spawn('ps', psArgs.length ? psArgs : ['-ef'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let o = '';
    let e = '';
    child.stdout.on('data', (d: Buffer) => (o += d.toString()));
    child.stderr.on('data', (d: Buffer) => (e += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(o) : reject(new BerthError('invalid_argument', `ps: ${e.trim()}`))));
  });
  const lines = out.split('\n').filter(Boolean);
  const header = lines[0] ?? '';
  const cols = header.trim().split(/\s+/);
  const pidCol = cols.indexOf('PID');
  if (pidCol < 0) throw invalidArgument(`Couldn't find PID field in ps output`);
  ctx.out(header);
  for (const l of lines.slice(1)) {
    const f = l.trim().split(/\s+/);
    if (pids.has(Number(f[pidCol]))) ctx.out(l);
  }
  return 0;
}

// ------------------------------------------------------------------ stats / port / diff

export async function stats(ctx: CliContext, p: ParsedArgs): Promise<number> {
  const svc = await service(ctx);
  const { formatRows } = await import('../format.js');
  const { collectStats, formatStatsRows } = await import('../../container/stats.js');
  const pick = () => {
    let recs = p.args.length ? p.args.map((a) => svc.get(a)) : svc.list();
    if (!bool(p, 'all') && !p.args.length) recs = recs.filter((r) => r.state.status === 'running' || r.state.status === 'paused');
    return recs;
  };
  const fmt = str(p, 'format');
  const def = 'table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}';
  const headers = { ID: 'CONTAINER ID', Name: 'NAME', CPUPerc: 'CPU %', MemUsage: 'MEM USAGE / LIMIT', MemPerc: 'MEM %', NetIO: 'NET I/O', BlockIO: 'BLOCK I/O', PIDs: 'PIDS', Container: 'CONTAINER' };
  let prev = await collectStats(pick(), svc.engine.paths.cgroupParent);
  await new Promise((r) => setTimeout(r, 500));
  for (;;) {
    const cur = await collectStats(pick(), svc.engine.paths.cgroupParent);
    const rows = formatStatsRows(prev, cur, bool(p, 'no-trunc'));
    const text = formatRows(fmt, rows, { defaultTable: def, headers });
    if (bool(p, 'no-stream')) {
      ctx.stdout.write(text);
      return 0;
    }
    ctx.stdout.write(`\x1b[2J\x1b[H${text}`);
    prev = cur;
    await new Promise((r) => setTimeout(r, 1000));
  }
}

export async function port(ctx: CliContext, p: ParsedArgs): Promise<number> {
  const svc = await service(ctx);
  const { portMap } = await import('../../compat/container-inspect.js');
  const rec = svc.get(p.args[0] as string);
  const m = portMap(rec);
  const { printPorts } = await import('../format.js');
  printPorts(ctx.out, p.args[0] as string, m, p.args[1]);
  return 0;
}

export async function diff(ctx: CliContext, p: ParsedArgs): Promise<number> {
  const svc = await service(ctx);
  const rec = svc.get(p.args[0] as string);
  const { listChanges } = await import('../../layer/diff.js');
  const img = svc.engine.images.get(rec.config.imageId);
  const lowers = img ? svc.engine.layers.lowerChain(img.topLayer).map((l) => svc.engine.layers.layerDir(l.chainId)) : [];
  for (const c of listChanges(svc.dirs(rec.config.id).upper, lowers)) ctx.out(`${c.kind} ${c.path}`);
  return 0;
}

// ------------------------------------------------------------------ commit / cp / export / prune

export async function commit(ctx: CliContext, p: ParsedArgs): Promise<number> {
  const svc = await service(ctx);
  const { commitContainer } = await import('../../engine/commit.js');
  const o: import('../../engine/commit.js').CommitOptions = { changes: list(p, 'change'), pause: p.flags.pause !== false };
  const tag = p.args[1];
  if (tag) o.tag = tag;
  const m = str(p, 'message');
  if (m) o.message = m;
  const a = str(p, 'author');
  if (a) o.author = a;
  const img = await commitContainer(svc, p.args[0] as string, o);
  ctx.out(img.id);
  return 0;
}

export async function cp(ctx: CliContext, p: ParsedArgs): Promise<number> {
  const svc = await service(ctx);
  const { copyFromContainer, copyToContainer } = await import('../../container/copy.js');
  const [src, dst] = p.args as [string, string];
  const from = parseCpArg(src);
  const to = parseCpArg(dst);
  if (from && to) throw invalidArgument('copying between containers is not supported');
  if (!from && !to) throw invalidArgument('must specify at least one container source');
  if (from) {
    await copyFromContainer(svc, from[0], from[1], dst === '-' ? ctx.stdout : dst, { followLink: bool(p, 'follow-link') });
  } else if (to) {
    await copyToContainer(svc, to[0], to[1], src === '-' ? ctx.stdin : src, { archive: bool(p, 'archive') });
  }
  return 0;
}

export async function exportContainer(ctx: CliContext, p: ParsedArgs): Promise<number> {
  const svc = await service(ctx);
  const { exportContainer: exp } = await import('../../container/copy.js');
  const out = str(p, 'output');
  if (!out && ctx.stdout.isTTY) throw invalidArgument('cowardly refusing to save to a terminal. Use the -o flag or redirect');
  if (out) {
    const { writeOutputFile } = await import('../../util/output-file.js');
    await writeOutputFile(out, (w) => exp(svc, p.args[0] as string, w));
  } else await exp(svc, p.args[0] as string, ctx.stdout);
  return 0;
}

export async function prune(ctx: CliContext, p: ParsedArgs): Promise<number> {
  const { pruneOne } = await import('./system.js');
  const r = await pruneOne(ctx, p, 'containers');
  if (r.containers.length) {
    ctx.out('Deleted Containers:');
    for (const d of r.containers) ctx.out(d.id);
    ctx.out('');
  }
  ctx.out(`Total reclaimed space: ${humanSize(r.spaceReclaimed)}`);
  return 0;
}

// ------------------------------------------------------------------ hidden: monitor callbacks

export async function cleanup(ctx: CliContext, p: ParsedArgs): Promise<number> {
  // A (delayed) exit command whose store was deleted meanwhile has nothing to do: never recreate it.
  if (!fs.existsSync(path.join(ctx.globals.root, 'berth.db'))) return 0;
  const svc = await service(ctx);
  try {
    await svc.cleanup(p.args[0] as string);
  } catch (e) {
    // conmon discards our output: leave the reason where `system check` and people can find it.
    const file = path.join(svc.engine.paths.runroot, 'cleanup-errors.log');
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.appendFileSync(file, `${new Date().toISOString()} ${p.args[0]}: ${(e as Error).stack ?? String(e)}\n`);
    throw e;
  }
  return 0;
}

export async function healthMonitor(ctx: CliContext, p: ParsedArgs): Promise<number> {
  const svc = await service(ctx);
  const { runHealthMonitor } = await import('../../container/health.js');
  await runHealthMonitor(svc, p.args[0] as string);
  return 0;
}

/** The port proxy of one container (started by the engine; network/port-proxy.ts). */
export async function portProxy(_ctx: CliContext, p: ParsedArgs): Promise<number> {
  const { runPortProxy } = await import('../../network/port-proxy.js');
  await runPortProxy(p.args[1] as string, p.args.slice(2));
  return 0;
}

export { path };
