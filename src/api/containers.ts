/**
 * /containers/* : Docker's shapes around ContainerService (no lifecycle logic here).
 */
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import { CONTAINER_FILTERS, listContainers } from '../container/list.js';
import { PassThrough, Writable } from 'node:stream';
import { commandColumn, dockerContainerInspect, portMap } from '../compat/container-inspect.js';
import { attach as attachSocket, parseDetachKeys, resizeTerminal } from '../container/attach.js';
import { followLog, readLog, readLogFrom, type LogLine } from '../container/logs.js';
import type { ContainerService } from '../container/service.js';
import { pidAlive } from '../util/process.js';
import type { ContainerRecord } from '../container/types.js';
import { BerthError, invalidArgument, isNotFound } from '../errors.js';
import { statusString } from '../util/human.js';
import { createOptionsFromBody, resourcesFromHostConfig } from './create-body.js';
import { type ApiContext, type Router, frame, hijack, noContent, qBool, qFilters, qInt, readJson, sendJson } from './http.js';

export interface ApiState {
  svc: ContainerService;
  /** Attach requests that arrived before the container started (docker run attaches, then starts). */
  pendingAttach: Map<string, Set<(rec: ContainerRecord) => void>>;
  /**
   * Exit codes of --rm containers started here, kept a minute after removal: a client's wait can
   * arrive after the monitor already removed a short-lived container (docker run --rm sends it
   * from a goroutine, racing the start).
   */
  autoRemoved: Map<string, Promise<number>>;
}

const live = (r: ContainerRecord) => r.state.status === 'running' || r.state.status === 'paused' || r.state.status === 'restarting';

export function psEntry(r: ContainerRecord): Record<string, unknown> {
  const now = Date.now();
  const ports: Record<string, unknown>[] = [];
  for (const [k, v] of Object.entries(portMap(r))) {
    const [p, type] = k.split('/') as [string, string];
    if (!v) ports.push({ PrivatePort: Number(p), Type: type });
    else for (const b of v) ports.push({ IP: b.HostIp, PrivatePort: Number(p), PublicPort: Number(b.HostPort), Type: type });
  }
  return {
    Id: r.config.id,
    Names: [`/${r.config.name}`],
    Image: r.config.image,
    ImageID: r.config.imageId,
    Command: commandColumn(r, true).slice(1, -1),
    Created: Math.floor(r.config.created / 1000),
    Ports: ports,
    Labels: r.config.labels,
    State: r.state.status,
    Status: statusString(
      { status: r.state.status, exitCode: r.state.exitCode, startedAt: r.state.startedAt, finishedAt: r.state.finishedAt, ...(r.state.health ? { health: r.state.health.status } : {}) },
      now,
    ),
    HostConfig: { NetworkMode: r.config.network.mode },
    NetworkSettings: { Networks: {} },
    Mounts: r.config.mounts.map((m) => ({ Type: m.type, Name: m.name ?? '', Source: m.source, Destination: m.destination, RW: !m.readonly })),
  };
}

