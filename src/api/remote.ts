/**
 * `berth --host unix:///path CMD` (or BERTH_HOST): the commands below run through the Engine API
 * with the CLI's output; others are refused with a clear message. Covered: version, ps,
 * images, run -d, create, start, stop, rm, logs, inspect.
 */
import type { ParsedArgs } from '../cli/args.js';
import { bool, int, list, str } from '../cli/args.js';
import type { CommandDef } from '../cli/commands.js';
import type { CliContext } from '../cli/context.js';
import { formatRows } from '../cli/format.js';
import { createOptionsFromFlags } from '../cli/run-options.js';
import type { CreateOptions } from '../container/service.js';
import { BerthError, invalidArgument, isNotFound } from '../errors.js';
import { humanSize, timeAgo } from '../util/human.js';
import { ApiClient, demuxTo } from './client.js';

type Remote = (c: ApiClient, ctx: CliContext, p: ParsedArgs) => Promise<number>;

const COMMANDS: Record<string, Remote> = {
  version: async (c, ctx) => {
    const v = await c.json<{ Version: string; ApiVersion: string }>('GET', '/version');
    const { VERSION } = await import('../version.js');
    ctx.out(`Client: Berth ${VERSION}\nServer: Berth ${v.Version} (API ${v.ApiVersion}) at unix://${c.socketPath}`);
    return 0;
  },
  'container ls': async (c, ctx, p) => {
    const all = bool(p, 'all');
    const rows = await c.json<{ Id: string; Names: string[]; Image: string; Command: string; Created: number; Status: string; State: string; Ports: { IP?: string; PrivatePort: number; PublicPort?: number; Type: string }[] }[]>(
      'GET',
      `/containers/json?all=${all ? 1 : 0}${list(p, 'filter').length ? `&filters=${encodeURIComponent(JSON.stringify(filtersOf(list(p, 'filter'))))}` : ''}`,
    );
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
      RunningFor: timeAgo(r.Created * 1000, now),
      Status: r.Status,
      State: r.State,
      Ports: r.Ports.map((x) => (x.PublicPort ? `${x.IP ?? '0.0.0.0'}:${x.PublicPort}->${x.PrivatePort}/${x.Type}` : `${x.PrivatePort}/${x.Type}`)).join(', '),
      Names: (r.Names[0] ?? '').replace(/^\//, ''),
    }));
    ctx.stdout.write(
      formatRows(str(p, 'format'), out, {
        defaultTable: 'table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}',
        headers: { ID: 'CONTAINER ID', Image: 'IMAGE', Command: 'COMMAND', RunningFor: 'CREATED', Status: 'STATUS', Ports: 'PORTS', Names: 'NAMES', State: 'STATE' },
      }),
    );
    return 0;
  },
  'image ls': async (c, ctx, p) => {
    const imgs = await c.json<{ Id: string; RepoTags: string[]; Created: number; Size: number }[]>('GET', `/images/json?all=${bool(p, 'all') ? 1 : 0}`);
    const now = Date.now();
    const noTrunc = bool(p, 'no-trunc');
    const rows: Record<string, unknown>[] = [];
    for (const i of imgs) {
      const base = { ID: noTrunc ? i.Id : i.Id.slice(7, 19), CreatedSince: timeAgo(i.Created * 1000, now), Size: humanSize(i.Size) };
      if (!i.RepoTags.length) rows.push({ ...base, Repository: '<none>', Tag: '<none>' });
      for (const t of i.RepoTags) {
        const colon = t.lastIndexOf(':');
        rows.push({ ...base, Repository: t.slice(0, colon), Tag: t.slice(colon + 1) });
      }
    }
    if (bool(p, 'quiet')) {
      for (const id of new Set(rows.map((r) => r.ID as string))) ctx.out(id);
      return 0;
    }
    ctx.stdout.write(
      formatRows(str(p, 'format'), rows, {
        defaultTable: 'table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}',
        headers: { ID: 'IMAGE ID', CreatedSince: 'CREATED', Repository: 'REPOSITORY', Tag: 'TAG', Size: 'SIZE' },
      }),
    );
    return 0;
  },
  'container create': async (c, ctx, p) => {
    ctx.out(await createRemote(c, createOptionsFromFlags(p)));
    return 0;
  },
  'container run': async (c, ctx, p) => {
    if (!bool(p, 'detach')) throw invalidArgument('over --host, run supports only -d (detached) so far', { hint: 'add -d, then berth logs -f' });
    const id = await createRemote(c, createOptionsFromFlags(p));
    await c.json('POST', `/containers/${id}/start`);
    ctx.out(id);
    return 0;
  },
  'container start': async (c, ctx, p) => eachArg(ctx, p.args, async (a) => void (await c.json('POST', `/containers/${encodeURIComponent(a)}/start`))),
  'container stop': async (c, ctx, p) => {
    const t = int(p, 'time');
    return eachArg(ctx, p.args, async (a) => void (await c.json('POST', `/containers/${encodeURIComponent(a)}/stop${t !== undefined ? `?t=${t}` : ''}`)));
  },
  'container rm': async (c, ctx, p) =>
    eachArg(ctx, p.args, async (a) => void (await c.json('DELETE', `/containers/${encodeURIComponent(a)}?force=${bool(p, 'force') ? 1 : 0}&v=${bool(p, 'volumes') ? 1 : 0}`))),
  'container logs': async (c, ctx, p) => {
    const name = encodeURIComponent(p.args[0] as string);
    const info = await c.json<{ Config: { Tty: boolean } }>('GET', `/containers/${name}/json`);
    const q = new URLSearchParams({ stdout: '1', stderr: '1', follow: bool(p, 'follow') ? '1' : '0', timestamps: bool(p, 'timestamps') ? '1' : '0', tail: str(p, 'tail') ?? 'all' });
    for (const k of ['since', 'until']) if (str(p, k)) q.set(k, str(p, k) as string);
    const res = await c.stream('GET', `/containers/${name}/logs?${q}`);
    await demuxTo(res, ctx.stdout, ctx.stderr, info.Config.Tty);
    return 0;
  },
  'container inspect': async (c, ctx, p) => (COMMANDS.inspect as Remote)(c, ctx, p),
  inspect: async (c, ctx, p) => {
    const docs: unknown[] = [];
    let failed = 0;
    for (const a of p.args) {
      const n = encodeURIComponent(a);
      try {
        docs.push(await c.json('GET', `/containers/${n}/json`));
      } catch (e) {
        if (!isNotFound(e)) throw e;
        try {
          docs.push(await c.json('GET', `/images/${n}/json`));
        } catch (e2) {
          if (!isNotFound(e2)) throw e2;
          ctx.err(`Error: No such object: ${a}`);
          failed++;
        }
      }
    }
    const { printJson } = await import('../cli/commands/common.js');
    await printJson(ctx, str(p, 'format'), docs);
    return failed ? 1 : 0;
  },
};

