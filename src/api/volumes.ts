/** /volumes/*: Docker's shapes around VolumeService. */
import type { Engine } from '../engine/engine.js';
import { VolumeService, type VolumeRecord } from '../volume/service.js';
import { labelsMatch } from './containers.js';
import { optObj, optStr } from './create-body.js';
import { type Router, noContent, qBool, qFilters, readJson, sendJson } from './http.js';

function doc(v: VolumeRecord): Record<string, unknown> {
  return {
    CreatedAt: new Date(v.created).toISOString().replace(/\.\d+Z$/, 'Z'),
    Driver: v.driver,
    Labels: v.labels,
    Mountpoint: v.mountpoint,
    Name: v.name,
    Options: v.options,
    Scope: 'local',
  };
}

export function registerVolumes(router: Router, engine: Engine): void {
  const vols = new VolumeService(engine);
  router.add('GET', '/volumes', async (ctx) => {
    const f = qFilters(ctx.query, ['name', 'label', 'dangling', 'driver']);
    let list = vols.list();
    const names = f.get('name');
    if (names) list = list.filter((v) => names.some((n) => v.name.includes(n)));
    list = list.filter((v) => labelsMatch(f.get('label'), v.labels));
    const dangling = f.get('dangling')?.[0];
    if (dangling !== undefined) {
      const want = dangling === 'true' || dangling === '1';
      list = list.filter((v) => (vols.users(v.name).length === 0) === want);
    }
    sendJson(ctx, 200, { Volumes: list.map(doc), Warnings: null });
  });
  router.add('POST', '/volumes/create', async (ctx) => {
    const body = await readJson(ctx.req);
    const o: Parameters<VolumeService['create']>[0] = {};
    const name = optStr(body, 'Name');
    if (name) o.name = name;
    const driver = optStr(body, 'Driver');
    if (driver) o.driver = driver;
    const labels = optObj(body, 'Labels');
    if (labels) o.labels = labels as Record<string, string>;
    const opts = optObj(body, 'DriverOpts');
    if (opts) o.options = opts as Record<string, string>;
    sendJson(ctx, 201, doc(vols.create(o)));
  });
  router.add('POST', '/volumes/prune', async (ctx) => {
    const f = qFilters(ctx.query, ['label', 'all']);
    const r = vols.prune({ all: ['true', '1'].includes(f.get('all')?.[0] ?? ''), labels: f.get('label') ?? [] });
    sendJson(ctx, 200, { VolumesDeleted: r.deleted.length ? r.deleted : null, SpaceReclaimed: r.reclaimed });
  });
  router.add('GET', '/volumes/{name}', async (ctx) => sendJson(ctx, 200, doc(vols.inspect(ctx.params.name as string))));
  router.add('DELETE', '/volumes/{name}', async (ctx) => {
    vols.remove(ctx.params.name as string, { force: qBool(ctx.query, 'force') });
    noContent(ctx);
  });
}