export function registerContainers(router: Router, st: ApiState): void {
  const { svc } = st;

  router.add('GET', '/containers/json', async (ctx) => {
    const q = ctx.query;
    const filters = qFilters(q, CONTAINER_FILTERS);
    const limit = qInt(q, 'limit') ?? -1;
    const recs = listContainers(svc, { all: qBool(q, 'all'), last: limit, filters });
    // size=1: the writable layer's size, and with the image's (docker's SizeRw and SizeRootFs).
    const size = qBool(q, 'size');
    sendJson(
      ctx,
      200,
      recs.map((r) => {
        if (!size) return psEntry(r);
        const rw = svc.writableLayerUsage(r.config.id).bytes;
        return { ...psEntry(r), SizeRw: rw, SizeRootFs: rw + (svc.engine.images.get(r.config.imageId)?.size ?? 0) };
      }),
    );
  });

  router.add('POST', '/containers/create', async (ctx) => {
    const body = await readJson(ctx.req);
    const name = ctx.query.get('name') ?? undefined;
    const rec = svc.create(createOptionsFromBody(body, name));
    sendJson(ctx, 201, { Id: rec.config.id, Warnings: [] });
  });

  router.add('GET', '/containers/{id}/json', async (ctx) => {
    const doc = dockerContainerInspect(svc, svc.get(ctx.params.id as string), { size: qBool(ctx.query, 'size') });
    // Clients (docker-py's run, compose) read logs only from drivers they know; Berth's k8s-file
    // log answers /logs exactly like json-file, so API clients are told json-file.
    const hc = doc.HostConfig as { LogConfig?: { Type: string } } | undefined;
    if (hc?.LogConfig) hc.LogConfig.Type = 'json-file';
    await addConfiguredNetworks(doc, svc.get(ctx.params.id as string));
    sendJson(ctx, 200, doc);
  });

  router.add('POST', '/containers/{id}/start', async (ctx) => {
    await readJson(ctx.req); // old clients send a HostConfig here; it is ignored like dockerd >= 1.24
    const rec = svc.get(ctx.params.id as string);
    if (rec.state.status === 'running') return noContent(ctx, 304);
    const waiting = st.pendingAttach.get(rec.config.id);
    const id = rec.config.id;
    const starting = svc.start(id, {
      // AutoRemove: the service claims the exit and removes the container as soon as it sees it
      // (like a foreground `berth run --rm`), so no `berth container cleanup` process starts on the
      // way to the client's answer (conmon's exit command runs it only if the service has died).
      ...(rec.config.autoRemove ? { ownExit: true } : {}),
      beforeStart: (r) => {
        for (const connect of waiting ?? []) connect(r);
        st.pendingAttach.delete(id);
      },
    });
    try {
      await starting;
    } catch (e) {
      // dockerd removes an AutoRemove container whose start failed (`docker run --rm` waits for that).
      if (rec.config.autoRemove) {
        svc.releaseExit(id);
        await svc.remove(id, { force: true, volumes: true }).catch(() => undefined);
      }
      throw e;
    }
    if (rec.config.autoRemove) {
      const code = svc
        .wait(id, 'not-running')
        .then(async (c) => {
          await svc.remove(id, { volumes: true }).catch((e: unknown) => {
            if (!isNotFound(e)) throw e;
          });
          return c;
        })
        .catch(() => {
          svc.releaseExit(id); // let the monitor's exit command clean up instead
          return -1;
        });
      st.autoRemoved.set(id, code);
      autoRemoveStarted.emit(id);
      void code.then(() => setTimeout(() => st.autoRemoved.delete(id), 60_000).unref());
    }
    noContent(ctx);
  });

  router.add('POST', '/containers/{id}/stop', async (ctx) => {
    const rec = svc.get(ctx.params.id as string);
    if (!live(rec)) return noContent(ctx, 304);
    const o: { timeout?: number; signal?: string } = {};
    const t = qInt(ctx.query, 't');
    if (t !== undefined) o.timeout = t;
    const sig = ctx.query.get('signal');
    if (sig) o.signal = normSignal(sig);
    await svc.stop(rec.config.id, o);
    noContent(ctx);
  });

  router.add('POST', '/containers/{id}/restart', async (ctx) => {
    const t = qInt(ctx.query, 't');
    await svc.restart(ctx.params.id as string, t !== undefined ? { timeout: t } : {});
    noContent(ctx);
  });

  router.add('POST', '/containers/{id}/kill', async (ctx) => {
    const sig = ctx.query.get('signal') || 'SIGKILL';
    await svc.kill(ctx.params.id as string, /^\d+$/.test(sig) ? Number(sig) : normSignal(sig));
    noContent(ctx);
  });

  router.add('POST', '/containers/{id}/pause', async (ctx) => {
    await svc.pause(ctx.params.id as string);
    noContent(ctx);
  });
  router.add('POST', '/containers/{id}/unpause', async (ctx) => {
    await svc.unpause(ctx.params.id as string);
    noContent(ctx);
  });

  router.add('POST', '/containers/{id}/wait', async (ctx) => {
    const cond = ctx.query.get('condition') || 'not-running';
    if (!['not-running', 'next-exit', 'removed'].includes(cond)) throw invalidArgument(`invalid condition: "${cond}"`);
    let rec: ContainerRecord;
    try {
      rec = svc.get(ctx.params.id as string);
    } catch (e) {
      const gone = isNotFound(e) ? st.autoRemoved.get(ctx.params.id as string) : undefined;
      if (!gone) throw e;
      return sendJson(ctx, 200, { StatusCode: await gone, Error: null });
    }
    // Headers go out at once (the docker CLI waits for them before it starts the container).
    const res = ctx.res as NonNullable<ApiContext['res']>;
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.flushHeaders();
    let body: Record<string, unknown>;
    try {
      // `run --rm` waits for "removed": the service's own removal (set up by start) answers it.
      const id = rec.config.id;
      const code = await (cond === 'removed'
        ? waitRemoved(st, id, ctx.signal)
        : svc.wait(id, cond as 'not-running', { signal: ctx.signal }).catch((e: unknown) => {
            // Removed under the wait by the service's AutoRemove: the removal knows the exit code.
            const own = isNotFound(e) ? st.autoRemoved.get(id) : undefined;
            if (!own) throw e;
            return own;
          }));
      body = { StatusCode: code, Error: null };
    } catch (e) {
      if (ctx.signal.aborted) return;
      body = { StatusCode: -1, Error: { Message: (e as Error).message } };
    }
    res.end(`${JSON.stringify(body)}\n`);
  });

  router.add('DELETE', '/containers/{id}', async (ctx) => {
    await svc.remove(ctx.params.id as string, { force: qBool(ctx.query, 'force'), volumes: qBool(ctx.query, 'v') });
    noContent(ctx);
  });

  router.add('POST', '/containers/{id}/rename', async (ctx) => {
    const name = ctx.query.get('name');
    if (!name) throw invalidArgument('rename needs ?name=NEW_NAME');
    const rec = svc.get(ctx.params.id as string);
    svc.store.rename(rec.config.id, name.replace(/^\//, ''));
    noContent(ctx);
  });

  router.add('POST', '/containers/{id}/update', async (ctx) => {
    const body = await readJson(ctx.req);
    const o: Parameters<ContainerService['update']>[1] = { resources: resourcesFromHostConfig(body) };
    // docker update --pids-limit 0 (or -1) lifts the limit; an absent PidsLimit leaves it.
    if (body.PidsLimit === 0 && o.resources) o.resources.pidsLimit = -1;
    const rp = body.RestartPolicy as { Name?: string; MaximumRetryCount?: number } | undefined;
    if (rp?.Name) {
      if (!['no', 'always', 'on-failure', 'unless-stopped'].includes(rp.Name)) throw invalidArgument(`invalid restart policy '${rp.Name}'`);
      o.restartPolicy = { name: rp.Name as 'no', maximumRetryCount: rp.MaximumRetryCount ?? 0 };
    }
    await svc.update(ctx.params.id as string, o);
    sendJson(ctx, 200, { Warnings: [] });
  });

  router.add('POST', '/containers/{id}/resize', async (ctx) => {
    const rec = svc.get(ctx.params.id as string);
    const h = qInt(ctx.query, 'h') ?? 0;
    const w = qInt(ctx.query, 'w') ?? 0;
    if (rec.config.tty && live(rec)) resizeTerminal(svc.dirs(rec.config.id).ctl, h, w);
    noContent(ctx, 200);
  });

  router.add('GET', '/containers/{id}/logs', async (ctx) => logs(ctx, svc));
  router.add('POST', '/containers/{id}/attach', async (ctx) => attach(ctx, st));

  router.add('GET', '/containers/{id}/top', async (ctx) => {
    const rec = svc.get(ctx.params.id as string);
    if (!live(rec)) throw new BerthError('conflict', `Container ${rec.config.id} is not running`);
    const pids = new Set(await svc.runtime(rec.config.runtime).ps(rec.config.id));
    const psArgs = (ctx.query.get('ps_args') || '-ef').split(/\s+/).filter(Boolean);
    const { execFile } = await import('node:child_process');
    const out = await new Promise<string>((resolve, reject) =>
      execFile('ps', psArgs, (err, stdout, stderr) => (err ? reject(invalidArgument(`ps: ${stderr.trim() || err.message}`)) : resolve(stdout))),
    );
    const lines = out.split('\n').filter(Boolean);
    const titles = (lines[0] ?? '').trim().split(/\s+/);
    const pidCol = titles.indexOf('PID');
    if (pidCol < 0) throw invalidArgument(`Couldn't find PID field in ps output`);
    const procs = lines.slice(1).map((l) => {
      const f = l.trim().split(/\s+/);
      return [...f.slice(0, titles.length - 1), f.slice(titles.length - 1).join(' ')];
    });
    sendJson(ctx, 200, { Titles: titles, Processes: procs.filter((f) => pids.has(Number(f[pidCol]))) });
  });

  router.add('GET', '/containers/{id}/changes', async (ctx) => {
    const rec = svc.get(ctx.params.id as string);
    const { listChanges } = await import('../layer/diff.js');
    const img = svc.engine.images.get(rec.config.imageId);
    const lowers = img ? svc.engine.layers.lowerChain(img.topLayer).map((l) => svc.engine.layers.layerDir(l.chainId)) : [];
    const kinds: Record<string, number> = { C: 0, A: 1, D: 2 };
    sendJson(ctx, 200, listChanges(svc.dirs(rec.config.id).upper, lowers).map((c) => ({ Path: c.path, Kind: kinds[c.kind] ?? 0 })));
  });

  router.add('GET', '/containers/{id}/export', async (ctx) => {
    const { exportContainer } = await import('../container/copy.js');
    svc.get(ctx.params.id as string);
    const res = ctx.res as NonNullable<ApiContext['res']>;
    res.writeHead(200, { 'Content-Type': 'application/x-tar' });
    await exportContainer(svc, ctx.params.id as string, res);
  });

  router.add('GET', '/containers/{id}/stats', async (ctx) => stats(ctx, svc));
  router.add('HEAD', '/containers/{id}/archive', async (ctx) => archiveGet(ctx, svc, true));
  router.add('GET', '/containers/{id}/archive', async (ctx) => archiveGet(ctx, svc, false));
  router.add('PUT', '/containers/{id}/archive', async (ctx) => {
    const p = ctx.query.get('path');
    if (!p) throw invalidArgument('archive needs ?path=');
    const { copyToContainer } = await import('../container/copy.js');
    await copyToContainer(svc, ctx.params.id as string, p, ctx.req, {});
    noContent(ctx, 200);
  });
}

// ------------------------------------------------------------------ helpers

/**
 * dockerd lists a container's networks (with its short ID as an alias) from create on, not only
 * while it runs; compose decides whether to connect a created container from this.
 */
async function addConfiguredNetworks(doc: Record<string, unknown>, rec: ContainerRecord): Promise<void> {
  const net = await import('../network/service.js').catch((e: unknown) => {
    if ((e as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND') return undefined;
    throw e;
  });
  const ns = doc.NetworkSettings as { Networks?: Record<string, { Aliases?: string[] | null }> } | undefined;
  if (!net || !ns) return;
  ns.Networks ??= {};
  const short = rec.config.id.slice(0, 12);
  for (const n of net.containerNetworks(rec)) {
    if (['none', 'host'].includes(n) || n.startsWith('container:')) continue;
    const ep = (ns.Networks[n] ??= { Aliases: [...rec.config.network.aliases] });
    if (n !== 'bridge' && !(ep.Aliases ?? []).includes(short)) ep.Aliases = [...(ep.Aliases ?? []), short];
  }
}

export function normSignal(s: string): string {
  if (/^\d+$/.test(s)) return s;
  const u = s.toUpperCase();
  return u.startsWith('SIG') ? u : `SIG${u}`;
}

/** Unix seconds (fractions allowed), RFC 3339, or a Go duration ago (10m). */
export function parseTimeArg(v: string, what: string): number {
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v) * 1000;
  const rel = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(v);
  if (rel) return Date.now() - Number(rel[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[rel[2] as 'ms'];
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw invalidArgument(`invalid value for "${what}": ${v}`);
  return t;
}

/** Announces (by container ID) that start has set up the service's own removal of an AutoRemove container. */
const autoRemoveStarted = new EventEmitter().setMaxListeners(0);

/**
 * wait?condition=removed (`docker run --rm` asks it before it starts the container): answered by
 * the service's own removal once start has set it up, so the answer leaves the moment the
 * container is gone and carries the exit code that removal saw; svc.wait covers the rest
 * (containers without AutoRemove, removed by someone else).
 */
function waitRemoved(st: ApiState, id: string, signal: AbortSignal): Promise<number> {
  const own = st.autoRemoved.get(id);
  if (own) return own;
  const ac = new AbortController();
  const onAbort = () => ac.abort();
  signal.addEventListener('abort', onAbort, { once: true });
  let onStarted: () => void = () => undefined;
  const handedOver = new Promise<number>((resolve, reject) => {
    onStarted = () => {
      const p = st.autoRemoved.get(id);
      if (p) p.then(resolve, reject);
    };
    autoRemoveStarted.once(id, onStarted);
  });
  const polled = st.svc.wait(id, 'removed', { signal: ac.signal }).then((c) => st.autoRemoved.get(id) ?? c);
  polled.catch(() => undefined);
  return Promise.race([polled, handedOver]).finally(() => {
    autoRemoveStarted.off(id, onStarted);
    signal.removeEventListener('abort', onAbort);
    ac.abort();
  });
}

async function logs(ctx: ApiContext, svc: ContainerService): Promise<void> {
  const q = ctx.query;
  const rec = svc.get(ctx.params.id as string);
  const wantOut = qBool(q, 'stdout');
  const wantErr = qBool(q, 'stderr');
  if (!wantOut && !wantErr) throw invalidArgument('Bad parameters: you must choose at least one stream');
  const file = svc.logFile(rec);
  const opts: { tail?: number; since?: number; until?: number } = {};
  const tail = q.get('tail') ?? 'all';
  if (tail !== 'all' && tail !== '' && !/^-?\d+$/.test(tail)) throw invalidArgument(`invalid value for "tail": ${tail}`);
  if (/^\d+$/.test(tail)) opts.tail = Number(tail);
  const since = q.get('since');
  if (since && since !== '0') opts.since = parseTimeArg(since, 'since');
  const until = q.get('until');
  if (until && until !== '0') opts.until = parseTimeArg(until, 'until');
  const ts = qBool(q, 'timestamps');
  const tty = rec.config.tty;
  const res = ctx.res as NonNullable<ApiContext['res']>;
  res.writeHead(200, { 'Content-Type': tty ? 'application/vnd.docker.raw-stream' : 'application/vnd.docker.multiplexed-stream' });
  res.flushHeaders();
  const emit = (l: LogLine) => {
    if (opts.until !== undefined && l.ms > opts.until) return;
    if (opts.since !== undefined && l.ms < opts.since) return;
    if (l.stream === 'stderr' ? !wantErr : !wantOut) return;
    const data = Buffer.from(`${ts ? `${l.time} ` : ''}${l.text}${l.newline ? '\n' : ''}`);
    res.write(tty ? data : frame(l.stream === 'stderr' ? 2 : 1, data));
  };
  const follow = qBool(q, 'follow') && opts.until === undefined;
  // Right after an exit the monitor may still be draining the output into the log (conmon writes
  // the exit file first): a reader that is not following waits for it (briefly) to see it all.
  if (!follow && !live(rec)) {
    const writer = svc.logWriterPid(rec);
    for (let i = 0; i < 40 && writer && pidAlive(writer); i++) await new Promise((r) => setTimeout(r, 25));
  }
  const { lines, cursor } = readLogFrom(file, opts, follow);
  for (const l of lines) emit(l);
  if (follow) {
    const id = rec.config.id;
    let cur: ContainerRecord | undefined = rec;
    // Like dockerd: following a container that was created but never started waits for its start.
    while (cur?.state.status === 'created' && !ctx.signal.aborted) {
      await new Promise((r) => setTimeout(r, 100));
      cur = svc.store.get(id);
    }
    if (!cur || ctx.signal.aborted) {
      if (cursor) fs.closeSync(cursor.fd);
      return void res.end();
    }
    // Started meanwhile (it may already have exited: its monitor's exit still marks the end).
    const monitorPid = svc.logWriterPid(cur);
    await followLog(
      file,
      cursor,
      emit,
      () => {
        // conmon drains the container's output before it exits: its exit (not the exit file,
        // which it writes first) means the log is complete.
        return !svc.store.get(id) || !pidAlive(monitorPid);
      },
      ctx.signal,
    );
  }
  res.end();
}

/** Attach: stream output (and take stdin) through a hijacked connection, framed unless TTY. */
async function attach(ctx: ApiContext, st: ApiState): Promise<void> {
  const { svc } = st;
  const q = ctx.query;
  const rec = svc.get(ctx.params.id as string);
  const id = rec.config.id;
  const tty = rec.config.tty;
  const wantIn = qBool(q, 'stdin') && rec.config.openStdin;
  const wantOut = qBool(q, 'stdout');
  const wantErr = qBool(q, 'stderr');
  const stream = qBool(q, 'stream');
  if (!live(rec) && rec.state.status !== 'created' && stream) throw new BerthError('conflict', 'You cannot attach to a stopped container, start it first');
  const conn = hijack(ctx, !tty);
  const sink = (kind: 1 | 2, want: boolean) =>
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        if (!want || conn.out.destroyed) return cb();
        conn.out.write(tty ? chunk : frame(kind, chunk), () => cb());
      },
    });
  if (qBool(q, 'logs'))
    for (const l of readLog(svc.dirs(id).log)) {
      const want = l.stream === 'stderr' ? wantErr : wantOut;
      const data = Buffer.from(`${l.text}${l.newline ? '\n' : ''}`);
      if (want) conn.out.write(tty ? data : frame(l.stream === 'stderr' ? 2 : 1, data));
    }
  if (!stream) return conn.end();
  // stdin goes through a PassThrough so the socket itself is never paused/resumed by attach().
  const stdin = new PassThrough();
  if (wantIn) conn.input.pipe(stdin);
  const detachKeys = q.get('detachKeys');
  const connect = () => {
    const s = attachSocket(svc.dirs(id).attach, {
      stdout: sink(1, wantOut),
      stderr: sink(2, wantErr),
      ...(wantIn ? { stdin } : {}),
      // dockerd's default (ctrl-p ctrl-q) when the client names none, as the local CLI does for a TTY.
      detachKeys: wantIn && (detachKeys !== null || tty) ? parseDetachKeys(detachKeys ?? undefined) : [],
    });
    const onGone = () => s.close();
    ctx.signal.addEventListener('abort', onGone, { once: true });
    return s.done.then(() => {
      ctx.signal.removeEventListener('abort', onGone);
    });
  };
  let done: Promise<void>;
  if (live(rec)) done = connect();
  else {
    // docker run attaches before it starts the container: connect when start runs the hook.
    done = new Promise<void>((resolve) => {
      const set = st.pendingAttach.get(id) ?? new Set();
      const hook = () => {
        connect().then(resolve, resolve);
      };
      set.add(hook);
      st.pendingAttach.set(id, set);
      ctx.signal.addEventListener(
        'abort',
        () => {
          set.delete(hook);
          if (!set.size) st.pendingAttach.delete(id);
          resolve();
        },
        { once: true },
      );
    });
  }
  try {
    await done;
  } finally {
    conn.input.unpipe(stdin);
    if (!ctx.signal.aborted) conn.end();
  }
}

async function stats(ctx: ApiContext, svc: ContainerService): Promise<void> {
  const rec = svc.get(ctx.params.id as string);
  const streamOut = qBool(ctx.query, 'stream', true) && !qBool(ctx.query, 'one-shot');
  const { collectStats } = await import('../container/stats.js');
  const os = await import('node:os');
  const ncpu = os.cpus().length;
  let prev: { at: number; cpu: number; sys: number } | undefined;
  const sysCpu = () => {
    const t = os.cpus().reduce((a, c) => a + c.times.user + c.times.nice + c.times.sys + c.times.idle + c.times.irq, 0);
    return t * 1e6; // ms -> ns
  };
  const sample = async () => {
    const cur = svc.get(rec.config.id);
    const [s] = await collectStats([cur], svc.engine.paths.cgroupParent);
    const c = s?.stats;
    const now = { at: Date.now(), cpu: c?.cpuTotalNs ?? 0, sys: sysCpu() };
    const doc = {
      read: new Date(now.at).toISOString(),
      preread: prev ? new Date(prev.at).toISOString() : '0001-01-01T00:00:00Z',
      id: cur.config.id,
      name: `/${cur.config.name}`,
      pids_stats: c ? { current: c.pidsCurrent, ...(c.pidsLimit !== undefined ? { limit: c.pidsLimit } : {}) } : {},
      blkio_stats: { io_service_bytes_recursive: null, io_serviced_recursive: null },
      num_procs: 0,
      storage_stats: {},
      cpu_stats: { cpu_usage: { total_usage: now.cpu, usage_in_kernelmode: 0, usage_in_usermode: 0 }, system_cpu_usage: now.sys, online_cpus: ncpu, throttling_data: { periods: 0, throttled_periods: 0, throttled_time: 0 } },
      precpu_stats: prev
        ? { cpu_usage: { total_usage: prev.cpu, usage_in_kernelmode: 0, usage_in_usermode: 0 }, system_cpu_usage: prev.sys, online_cpus: ncpu, throttling_data: { periods: 0, throttled_periods: 0, throttled_time: 0 } }
        : { cpu_usage: { total_usage: 0, usage_in_kernelmode: 0, usage_in_usermode: 0 }, throttling_data: { periods: 0, throttled_periods: 0, throttled_time: 0 } },
      memory_stats: c
        ? { usage: c.memoryUsage, limit: c.memoryLimit ?? os.totalmem(), stats: c.memoryInactiveFile !== undefined ? { inactive_file: c.memoryInactiveFile, total_inactive_file: c.memoryInactiveFile } : {} }
        : {},
      networks: {},
    };
    prev = now;
    return doc;
  };
  const res = ctx.res as NonNullable<ApiContext['res']>;
  if (!streamOut) {
    await sample();
    await new Promise((r) => setTimeout(r, 200));
    return sendJson(ctx, 200, await sample());
  }
  res.writeHead(200, { 'Content-Type': 'application/json' });
  while (!ctx.signal.aborted) {
    res.write(`${JSON.stringify(await sample())}\n`);
    await new Promise((r) => setTimeout(r, 1000));
    if (!live(svc.get(rec.config.id))) {
      res.write(`${JSON.stringify(await sample())}\n`);
      break;
    }
  }
  res.end();
}

async function archiveGet(ctx: ApiContext, svc: ContainerService, headOnly: boolean): Promise<void> {
  const p = ctx.query.get('path');
  if (!p) throw invalidArgument('archive needs ?path=');
  const { copyFromContainer, statInContainer } = await import('../container/copy.js');
  const st = await statInContainer(svc, ctx.params.id as string, p);
  const res = ctx.res as NonNullable<ApiContext['res']>;
  res.setHeader('X-Docker-Container-Path-Stat', Buffer.from(JSON.stringify(st)).toString('base64'));
  if (headOnly) {
    res.writeHead(200).end();
    return;
  }
  res.writeHead(200, { 'Content-Type': 'application/x-tar' });
  await copyFromContainer(svc, ctx.params.id as string, p, res);
}

export { isNotFound };
