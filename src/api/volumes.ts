/** /volumes/*: Docker's shapes around VolumeService. */
import { dockerVolumeInspect } from '../compat/volume-inspect.js';
import type { Engine } from '../engine/engine.js';
import { VolumeService } from '../volume/service.js';
import { optObj, optStr } from './create-body.js';
import { type Router, noContent, qBool, qFilters, readJson, sendJson } from './http.js';

export function registerVolumes(router: Router, engine: Engine): void {
  const vols = new VolumeService(engine);
  router.add('GET', '/volumes', async (ctx) => {
    const f = qFilters(ctx.query, ['name', 'label', 'dangling', 'driver']);
    const list = vols.listFiltered(f);
    sendJson(ctx, 200, { Volumes: list.map(dockerVolumeInspect), Warnings: null });
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
    sendJson(ctx, 201, dockerVolumeInspect(vols.create(o)));
  });
  router.add('GET', '/volumes/{name}', async (ctx) => sendJson(ctx, 200, dockerVolumeInspect(vols.inspect(ctx.params.name as string))));
  router.add('DELETE', '/volumes/{name}', async (ctx) => {
    vols.remove(ctx.params.name as string, { force: qBool(ctx.query, 'force') });
    noContent(ctx);
  });
}
