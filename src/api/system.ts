/** /_ping, /version, /info, /system/df, /events, /auth. */
import os from 'node:os';
import type { ContainerService } from '../container/service.js';
import type { Engine } from '../engine/engine.js';
import { type FollowEventsOptions, followEvents } from '../engine/events.js';
import { BerthError, invalidArgument } from '../errors.js';
import { VERSION } from '../version.js';
import { optStr } from './create-body.js';
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
      // The engine's own summary rides along (BerthInfo, ignored by docker clients) so that
      // `berth --host info` prints what a local `info` prints.
      BerthInfo: base,
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
    // The engine's own summary rides along (BerthUsage, ignored by docker clients) so that
    // `berth --host system df` prints what a local `system df` prints.
    const { diskUsage } = await import('../engine/system.js');
    await (await import('../engine/usage.js')).loadUsageProviders();
    const usage = diskUsage(engine);
    sendJson(ctx, 200, {
      BerthUsage: usage,
      LayersSize: usage.find((r) => r.type === 'Images')?.size ?? images.reduce((a, i) => a + i.size, 0),
      Images: images.map((i) => ({ Id: i.id, ParentId: i.parent ?? '', RepoTags: i.tags, RepoDigests: i.repoDigests, Created: Math.floor(i.created / 1000), Size: i.size, SharedSize: -1, VirtualSize: i.size, Labels: i.labels, Containers: used.has(i.id) ? 1 : 0 })),
      Containers: svc.list().map((r) => ({ ...psEntry(r), SizeRw: svc.writableLayerUsage(r.config.id).bytes })),
      Volumes: vols.list().map((v) => ({ Name: v.name, Driver: v.driver, Mountpoint: v.mountpoint, Labels: v.labels, Scope: 'local', Options: v.options, UsageData: { Size: dirSize(v.mountpoint), RefCount: vols.users(v.name).length } })),
      BuildCache: (await import('../build/cache-mounts.js')).listCacheMounts(engine).map((m) => ({
        ID: m.id,
        Parent: '',
        Type: 'exec.cachemount',
        Description: `cached mount ${m.id}`,
        InUse: m.inUse,
        Shared: false,
        Size: m.size,
        CreatedAt: new Date(m.lastUsed).toISOString(),
        LastUsedAt: new Date(m.lastUsed).toISOString(),
        UsageCount: 1,
      })),
    });
  });
  router.add('POST', '/auth', async (ctx) => {
    const body = await readJson(ctx.req);
    const username = optStr(body, 'username') ?? '';
    const password = optStr(body, 'password') ?? '';
    const host = registryHost(optStr(body, 'serveraddress') ?? '');
    const { LoginDenied, verifyLogin } = await import('../engine/registries.js');
    try {
      // The same check as `berth login`: the registry (or its token server) must accept them.
      await verifyLogin(host, { username, password });
    } catch (e) {
      if (!(e instanceof LoginDenied)) throw e;
      const msg = e.via === 'basic' ? `login attempt to ${e.endpoint} failed with status: 401 Unauthorized` : `Get "${e.endpoint}": unauthorized: incorrect username or password`;
      throw new BerthError('unauthenticated', msg);
    }
    sendJson(ctx, 200, { Status: 'Login Succeeded', IdentityToken: '' });
  });
  router.add('GET', '/events', async (ctx) => events(ctx, engine));
}

/** Replays <runroot>/events.jsonl from `since` and tails it until `until` or the client leaves. */
async function events(ctx: ApiContext, engine: Engine): Promise<void> {
  const q = ctx.query;
  const filters = qFilters(q, ['type', 'event', 'container', 'image', 'volume', 'network', 'label', 'scope', 'daemon']);
  const o: FollowEventsOptions = { filters, signal: ctx.signal };
  if (q.get('since')) o.since = parseTimeArg(q.get('since') as string, 'since');
  if (q.get('until')) o.until = parseTimeArg(q.get('until') as string, 'until');
  const res = ctx.res as NonNullable<ApiContext['res']>;
  res.writeHead(200, { 'Content-Type': 'application/json' });
  res.flushHeaders();
  await followEvents(engine.paths.runroot, o, (e) => res.write(`${JSON.stringify({ ...e, status: e.Action, id: e.Actor.ID, from: e.Actor.Attributes.image })}\n`));
  res.end();
}

/** The registry a login names ("" and Docker Hub's index URLs are docker.io), like `berth login`. */
function registryHost(address: string): string {
  const h = address
    .trim()
    .replace(/^[a-z]+:\/\//i, '')
    .replace(/\/.*$/, '')
    .toLowerCase();
  if (/\s/.test(h)) throw invalidArgument(`invalid registry address "${address}"`);
  return !h || h === 'index.docker.io' || h === 'registry-1.docker.io' ? 'docker.io' : h;
}
