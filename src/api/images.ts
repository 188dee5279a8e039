/**
 * /images/* and /commit, /build: Docker's shapes around engine/images.ts, archive.ts, commit.ts and,
 * when present in this build, the pull/push/build engines (feature-detected; 501 otherwise).
 */
import path from 'node:path';
import { dockerImageInspect } from '../compat/image-inspect.js';
import type { ContainerService } from '../container/service.js';
import type { Engine } from '../engine/engine.js';
import { BerthError, invalidArgument } from '../errors.js';
import { parseReference } from '../image/reference.js';
import { matchLabels } from '../util/filters.js';
import { parseTimeArg } from './containers.js';
import { type ApiContext, type Router, qBool, qFilters, sendJson } from './http.js';
import { decodeRegistryAuth, decodeRegistryConfig } from './registry-auth.js';

/** For dynamic imports of optional modules: undefined when this build lacks the module. */
export function moduleMissing(e: unknown): undefined {
  if ((e as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND') return undefined;
  throw e;
}

function familiar(full: string): string {
  return full.replace(/^docker\.io\/library\//, '').replace(/^docker\.io\//, '');
}

/** JSON-lines progress writer (Docker's pull/push/load/build output), headers sent on first use. */
function jsonLines(ctx: ApiContext): { write: (o: unknown) => void; end: () => void } {
  const res = ctx.res as NonNullable<ApiContext['res']>;
  let started = false;
  const start = () => {
    if (started) return;
    started = true;
    res.writeHead(200, { 'Content-Type': 'application/json' });
  };
  return {
    write: (o) => {
      start();
      if (!res.destroyed) res.write(`${JSON.stringify(o)}\r\n`);
    },
    end: () => {
      start();
      res.end();
    },
  };
}

export function registerImages(router: Router, engine: Engine, svc: ContainerService): void {
  router.add('GET', '/images/json', async (ctx) => {
    const filters = qFilters(ctx.query, ['dangling', 'reference', 'label', 'before', 'since', 'until']);
    let images = engine.images.list();
    const parents = new Set(images.map((i) => i.parent).filter(Boolean));
    if (!qBool(ctx.query, 'all')) images = images.filter((i) => i.tags.length > 0 || !parents.has(i.id));
    const dangling = filters.get('dangling')?.[0];
    if (dangling !== undefined) {
      if (!['true', 'false', '1', '0'].includes(dangling)) throw invalidArgument(`invalid filter 'dangling=${dangling}'`);
      const want = dangling === 'true' || dangling === '1';
      images = images.filter((i) => (i.tags.length === 0) === want);
    }
    images = images.filter((i) => matchLabels(filters.get('label'), i.labels));
    for (const b of filters.get('before') ?? []) {
      const ref = engine.images.resolve(b);
      images = images.filter((i) => i.created < ref.created);
    }
    for (const s of filters.get('since') ?? []) {
      const ref = engine.images.resolve(s);
      images = images.filter((i) => i.created > ref.created);
    }
    const until = filters.get('until')?.[0];
    if (until) {
      const t = parseTimeArg(until, 'until');
      images = images.filter((i) => i.created < t);
    }
    const refs = filters.get('reference');
    if (refs) {
      const res = refs.map((r) => globToRegExp(r.includes(':') || r.includes('@') ? r : `${r}:*`));
      images = images.filter((i) => i.tags.some((t) => res.some((re) => re.test(familiar(t)) || re.test(t))));
    }
    const inUse = new Map<string, number>();
    for (const c of svc.store.list()) inUse.set(c.config.imageId, (inUse.get(c.config.imageId) ?? 0) + 1);
    sendJson(
      ctx,
      200,
      images.map((i) => ({
        Id: i.id,
        ParentId: i.parent ?? '',
        RepoTags: i.tags.map(familiar),
        RepoDigests: i.repoDigests.map(familiar),
        Created: Math.floor(i.created / 1000),
        Size: i.size,
        SharedSize: -1,
        VirtualSize: i.size,
        Labels: i.labels,
        Containers: inUse.get(i.id) ?? 0,
      })),
    );
  });

  router.add('GET', '/images/get', async (ctx) => save(ctx, engine, ctx.query.getAll('names')));
  router.add('GET', '/images/{name*}/get', async (ctx) => save(ctx, engine, [ctx.params.name as string]));

  router.add('POST', '/images/load', async (ctx) => {
    const { loadImages } = await import('../engine/archive.js');
    const report = await loadImages(engine, ctx.req);
    const out = jsonLines(ctx);
    for (const l of report.loaded) {
      if (l.names.length === 0) out.write({ stream: `Loaded image ID: ${l.id}\n` });
      for (const n of l.names) out.write({ stream: `Loaded image: ${n}\n` });
    }
    out.end();
  });

  router.add('POST', '/images/create', async (ctx) => {
    const q = ctx.query;
    const fromSrc = q.get('fromSrc');
    const out = jsonLines(ctx);
    if (fromSrc !== null) {
      if (fromSrc !== '-') throw invalidArgument('importing from a URL is not supported; send the tarball as the body with fromSrc=-');
      const { importImage } = await import('../engine/images.js');
      const repo = q.get('repo');
      const tag = q.get('tag');
      const opts: import('../engine/images.js').ImportOptions = { source: ctx.req, changes: q.getAll('changes') };
      if (repo) opts.tag = tag ? `${repo}:${tag}` : repo;
      const msg = q.get('message');
      if (msg) opts.message = msg;
      const img = await importImage(engine, opts);
      out.write({ status: img.id });
      return out.end();
    }
    const from = q.get('fromImage');
    if (!from) throw invalidArgument('images/create needs fromImage or fromSrc');
    const tag = q.get('tag');
    const name = tag ? (tag.startsWith('sha256:') ? `${from}@${tag}` : `${from}:${tag}`) : from;
    // The client's credentials (docker's X-Registry-Auth), else the service's own logins.
    const auth = decodeRegistryAuth(ctx.req.headers['x-registry-auth']);
    const pull = await import('../engine/pull.js').catch(moduleMissing);
    if (!pull) throw new BerthError('not_implemented', 'pulling images is not available in this build of Berth', { hint: 'load the image with docker load / POST /images/load' });
    try {
      await pull.pullImage(engine, name, { onProgress: (e) => out.write(e), signal: ctx.signal, ...(auth ? { auth } : {}) });
    } catch (e) {
      // Headers may be out already: docker reports late failures as an error line.
      if (!(ctx.res as NonNullable<ApiContext['res']>).headersSent) throw e;
      out.write({ errorDetail: { message: (e as Error).message }, error: (e as Error).message });
    }
    out.end();
  });

  router.add('GET', '/images/search', async () => {
    throw new BerthError('not_implemented', 'image search is not supported by Berth');
  });

  router.add('GET', '/images/{name*}/json', async (ctx) => {
    sendJson(ctx, 200, dockerImageInspect(engine, resolveImage(engine, ctx.params.name as string)));
  });

  router.add('GET', '/images/{name*}/history', async (ctx) => {
    const { imageHistory } = await import('../engine/images.js');
    resolveImage(engine, ctx.params.name as string);
    sendJson(
      ctx,
      200,
      imageHistory(engine, ctx.params.name as string).map((r) => ({
        Id: r.id || '<missing>',
        Created: r.created ? Math.floor(r.created / 1000) : 0,
        CreatedBy: r.createdBy,
        Tags: r.tags.length ? r.tags.map(familiar) : null,
        Size: r.size,
        Comment: r.comment,
      })),
    );
  });

  router.add('POST', '/images/{name*}/tag', async (ctx) => {
    const img = resolveImage(engine, ctx.params.name as string);
    const repo = ctx.query.get('repo');
    if (!repo) throw invalidArgument('tag needs ?repo=');
    const tag = ctx.query.get('tag');
    const target = tag ? `${repo}:${tag}` : repo;
    parseReference(target);
    engine.images.tag(img.id, target);
    ctx.res?.writeHead(201).end();
  });

  router.add('POST', '/images/{name*}/push', async (ctx) => {
    const push = await import('../engine/push.js').catch(moduleMissing);
    if (!push) throw new BerthError('not_implemented', 'pushing images is not available in this build of Berth');
    const tag = ctx.query.get('tag');
    const name = tag ? `${ctx.params.name}:${tag}` : (ctx.params.name as string);
    resolveImage(engine, name);
    const auth = decodeRegistryAuth(ctx.req.headers['x-registry-auth']);
    const out = jsonLines(ctx);
    try {
      await push.pushImage(engine, name, { onProgress: (e) => out.write(e), signal: ctx.signal, ...(auth ? { auth } : {}) });
    } catch (e) {
      out.write({ errorDetail: { message: (e as Error).message }, error: (e as Error).message });
    }
    out.end();
  });

  router.add('DELETE', '/images/{name*}', async (ctx) => {
    const { removeImage } = await import('../engine/images.js');
    const r = removeImage(engine, ctx.params.name as string, { force: qBool(ctx.query, 'force') });
    sendJson(ctx, 200, [...r.untagged.map((u) => ({ Untagged: familiar(u) })), ...r.deleted.map((d) => ({ Deleted: d }))]);
  });

  router.add('POST', '/commit', async (ctx) => {
    const q = ctx.query;
    const container = q.get('container');
    if (!container) throw invalidArgument('commit needs ?container=');
    const { readJson } = await import('./http.js');
    const body = await readJson(ctx.req);
    const { commitContainer } = await import('../engine/commit.js');
    const o: import('../engine/commit.js').CommitOptions = { changes: q.getAll('changes').flatMap((c) => c.split('\n')).filter(Boolean), pause: qBool(q, 'pause', true) };
    const repo = q.get('repo');
    if (repo) o.tag = q.get('tag') ? `${repo}:${q.get('tag')}` : repo;
    const m = q.get('comment');
    if (m) o.message = m;
    const a = q.get('author');
    if (a) o.author = a;
    void body; // Config overrides in the body are not supported yet; changes= covers them.
    const img = await commitContainer(svc, container, o);
    sendJson(ctx, 201, { Id: img.id });
  });

  router.add('POST', '/build', async (ctx) => {
    const q = ctx.query;
    const builder = await import('../build/builder.js').catch(moduleMissing);
    const contexts = await import('../build/context.js').catch(moduleMissing);
    if (!builder || !contexts) throw new BerthError('not_implemented', 'building images is not available in this build of Berth');
    if (q.get('remote')) throw invalidArgument('remote build contexts are not supported: send the context as a tar body');
    const jsonParam = (k: string): Record<string, string> => {
      const v = q.get(k);
      if (!v) return {};
      try {
        return JSON.parse(v) as Record<string, string>;
      } catch {
        throw invalidArgument(`invalid ${k}: expected a JSON object`);
      }
    };
    const dockerfile = q.get('dockerfile');
    const registryAuth = decodeRegistryConfig(ctx.req.headers['x-registry-config']);
    const context = await contexts.BuildContext.fromTar(ctx.req, path.join(engine.paths.cache, 'build-tmp'), dockerfile ? { dockerfilePath: dockerfile } : {});
    const out = jsonLines(ctx);
    const opts: import('../build/builder.js').BuildOptions = {
      context,
      tags: q.getAll('t'),
      buildArgs: jsonParam('buildargs'),
      labels: jsonParam('labels'),
      noCache: qBool(q, 'nocache'),
      pull: qBool(q, 'pull'),
      registryAuth,
      signal: ctx.signal,
      // docker's classic build lines; each carries the engine's event too (berthBuildEvent, which
      // docker clients ignore), so `berth --host build` renders the same progress as a local build.
      // Events without a line of their own ride in an aux message (an empty line would print).
      onEvent: (e) => {
        if (e.type === 'vertex') out.write({ stream: `${e.name}\n`, berthBuildEvent: e });
        else if (e.type === 'cached') out.write({ stream: ' ---> Using cache\n', berthBuildEvent: e });
        else if (e.type === 'log') out.write({ stream: `${e.line}\n`, berthBuildEvent: e });
        else if (e.type === 'warning') out.write({ stream: `WARNING: ${e.message}\n`, berthBuildEvent: e });
        else out.write({ aux: { berthBuildEvent: e } });
      },
    };
    const target = q.get('target');
    if (target) opts.target = target;
    // docker build --network: "default" and "bridge" are the default bridge network.
    const networkmode = q.get('networkmode');
    if (networkmode) opts.network = builder.buildNetworkMode(networkmode);
    try {
      const r = await builder.build(engine, opts);
      out.write({ aux: { ID: r.image.id } });
      out.write({ stream: `Successfully built ${r.image.id.slice(7, 19)}\n` });
      for (const t of q.getAll('t')) out.write({ stream: `Successfully tagged ${t}\n` });
    } catch (e) {
      out.write({ errorDetail: { message: (e as Error).message }, error: (e as Error).message });
    } finally {
      context.dispose();
    }
    out.end();
  });
}

/** Docker answers image lookups with "No such image: NAME". */
function resolveImage(engine: Engine, name: string) {
  const img = engine.images.tryResolve(name);
  if (!img) throw new BerthError('not_found', `No such image: ${name}`);
  return img;
}

async function save(ctx: ApiContext, engine: Engine, names: string[]): Promise<void> {
  if (!names.length) throw invalidArgument('images/get needs at least one ?names=');
  for (const n of names) resolveImage(engine, n);
  const { saveImages } = await import('../engine/archive.js');
  const res = ctx.res as NonNullable<ApiContext['res']>;
  res.writeHead(200, { 'Content-Type': 'application/x-tar' });
  await saveImages(engine, names, res);
}

function globToRegExp(g: string): RegExp {
  return new RegExp(`^${g.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '.')}$`);
}