function filtersOf(flags: string[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const f of flags) {
    const eq = f.indexOf('=');
    if (eq <= 0) throw invalidArgument('bad format of filter (expected name=value)');
    (out[f.slice(0, eq)] ??= []).push(f.slice(eq + 1));
  }
  return out;
}

async function eachArg(ctx: CliContext, args: string[], fn: (a: string) => Promise<void>): Promise<number> {
  let failed = 0;
  for (const a of args) {
    try {
      await fn(a);
      ctx.out(a);
    } catch (e) {
      if (!(e instanceof BerthError)) throw e;
      ctx.err(`Error response from daemon: ${e.message}`);
      failed++;
    }
  }
  return failed ? 1 : 0;
}

/** The engine's CreateOptions back into Docker's create body (the subset remote mode carries). */
async function createRemote(c: ApiClient, o: CreateOptions): Promise<string> {
  const body: Record<string, unknown> = {
    Image: o.image,
    ...(o.cmd?.length ? { Cmd: o.cmd } : {}),
    ...(o.entrypoint ? { Entrypoint: o.entrypoint } : {}),
    ...(o.env ? { Env: o.env } : {}),
    ...(o.workingDir ? { WorkingDir: o.workingDir } : {}),
    ...(o.user ? { User: o.user } : {}),
    ...(o.hostname ? { Hostname: o.hostname } : {}),
    ...(o.labels ? { Labels: o.labels } : {}),
    Tty: o.tty ?? false,
    OpenStdin: o.openStdin ?? false,
    HostConfig: {
      AutoRemove: o.autoRemove ?? false,
      ...(o.restartPolicy ? { RestartPolicy: { Name: o.restartPolicy.name, MaximumRetryCount: o.restartPolicy.maximumRetryCount } } : {}),
      ...(o.network?.mode ? { NetworkMode: o.network.mode } : {}),
      Binds: (o.mounts ?? []).filter((m) => m.type !== 'tmpfs' && !m.anonymous).map((m) => `${m.name ?? m.source}:${m.destination}${m.readonly ? ':ro' : ''}`),
      PortBindings: Object.fromEntries((o.ports ?? []).map((x) => [`${x.containerPort}/${x.protocol}`, [{ HostIp: x.hostIp, HostPort: x.hostPort ? String(x.hostPort) : '' }]])),
      ...(o.resources?.memory ? { Memory: o.resources.memory } : {}),
      ...(o.init ? { Init: true } : {}),
      ...(o.readOnly ? { ReadonlyRootfs: true } : {}),
    },
  };
  const q = o.name ? `?name=${encodeURIComponent(o.name)}` : '';
  return (await c.json<{ Id: string }>('POST', `/containers/create${q}`, body)).Id;
}

/** Runs `def` through the API at `host`; refuses commands remote mode does not cover. */
export async function runRemote(host: string, def: CommandDef, p: ParsedArgs, ctx: CliContext): Promise<number> {
  const key = def.path.join(' ');
  const fn = COMMANDS[key];
  if (!fn) throw new BerthError('not_implemented', `"berth ${key}" does not run over --host/BERTH_HOST yet`, { hint: `covered: ${Object.keys(COMMANDS).join(', ')}; unset BERTH_HOST to use the local store` });
  return fn(new ApiClient(host), ctx, p);
}
