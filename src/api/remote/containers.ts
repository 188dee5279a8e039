/**
 * Container commands over the Engine API: the docker CLI's call sequences (create, attach before
 * start, wait next-exit, exec create/start/inspect, resize on SIGWINCH) with the local CLI's output.
 */
import { type ParsedArgs, bool, int, list, parseCpArg, str } from '../../cli/args.js';
import type { CliContext } from '../../cli/context.js';
import { alignColumns, formatRows, printPorts } from '../../cli/format.js';
import { checkCidfile, createOptionsFromFlags, readEnvFile, updateOptionsFromFlags, withConsoleSize, writeCidfile } from '../../cli/run-options.js';
import type { CreateOptions } from '../../container/service.js';
import type { StatsSample } from '../../container/stats.js';
import { parseDetachKeys } from '../../container/attach.js';
import { BerthError, invalidArgument, isNotFound } from '../../errors.js';
import { humanSize, parseSignal, timeAgo } from '../../util/human.js';
import { type ApiClient, demuxTo } from '../client.js';
import { createBodyFromOptions } from '../create-body.js';
import { type RemoteTable, eachArg, enc, filtersParam, qs } from './common.js';
import { pullRemote } from './images.js';

interface PsEntry {
  Id: string;
  Names: string[];
  Image: string;
  Command: string;
  Created: number;
  Status: string;
  State: string;
  Labels: Record<string, string>;
  Ports: { IP?: string; PrivatePort: number; PublicPort?: number; Type: string }[];
  Mounts: { Name: string; Source: string; Type: string }[];
  HostConfig: { NetworkMode: string };
  SizeRw?: number;
  SizeRootFs?: number;
}

interface InspectDoc {
  Id: string;
  Config: { Tty: boolean; OpenStdin: boolean };
  State: { Running: boolean; Status: string };
  HostConfig: { AutoRemove: boolean };
  NetworkSettings: { Ports: Record<string, { HostIp: string; HostPort: string }[] | null> };
}

/** GET /containers/{id}/stats?stream=0, the fields `stats` shows. */
interface StatsDoc {
  read: string;
  preread: string;
  id: string;
  name: string;
  pids_stats: { current?: number; limit?: number };
  cpu_stats: { cpu_usage: { total_usage: number } };
  precpu_stats: { cpu_usage: { total_usage: number } };
  memory_stats: { usage?: number; limit?: number; stats?: { inactive_file?: number } };
}

