/** /_ping, /version, /info, /system/df, /events, /auth. */
import fs from 'node:fs';
import os from 'node:os';
import type { ContainerService } from '../container/service.js';
import type { Engine } from '../engine/engine.js';
import { type EngineEvent, eventsFile } from '../engine/events.js';
import { VERSION } from '../version.js';
import { parseTimeArg, psEntry } from './containers.js';
import { API_MAX, API_MIN, type ApiContext, type Router, qFilters, readJson, sendJson } from './http.js';

export const SERVER_HEADER = `Berth/${VERSION} (linux)`;

function versionDoc(): Record<string, unknown> {
  return {
    Platform: { Name: 'Berth' },
    Components: [{ Name: 'Engine', Version: VERSION, Details: { ApiVersion: API_MAX, MinAPIVersion: API_MIN, Os: 'linux', Arch: goArch() } }],
    Version: VERSION,
    ApiVersion: API_MAX,
    MinAPIVersion: API_MIN,
    GitCommit: '',
    GoVersion: `node${process.versions.node}`,
    Os: 'linux',
    Arch: goArch(),
    KernelVersion: os.release(),
    BuildTime: '',
  };
}

function goArch(): string {
  return ({ x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386' } as Record<string, string>)[process.arch] ?? process.arch;
}

export function registerSystem(router: Router, engine: Engine, svc: ContainerService): void {
  const ping = async (ctx: ApiContext) => {
    const res = ctx.res as NonNullable<ApiContext['res']>;
    res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-cache, no-store, must-revalidate', Pragma: 'no-cache', 'Content-Length': 2 });
    res.end(ctx.req.method === 'HEAD' ? undefined : 'OK');
  };
  router.add('GET', '/_ping', ping);
  router.add('HEAD', '/_ping', ping);
  router.add('GET', '/version', async (ctx) => sendJson(ctx, 200, versionDoc()));
  router.add('GET', '/info', async (ctx) => {
    const { systemInfo } = await import('../engine/system.js');
    const base = await systemInfo(engine);
    sendJson(ctx, 200, {
      ID: '',
      ...base,
      Driver: 'overlay2',
      DriverStatus: [['Backing Filesystem', 'extfs']],
      Plugins: { Volume: ['local'], Network: ['bridge', 'host', 'none'], Log: ['json-file'] },
      MemoryLimit: true,
      SwapLimit: true,
      CpuCfsPeriod: true,
      CpuCfsQuota: true,
      PidsLimit: true,
      IPv4Forwarding: true,
      Debug: false,
      LoggingDriver: 'json-file',
      CgroupDriver: 'cgroupfs',
      Runtimes: { runc: { path: 'runc' } },
      IndexServerAddress: 'https://index.docker.io/v1/',
      RegistryConfig: { IndexConfigs: {}, InsecureRegistryCIDRs: ['127.0.0.0/8'] },
      SecurityOptions: ['name=seccomp,profile=builtin'],
      ExperimentalBuild: false,
      Labels: [],
      Warnings: null,
    });
  });
  router.add('GET', '/system/df', async (ctx) => {
    const images = engine.images.list();
    const used = new Set(svc.store.list().map((c) => c.config.imageId));
    const { VolumeService } = await import('../volume/service.js');
    const { dirSize } = await import('../engine/system.js');
    const vols = new VolumeService(engine);
    sendJson(ctx, 200, {
      LayersSize: images.reduce((a, i) => a + i.size, 0),
      Images: images.map((i) => ({ Id: i.id, ParentId: i.parent ?? '', RepoTags: i.tags, RepoDigests: i.repoDigests, Created: Math.floor(i.created / 1000), Size: i.size, SharedSize: -1, VirtualSize: i.size, Labels: i.labels, Containers: used.has(i.id) ? 1 : 0 })),
      Containers: svc.list().map((r) => ({ ...psEntry(r), SizeRw: svc.writableLayerUsage(r.config.id).bytes })),
      Volumes: vols.list().map((v) => ({ Name: v.name, Driver: v.driver, Mountpoint: v.mountpoint, Labels: v.labels, Scope: 'local', Options: v.options, UsageData: { Size: dirSize(v.mountpoint), RefCount: vols.users(v.name).length } })),
      BuildCache: [],
    });
  });
  router.add('POST', '/auth', async (ctx) => {
    await readJson(ctx.req);
    sendJson(ctx, 200, { Status: 'Login Succeeded', IdentityToken: '' });
  });
  router.add('GET', '/events', async (ctx) => events(ctx, engine));
}

/** Replays <runroot>/events.jsonl from `since` and tails it until `until` or the client leaves. */
async function events(ctx: ApiContext, engine: Engine): Promise<void> {
  const q = ctx.query;
  const filters = qFilters(q, ['type', 'event', 'container', 'image', 'volume', 'network', 'label', 'scope', 'daemon']);
  const since = q.get('since') ? parseTimeArg(q.get('since') as string, 'since') : Date.now();
  const until = q.get('until') ? parseTimeArg(q.get('until') as string, 'until') : undefined;
  const file = eventsFile(engine.paths.runroot);
  const res = ctx.res as NonNullable<ApiContext['res']>;
  res.writeHead(200, { 'Content-Type': 'application/json' });
  res.flushHeaders();
  const match = (e: EngineEvent) => {
    const ms = e.timeNano / 1e6;
    if (ms < since || (until !== undefined && ms > until)) return false;
    const t = filters.get('type');
    if (t && !t.includes(e.Type)) return false;
    const ev = filters.get('event');
    if (ev && !ev.includes(e.Action)) return false;
    for (const k of ['container', 'image', 'volume', 'network'] as const) {
      const f = filters.get(k);
      if (f && (e.Type !== k || !f.some((x) => e.Actor.ID.startsWith(x) || e.Actor.Attributes.name === x))) return false;
    }
    return true;
  };
  let pos = 0;
  let rest = '';
  const drain = () => {
    let fd: number;
    try {
      fd = fs.openSync(file, 'r');
    } catch {
      return;
    }
    try {
      const buf = Buffer.alloc(64 * 1024);
      for (;;) {
        const n = fs.readSync(fd, buf, 0, buf.length, pos);
        if (n <= 0) break;
        pos += n;
        rest += buf.subarray(0, n).toString('utf8');
      }
    } finally {
      fs.closeSync(fd);
    }
    const lines = rest.split('\n');
    rest = lines.pop() ?? '';
    for (const l of lines) {
      if (!l) continue;
      try {
        const e = JSON.parse(l) as EngineEvent;
        if (match(e)) res.write(`${JSON.stringify({ ...e, status: e.Action, id: e.Actor.ID, from: e.Actor.Attributes.image })}\n`);
      } catch {
        /* a torn line */
      }
    }
  };
  while (!ctx.signal.aborted) {
    drain();
    if (until !== undefined && Date.now() > until) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  res.end();
}