/** One reading of a stats document (the earlier one with `pre`) as the local stats code takes it. */
function statsSample(d: StatsDoc, pre: boolean): StatsSample {
  const rec = { config: { id: d.id, name: d.name.replace(/^\//, '') } } as unknown as StatsSample['rec'];
  const m = d.memory_stats;
  if (m.usage === undefined) return { rec, at: Date.parse(d.read), stats: undefined };
  return {
    rec,
    at: Date.parse(pre ? d.preread : d.read),
    stats: {
      cpuTotalNs: (pre ? d.precpu_stats : d.cpu_stats).cpu_usage.total_usage,
      memoryUsage: m.usage,
      memoryLimit: m.limit,
      ...(m.stats?.inactive_file !== undefined ? { memoryInactiveFile: m.stats.inactive_file } : {}),
      pidsCurrent: d.pids_stats.current ?? 0,
      pidsLimit: d.pids_stats.limit,
    },
  };
}

/** Go's time.Time.String() (CreatedAt column). */
function goTime(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000 UTC`;
}

/** create, pulling first when the image is missing on the service (docker's order and wording). */
async function createRemote(c: ApiClient, ctx: CliContext, p: ParsedArgs, o: CreateOptions): Promise<string> {
  const { body, name } = createBodyFromOptions(o);
  const policy = str(p, 'pull') ?? 'missing';
  if (!['missing', 'always', 'never'].includes(policy)) throw invalidArgument(`invalid pull option: '${policy}': must be one of "always", "missing" or "never"`);
  const pullTo = async () => pullRemote(c, ctx, o.image, { quiet: bool(p, 'quiet'), out: ctx.stderr, platform: str(p, 'platform') });
  if (policy === 'always') await pullTo();
  const create = async () => (await c.json<{ Id: string }>('POST', `/containers/create${qs({ name })}`, body)).Id;
  try {
    return await create();
  } catch (e) {
    if (policy !== 'missing' || !isNotFound(e) || !/No such image/i.test((e as Error).message)) throw e;
    ctx.err(`Unable to find image '${o.image}' locally`);
    await pullTo();
    return create();
  }
}

/**
 * Attaches to a created or running container, then (with `start`) starts it; returns its exit code
 * (0 when detached with the detach keys). The service connects the attach when start runs, so no
 * output is lost, and `wait?condition=next-exit` is asked before the start like the docker CLI does.
 */
async function attachAndWait(
  c: ApiClient,
  ctx: CliContext,
  id: string,
  o: { start: boolean; stdin: boolean; tty: boolean; detachKeys: string | undefined; sigProxy: boolean; autoRemove?: boolean },
): Promise<number> {
  const n = enc(id);
  if (o.tty && o.stdin && !ctx.stdin.isTTY) throw invalidArgument('the input device is not a TTY');
  // Detach keys as the local CLI has them: ctrl-p,ctrl-q with a TTY unless --detach-keys says otherwise.
  const keys = o.stdin && (o.tty || o.detachKeys !== undefined) ? parseDetachKeys(o.detachKeys) : [];
  const detachKeys = keys.length ? (o.detachKeys ?? 'ctrl-p,ctrl-q') : undefined;
  const conn = await c.hijack(`/containers/${n}/attach${qs({ stream: true, stdout: true, stderr: true, stdin: o.stdin, detachKeys })}`);
  // Like the docker CLI: an AutoRemove container is waited for until it is gone.
  const waited = o.start ? c.json<{ StatusCode: number; Error: { Message: string } | null }>('POST', `/containers/${n}/wait?condition=${o.autoRemove ? 'removed' : 'next-exit'}`) : undefined;
  waited?.catch(() => undefined);
  const raw = o.tty && o.stdin && ctx.stdin.isTTY;
  const resize = () => void c.json('POST', `/containers/${n}/resize${qs({ h: ctx.stdout.rows ?? 24, w: ctx.stdout.columns ?? 80 })}`).catch(() => undefined);
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];
  const forward = (sig: NodeJS.Signals) => void c.json('POST', `/containers/${n}/kill?signal=${sig}`).catch(() => undefined);
  // The service ends the stream both when the container's output ends and when the user typed the
  // detach keys: which one it was is known here, from what stdin sent.
  let matched = 0;
  let detached = false;
  try {
    if (o.start) {
      try {
        await c.json('POST', `/containers/${n}/start`);
      } catch (e) {
        conn.socket.destroy();
        throw startError(e);
      }
    }
    if (raw) ctx.stdin.setRawMode(true);
    if (o.tty && ctx.stdout.isTTY) {
      resize();
      ctx.stdout.on('resize', resize);
    }
    if (o.sigProxy && !o.tty) for (const s of signals) process.on(s, forward);
    if (o.stdin) {
      ctx.stdin.on('data', (d: Buffer) => {
        conn.socket.write(d);
        for (const b of d) matched = b === keys[matched] ? matched + 1 : b === keys[0] ? 1 : 0;
        if (matched === keys.length) detached = true;
      });
      ctx.stdin.on('end', () => (conn.socket as unknown as { end(): void }).end());
      ctx.stdin.resume();
    }
    await demuxTo(conn.socket, ctx.stdout, ctx.stderr, o.tty, conn.head);
  } finally {
    if (raw) ctx.stdin.setRawMode(false);
    ctx.stdout.off('resize', resize);
    for (const s of signals) process.off(s, forward);
    if (o.stdin) ctx.stdin.destroy();
  }
  if (detached && keys.length) {
    let state: InspectDoc | undefined;
    try {
      state = await c.json<InspectDoc>('GET', `/containers/${n}/json`);
    } catch (e) {
      if (!isNotFound(e)) throw e; // removed (--rm): the wait below has its exit code
    }
    if (state?.State.Running) {
      ctx.err('\nread escape sequence');
      return 0;
    }
  }
  const w = await (waited ?? c.json<{ StatusCode: number; Error: { Message: string } | null }>('POST', `/containers/${n}/wait`));
  if (w.Error?.Message) throw new BerthError('internal', w.Error.Message);
  return w.StatusCode;
}

/**
 * A start that failed: the docker CLI reads the runtime's message to pick 127 (command not found)
 * or 126 (cannot be invoked), as the local CLI's error classes do.
 */
function startError(e: unknown): unknown {
  if (!(e instanceof BerthError)) return e;
  if (/executable file not found|no such file or directory/.test(e.message)) return new BerthError('command_not_found', e.message);
  if (/permission denied/.test(e.message)) return new BerthError('cannot_invoke', e.message);
  return e;
}

async function psRemote(c: ApiClient, ctx: CliContext, p: ParsedArgs): Promise<number> {
  const last = int(p, 'last') ?? -1;
  const size = bool(p, 'size');
  const all = bool(p, 'all') || last > 0 || bool(p, 'latest');
  const rows = await c.json<PsEntry[]>('GET', `/containers/json${qs({ all, limit: bool(p, 'latest') ? 1 : last > 0 ? last : undefined, size: size || undefined, filters: filtersParam(list(p, 'filter')) })}`);
  const noTrunc = bool(p, 'no-trunc');
  if (bool(p, 'quiet')) {
    for (const r of rows) ctx.out(noTrunc ? r.Id : r.Id.slice(0, 12));
    return 0;
  }
  const now = Date.now();
  const out = rows.map((r) => ({
    ID: noTrunc ? r.Id : r.Id.slice(0, 12),
    Image: r.Image,
    Command: `"${noTrunc || r.Command.length <= 20 ? r.Command : `${r.Command.slice(0, 19)}…`}"`,
    CreatedAt: goTime(r.Created * 1000),
    RunningFor: timeAgo(r.Created * 1000, now),
    Status: r.Status,
    State: r.State,
    Ports: r.Ports.map((x) => (x.PublicPort ? `${x.IP ?? '0.0.0.0'}:${x.PublicPort}->${x.PrivatePort}/${x.Type}` : `${x.PrivatePort}/${x.Type}`)).join(', '),
    Names: (r.Names[0] ?? '').replace(/^\//, ''),
    Labels: Object.entries(r.Labels ?? {})
      .map(([k, v]) => `${k}=${v}`)
      .join(','),
    Mounts: (r.Mounts ?? []).map((m) => m.Name || m.Source).join(','),
    Networks: r.HostConfig?.NetworkMode ?? '',
    LocalVolumes: String((r.Mounts ?? []).filter((m) => m.Type === 'volume').length),
    Size: size ? `${humanSize(r.SizeRw ?? 0)} (virtual ${humanSize(r.SizeRootFs ?? 0)})` : '',
  }));
  ctx.stdout.write(
    formatRows(str(p, 'format'), out, {
      defaultTable: `table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}${size ? '\t{{.Size}}' : ''}`,
      headers: { ID: 'CONTAINER ID', Image: 'IMAGE', Command: 'COMMAND', RunningFor: 'CREATED', CreatedAt: 'CREATED AT', Status: 'STATUS', Ports: 'PORTS', Names: 'NAMES', Size: 'SIZE', State: 'STATE', Labels: 'LABELS', Mounts: 'MOUNTS', Networks: 'NETWORKS', LocalVolumes: 'LOCAL VOLUMES' },
    }),
  );
  return 0;
}

async function inspectRemote(c: ApiClient, ctx: CliContext, p: ParsedArgs, kinds: ('container' | 'image')[], notFound: string): Promise<number> {
  const docs: unknown[] = [];
  let failed = 0;
  for (const a of p.args) {
    let doc: unknown;
    for (const k of kinds) {
      try {
        doc = await c.json('GET', k === 'container' ? `/containers/${enc(a)}/json${qs({ size: bool(p, 'size') || undefined })}` : `/images/${enc(a)}/json`);
        break;
      } catch (e) {
        if (!isNotFound(e)) throw e;
      }
    }
    if (doc) docs.push(doc);
    else {
      ctx.err(`Error: No such ${notFound}: ${a}`);
      failed++;
    }
  }
  const { printJson } = await import('../../cli/commands/common.js');
  await printJson(ctx, str(p, 'format'), docs);
  return failed ? 1 : 0;
}

async function execRemote(c: ApiClient, ctx: CliContext, p: ParsedArgs): Promise<number> {
  const [name, ...cmd] = p.args as [string, ...string[]];
  const tty = bool(p, 'tty');
  const detach = bool(p, 'detach');
  const interactive = bool(p, 'interactive');
  if (tty && !ctx.stdin.isTTY && !detach) throw invalidArgument('the input device is not a TTY');
  const body: Record<string, unknown> = {
    AttachStdin: interactive && !detach,
    AttachStdout: !detach,
    AttachStderr: !detach,
    Tty: tty,
    Cmd: cmd,
    Env: [...list(p, 'env-file').flatMap(readEnvFile), ...list(p, 'env')],
    Privileged: bool(p, 'privileged'),
  };
  if (str(p, 'user') !== undefined) body.User = str(p, 'user');
  if (str(p, 'workdir') !== undefined) body.WorkingDir = str(p, 'workdir');
  if (str(p, 'detach-keys') !== undefined) body.DetachKeys = str(p, 'detach-keys');
  if (tty && ctx.stdout.isTTY) body.ConsoleSize = [ctx.stdout.rows ?? 24, ctx.stdout.columns ?? 80];
  const { Id: execId } = await c.json<{ Id: string }>('POST', `/containers/${enc(name)}/exec`, body);
  if (detach) {
    await c.json('POST', `/exec/${execId}/start`, { Detach: true, Tty: tty });
    return 0;
  }
  const conn = await c.hijack(`/exec/${execId}/start`, { Detach: false, Tty: tty });
  const raw = tty && ctx.stdin.isTTY;
  const resize = () => void c.json('POST', `/exec/${execId}/resize${qs({ h: ctx.stdout.rows ?? 24, w: ctx.stdout.columns ?? 80 })}`).catch(() => undefined);
  try {
    if (raw) ctx.stdin.setRawMode(true);
    if (tty && ctx.stdout.isTTY) {
      resize();
      ctx.stdout.on('resize', resize);
    }
    if (interactive) {
      ctx.stdin.on('data', (d: Buffer) => conn.socket.write(d));
      ctx.stdin.on('end', () => (conn.socket as unknown as { end(): void }).end());
      ctx.stdin.resume();
    }
    await demuxTo(conn.socket, ctx.stdout, ctx.stderr, tty, conn.head);
  } finally {
    if (raw) ctx.stdin.setRawMode(false);
    ctx.stdout.off('resize', resize);
    if (interactive) ctx.stdin.destroy();
  }
  const doc = await c.json<{ ExitCode: number | null; Running: boolean }>('GET', `/exec/${execId}/json`);
  return doc.ExitCode ?? 0;
}

/** The docker CLI's `diff` letters for the API's change kinds. */
const KIND_LETTER = ['C', 'A', 'D'];

export const CONTAINER_COMMANDS: RemoteTable = {
  'container create': {
    run: async (c, ctx, p) => {
      const o = createOptionsFromFlags(p);
      const cidfile = checkCidfile(p);
      const id = await createRemote(c, ctx, p, o);
      if (cidfile) writeCidfile(cidfile, id);
      ctx.out(id);
      return 0;
    },
  },
  'container run': {
    run: async (c, ctx, p) => {
      const o = withConsoleSize(createOptionsFromFlags(p), () => ctx.stdout);
      const detach = bool(p, 'detach');
      if (detach && o.autoRemove === undefined) o.autoRemove = false;
      if (o.tty && !detach && !ctx.stdin.isTTY) throw new BerthError('invalid_argument', 'the input device is not a TTY');
      const cidfile = checkCidfile(p);
      const id = await createRemote(c, ctx, p, o);
      if (cidfile) writeCidfile(cidfile, id);
      try {
        if (detach) {
          await c.json('POST', `/containers/${id}/start`).catch((e: unknown) => {
            throw startError(e);
          });
          ctx.out(id);
          return 0;
        }
        return await attachAndWait(c, ctx, id, { start: true, stdin: o.openStdin ?? false, tty: o.tty ?? false, detachKeys: str(p, 'detach-keys'), sigProxy: p.flags['sig-proxy'] !== false, autoRemove: o.autoRemove ?? false });
      } catch (e) {
        // A --rm container that never ran is removed, as the local CLI does.
        if (o.autoRemove) await c.json('DELETE', `/containers/${id}?force=1&v=1`).catch(() => undefined);
        throw e;
      }
    },
  },
  'container start': {
    run: async (c, ctx, p) => {
      if (bool(p, 'attach') || bool(p, 'interactive')) {
        if (p.args.length > 1) throw invalidArgument('you cannot start and attach multiple containers at once');
        const doc = await c.json<InspectDoc>('GET', `/containers/${enc(p.args[0] as string)}/json`);
        return attachAndWait(c, ctx, doc.Id, { start: true, stdin: bool(p, 'interactive') && doc.Config.OpenStdin, tty: doc.Config.Tty, detachKeys: str(p, 'detach-keys'), sigProxy: true });
      }
      return eachArg(ctx, p.args, async (a) => void (await c.json('POST', `/containers/${enc(a)}/start`)));
    },
  },
  'container attach': {
    run: async (c, ctx, p) => {
      const doc = await c.json<InspectDoc>('GET', `/containers/${enc(p.args[0] as string)}/json`);
      if (!doc.State.Running) throw new BerthError('conflict', 'You cannot attach to a stopped container, start it first');
      return attachAndWait(c, ctx, doc.Id, { start: false, stdin: doc.Config.OpenStdin && !bool(p, 'no-stdin'), tty: doc.Config.Tty, detachKeys: str(p, 'detach-keys'), sigProxy: p.flags['sig-proxy'] !== false });
    },
  },
  'container stop': {
    run: async (c, ctx, p) => eachArg(ctx, p.args, async (a) => void (await c.json('POST', `/containers/${enc(a)}/stop${qs({ t: int(p, 'time'), signal: str(p, 'signal') })}`))),
  },
  'container kill': {
    run: async (c, ctx, p) => {
      const sig = str(p, 'signal') ?? 'KILL';
      parseSignal(sig);
      return eachArg(ctx, p.args, async (a) => void (await c.json('POST', `/containers/${enc(a)}/kill${qs({ signal: sig })}`)));
    },
  },
  'container restart': {
    run: async (c, ctx, p) => eachArg(ctx, p.args, async (a) => void (await c.json('POST', `/containers/${enc(a)}/restart${qs({ t: int(p, 'time'), signal: str(p, 'signal') })}`))),
  },
  'container pause': { run: async (c, ctx, p) => eachArg(ctx, p.args, async (a) => void (await c.json('POST', `/containers/${enc(a)}/pause`))) },
  'container unpause': { run: async (c, ctx, p) => eachArg(ctx, p.args, async (a) => void (await c.json('POST', `/containers/${enc(a)}/unpause`))) },
  'container rm': {
    run: async (c, ctx, p) => eachArg(ctx, p.args, async (a) => void (await c.json('DELETE', `/containers/${enc(a)}${qs({ force: bool(p, 'force'), v: bool(p, 'volumes') })}`))),
    localOnly: { link: 'links are not supported by Berth' },
  },
  'container wait': {
    run: async (c, ctx, p) => {
      const cond = str(p, 'condition') ?? 'not-running';
      if (!['not-running', 'next-exit', 'removed'].includes(cond)) throw invalidArgument(`invalid condition: "${cond}"`);
      return eachArg(
        ctx,
        p.args,
        async (a) => {
          const w = await c.json<{ StatusCode: number; Error: { Message: string } | null }>('POST', `/containers/${enc(a)}/wait${qs({ condition: cond })}`);
          if (w.Error?.Message) throw new BerthError('internal', w.Error.Message);
          ctx.out(String(w.StatusCode));
        },
        false,
      );
    },
  },
  'container update': {
    run: async (c, ctx, p) => {
      const o = updateOptionsFromFlags(p);
      const r = o.resources;
      const body: Record<string, unknown> = {
        Memory: r.memory,
        MemorySwap: r.memorySwap,
        MemoryReservation: r.memoryReservation,
        NanoCpus: r.nanoCpus,
        CpuShares: r.cpuShares,
        CpuQuota: r.cpuQuota,
        CpuPeriod: r.cpuPeriod,
        CpusetCpus: r.cpusetCpus,
        CpusetMems: r.cpusetMems,
        PidsLimit: r.pidsLimit,
        ...(o.restartPolicy ? { RestartPolicy: { Name: o.restartPolicy.name, MaximumRetryCount: o.restartPolicy.maximumRetryCount } } : {}),
      };
      return eachArg(ctx, p.args, async (a) => void (await c.json('POST', `/containers/${enc(a)}/update`, body)));
    },
  },
  'container rename': {
    run: async (c, _ctx, p) => {
      await c.json('POST', `/containers/${enc(p.args[0] as string)}/rename${qs({ name: p.args[1] })}`);
      return 0;
    },
  },
  'container ls': { run: psRemote },
  'container inspect': { run: (c, ctx, p) => inspectRemote(c, ctx, p, ['container'], 'container') },
  inspect: {
    run: (c, ctx, p) => {
      const type = str(p, 'type');
      if (type && !['container', 'image'].includes(type)) throw invalidArgument(`"${type}" is not a valid value for --type`);
      return inspectRemote(c, ctx, p, type === 'image' ? ['image'] : type === 'container' ? ['container'] : ['container', 'image'], 'object');
    },
  },
  'container logs': {
    run: async (c, ctx, p) => {
      const name = enc(p.args[0] as string);
      const info = await c.json<InspectDoc>('GET', `/containers/${name}/json`);
      const tail = str(p, 'tail') ?? 'all';
      if (tail !== 'all' && !/^-?\d+$/.test(tail)) throw invalidArgument(`invalid value for "tail": ${tail}`);
      const q = qs({ stdout: true, stderr: true, follow: bool(p, 'follow'), timestamps: bool(p, 'timestamps'), tail: tail !== 'all' && Number(tail) < 0 ? 'all' : tail, since: str(p, 'since'), until: str(p, 'until') });
      const res = await c.stream('GET', `/containers/${name}/logs${q}`);
      await demuxTo(res, ctx.stdout, ctx.stderr, info.Config.Tty);
      return 0;
    },
  },
  'container exec': { run: execRemote },
  'container top': {
    run: async (c, ctx, p) => {
      const [name, ...psArgs] = p.args as [string, ...string[]];
      const t = await c.json<{ Titles: string[]; Processes: string[][] }>('GET', `/containers/${enc(name)}/top${qs({ ps_args: psArgs.length ? psArgs.join(' ') : undefined })}`);
      ctx.stdout.write(alignColumns([t.Titles, ...t.Processes].map((r) => `${r.join('\t')}\n`).join(''), 0, 2));
      return 0;
    },
  },
  'container port': {
    run: async (c, ctx, p) => {
      const doc = await c.json<InspectDoc>('GET', `/containers/${enc(p.args[0] as string)}/json`);
      const m = doc.NetworkSettings.Ports ?? {};
      printPorts(ctx.out, p.args[0] as string, m, p.args[1]);
      return 0;
    },
  },
  'container diff': {
    run: async (c, ctx, p) => {
      const changes = await c.json<{ Path: string; Kind: number }[] | null>('GET', `/containers/${enc(p.args[0] as string)}/changes`);
      for (const ch of changes ?? []) ctx.out(`${KIND_LETTER[ch.Kind] ?? 'C'} ${ch.Path}`);
      return 0;
    },
  },
  'container commit': {
    run: async (c, ctx, p) => {
      const q = new URLSearchParams({ container: p.args[0] as string, pause: p.flags.pause === false ? '0' : '1' });
      const tag = p.args[1];
      if (tag) {
        const slash = tag.lastIndexOf('/');
        const colon = tag.lastIndexOf(':');
        q.set('repo', colon > slash ? tag.slice(0, colon) : tag);
        if (colon > slash) q.set('tag', tag.slice(colon + 1));
      }
      if (str(p, 'message')) q.set('comment', str(p, 'message') as string);
      if (str(p, 'author')) q.set('author', str(p, 'author') as string);
      for (const ch of list(p, 'change')) q.append('changes', ch);
      ctx.out((await c.json<{ Id: string }>('POST', `/commit?${q}`, {})).Id);
      return 0;
    },
  },
  'container export': {
    run: async (c, ctx, p) => {
      const out = str(p, 'output');
      if (!out && ctx.stdout.isTTY) throw invalidArgument('cowardly refusing to save to a terminal. Use the -o flag or redirect');
      const { saveTo } = await import('./images.js');
      await saveTo(ctx, await c.stream('GET', `/containers/${enc(p.args[0] as string)}/export`), out);
      return 0;
    },
  },
  'container stats': {
    run: async (c, ctx, p) => {
      const { formatStatsRows } = await import('../../container/stats.js');
      const fmt = str(p, 'format');
      const def = 'table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}';
      const headers = { ID: 'CONTAINER ID', Name: 'NAME', CPUPerc: 'CPU %', MemUsage: 'MEM USAGE / LIMIT', MemPerc: 'MEM %', NetIO: 'NET I/O', BlockIO: 'BLOCK I/O', PIDs: 'PIDS', Container: 'CONTAINER' };
      const pick = async (): Promise<string[]> => {
        if (p.args.length) return p.args;
        const all = await c.json<PsEntry[]>('GET', `/containers/json${qs({ all: bool(p, 'all') })}`);
        return all.map((e) => e.Id);
      };
      // The service samples twice (stream=0); its two readings give the CPU share, as locally.
      const sampleAll = async () => {
        const docs = await Promise.all((await pick()).map((id) => c.json<StatsDoc>('GET', `/containers/${enc(id)}/stats${qs({ stream: false })}`)));
        const prev = docs.map((d) => statsSample(d, true));
        const cur = docs.map((d) => statsSample(d, false));
        return formatStatsRows(prev, cur, bool(p, 'no-trunc'));
      };
      for (;;) {
        const text = formatRows(fmt, await sampleAll(), { defaultTable: def, headers });
        if (bool(p, 'no-stream')) {
          ctx.stdout.write(text);
          return 0;
        }
        ctx.stdout.write(`\x1b[2J\x1b[H${text}`);
        await new Promise((r) => setTimeout(r, 1000));
      }
    },
  },
  'container cp': {
    localOnly: { 'follow-link': 'the archive endpoint copies a link as a link' },
    run: async (c, ctx, p) => {
      const [src, dst] = p.args as [string, string];
      const from = parseCpArg(src);
      const to = parseCpArg(dst);
      if (from && to) throw invalidArgument('copying between containers is not supported');
      if (!from && !to) throw invalidArgument('must specify at least one container source');
      const { pipeline } = await import('node:stream/promises');
      if (from) {
        const res = await c.stream('GET', `/containers/${enc(from[0])}/archive${qs({ path: from[1] })}`);
        if (dst === '-') await pipeline(res, ctx.stdout, { end: false });
        else await (await import('../../container/copy.js')).extractCopyTo(dst, res);
        return 0;
      }
      const [ctr, cpath] = to as [string, string];
      const put = async (dir: string, body: NodeJS.ReadableStream) => {
        const res = await c.stream('PUT', `/containers/${enc(ctr)}/archive${qs({ path: dir })}`, body, { contentType: 'application/x-tar' });
        res.resume();
      };
      if (src === '-') {
        await put(cpath, ctx.stdin);
        return 0;
      }
      const fs = await import('node:fs');
      const path = await import('node:path');
      if (!fs.existsSync(src)) throw new BerthError('not_found', `lstat ${src}: no such file or directory`);
      // Into an existing directory under SRC's name, else as the new name DST (docker's rules).
      let dir = cpath;
      let name = path.basename(src);
      try {
        const head = await c.stream('HEAD', `/containers/${enc(ctr)}/archive${qs({ path: cpath })}`);
        head.resume();
        const stat = JSON.parse(Buffer.from(String(head.headers['x-docker-container-path-stat'] ?? ''), 'base64').toString() || '{}') as { mode?: number };
        const isDir = Math.floor((stat.mode ?? 0) / 2 ** 31) % 2 === 1;
        if (!isDir) {
          dir = path.posix.dirname(cpath);
          name = path.posix.basename(cpath);
        }
      } catch (e) {
        if (!isNotFound(e)) throw e;
        if (cpath.endsWith('/')) throw new BerthError('not_found', `destination directory ${cpath} does not exist`);
        dir = path.posix.dirname(cpath);
        name = path.posix.basename(cpath);
      }
      const { PassThrough } = await import('node:stream');
      const tarStream = new PassThrough();
      const { packTree } = await import('../../container/copy.js');
      const packed = packTree(src, name, tarStream, bool(p, 'archive') ? undefined : { uid: 0, gid: 0 });
      await Promise.all([put(dir, tarStream), packed]);
      return 0;
    },
  },
  'container prune': {
    run: async (c, ctx, p) => {
      const r = await c.json<{ ContainersDeleted: string[] | null; SpaceReclaimed: number }>('POST', `/containers/prune${qs({ filters: filtersParam(list(p, 'filter')) })}`);
      if (r.ContainersDeleted?.length) {
        ctx.out('Deleted Containers:');
        for (const d of r.ContainersDeleted) ctx.out(d);
        ctx.out('');
      }
      ctx.out(`Total reclaimed space: ${humanSize(r.SpaceReclaimed)}`);
      return 0;
    },
  },
};
