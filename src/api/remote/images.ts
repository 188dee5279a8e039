/**
 * Image commands over the Engine API: list, inspect, pull/push with the CLI's progress renderer fed
 * from the JSON-lines stream, tag, rmi, and build (the context tarred here, as the docker CLI does,
 * honouring .dockerignore; the service's build events rendered like a local build).
 */
import fs from 'node:fs';
import path from 'node:path';
import { type ParsedArgs, bool, list, str } from '../../cli/args.js';
import type { CliContext } from '../../cli/context.js';
import { formatRows } from '../../cli/format.js';
import { progressRenderer } from '../../cli/progress.js';
import type { BuildEvent } from '../../build/builder.js';
import type { ProgressEvent } from '../../engine/progress.js';
import { BerthError, invalidArgument } from '../../errors.js';
import { familiarName, familiarString, formatReference, parseReference, withDefaultTag } from '../../image/reference.js';
import { humanSize, timeAgo } from '../../util/human.js';
import { type ApiClient, readJsonLines } from '../client.js';
import { type RemoteTable, enc, filtersParam, qs, registryAuthHeader, registryConfigHeader } from './common.js';

interface ImageEntry {
  Id: string;
  RepoTags: string[] | null;
  RepoDigests: string[] | null;
  Created: number;
  Size: number;
}

/** Go's time.Time.String() (CreatedAt column). */
function goTime(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000 UTC`;
}

/** POST /images/create with the pull's progress rendered as the local pull does; returns the full reference. */
export async function pullRemote(c: ApiClient, ctx: CliContext, name: string, o: { quiet: boolean; out: NodeJS.WriteStream; platform?: string | undefined }): Promise<string> {
  const ref = withDefaultTag(parseReference(name));
  const r = o.quiet ? undefined : progressRenderer(o.out);
  const from = `${ref.domain}/${ref.path}`;
  const tag = ref.digest ?? ref.tag;
  const res = await c.stream('POST', `/images/create${qs({ fromImage: from, tag, platform: o.platform })}`, undefined, { headers: await registryAuthHeader(ref.domain) });
  try {
    await readJsonLines(res, (m) => r?.sink(m as ProgressEvent));
  } finally {
    r?.done();
  }
  void ctx;
  return formatReference(ref);
}

/** `repo[:tag]` split where docker splits it (a port's colon is not a tag). */
function splitTag(target: string): { repo: string; tag: string | undefined } {
  const slash = target.lastIndexOf('/');
  const colon = target.lastIndexOf(':');
  return colon > slash ? { repo: target.slice(0, colon), tag: target.slice(colon + 1) } : { repo: target, tag: undefined };
}

function familiarTag(t: string): string {
  const ref = parseReference(t);
  return `${familiarName(ref)}:${ref.tag ?? 'latest'}`;
}

async function buildRemote(c: ApiClient, ctx: CliContext, p: ParsedArgs): Promise<number> {
  const src = p.args[0] as string;
  const file = str(p, 'file');
  const quiet = bool(p, 'quiet') || str(p, 'progress') === 'quiet';
  const progress = str(p, 'progress') ?? 'auto';
  if (!['auto', 'plain', 'tty', 'quiet'].includes(progress)) throw invalidArgument(`invalid --progress "${progress}": use auto, plain, tty or quiet`);
  if (/^(https?|git):\/\/|^git@/.test(src)) throw invalidArgument(`building from a remote context (${src}) is not supported`, { hint: 'clone or download it and build the directory' });
  const tags = list(p, 'tag');
  for (const t of tags) parseReference(t);
  const { BuildContext } = await import('../../build/context.js');
  const context = BuildContext.fromDir(src, file ? { dockerfilePath: path.resolve(file) } : {});
  // A Dockerfile outside the context goes into the tar under a name of its own, as docker does.
  const inside = context.dockerfilePath ? path.relative(context.dir, context.dockerfilePath) : 'Dockerfile';
  const outside = inside.startsWith('..') || path.isAbsolute(inside);
  const dockerfileName = outside ? `.berth-dockerfile-${process.pid}` : inside.split(path.sep).join('/');
  const tarStream = await contextTar(context, outside ? { name: dockerfileName, text: context.dockerfileText } : undefined);
  const kv = (await import('../../cli/commands/build.js')).buildKeyValues;
  const q = new URLSearchParams();
  for (const t of tags) q.append('t', t);
  q.set('dockerfile', dockerfileName);
  q.set('buildargs', JSON.stringify(kv(list(p, 'build-arg'), 'build-arg')));
  q.set('labels', JSON.stringify(kv(list(p, 'label'), 'label')));
  if (bool(p, 'no-cache')) q.set('nocache', '1');
  if (bool(p, 'pull')) q.set('pull', '1');
  if (str(p, 'target')) q.set('target', str(p, 'target') as string);
  if (str(p, 'network')) q.set('networkmode', str(p, 'network') as string);
  if (str(p, 'platform')) q.set('platform', str(p, 'platform') as string);
  const { plainRenderer, ttyRenderer } = await import('../../cli/commands/build.js');
  const live = progress === 'tty' || (progress === 'auto' && ctx.stderr.isTTY === true);
  const view = quiet ? undefined : live ? ttyRenderer(ctx.stderr) : { onEvent: plainRenderer(ctx.stderr, false), finish: () => undefined };
  let imageId: string | undefined;
  try {
    const res = await c.stream('POST', `/build?${q}`, tarStream, { contentType: 'application/x-tar', headers: await registryConfigHeader() });
    await readJsonLines(res, (m) => {
      const ev = m.berthBuildEvent ?? m.aux?.berthBuildEvent;
      if (ev) view?.onEvent(ev as BuildEvent);
      else if (m.aux && typeof m.aux.ID === 'string') imageId = m.aux.ID;
    });
  } finally {
    view?.finish();
    context.dispose();
  }
  if (!imageId) throw new BerthError('internal', 'the service ended the build without an image ID');
  if (!quiet) {
    ctx.err(`writing image ${imageId} done`);
    for (const t of tags) ctx.err(`naming to ${familiarString(withDefaultTag(parseReference(t)))} done`);
  }
  const iid = str(p, 'iidfile');
  if (iid) fs.writeFileSync(iid, imageId);
  if (quiet) ctx.out(imageId);
  return 0;
}

/** The context's included entries as a tar stream (plus the Dockerfile when it lives outside). */
async function contextTar(context: import('../../build/context.js').BuildContext, extra: { name: string; text: string } | undefined): Promise<NodeJS.ReadableStream> {
  const tar = (await import('tar-stream')).default;
  const pack = tar.pack();
  void (async () => {
    try {
      const add = (h: Parameters<typeof pack.entry>[0], body?: Buffer) =>
        new Promise<void>((resolve, reject) => {
          const cb = (err?: Error | null) => (err ? reject(err) : resolve());
          pack.entry(h, body ?? Buffer.alloc(0), cb);
        });
      for (const e of context.entries().values()) {
        const abs = context.abs(e.rel);
        const common = { name: e.rel, mode: e.mode & 0o7777, mtime: new Date(e.mtimeMs), uid: e.uid ?? 0, gid: e.gid ?? 0 };
        if (e.type === 'dir') await add({ ...common, type: 'directory' });
        else if (e.type === 'symlink') await add({ ...common, type: 'symlink', linkname: fs.readlinkSync(abs) });
        else if (e.type === 'file') {
          const h = { ...common, type: 'file' as const, size: e.size };
          await new Promise<void>((resolve, reject) => {
            const entry = pack.entry(h, (err) => (err ? reject(err) : resolve()));
            fs.createReadStream(abs).on('error', reject).pipe(entry);
          });
        }
      }
      if (extra) await add({ name: extra.name, mode: 0o644, type: 'file' }, Buffer.from(extra.text));
      pack.finalize();
    } catch (e) {
      pack.destroy(e as Error);
    }
  })();
  return pack as unknown as NodeJS.ReadableStream;
}

/** A request body read from FILE or stdin (`-`), as the local commands read it. */
function inputOf(ctx: CliContext, file: string | undefined, what: string): NodeJS.ReadableStream {
  if (file === undefined || file === '-') {
    if (ctx.stdin.isTTY) throw invalidArgument(`requested ${what} from stdin, but stdin is empty`, { hint: 'use -i FILE or pipe an archive in' });
    return ctx.stdin;
  }
  if (!fs.existsSync(file)) throw new BerthError('not_found', `open ${file}: no such file or directory`);
  return fs.createReadStream(file, { highWaterMark: 1 << 20 });
}

/** A response body to FILE (written aside, renamed when complete) or stdout (never a terminal). */
export async function saveTo(ctx: CliContext, res: NodeJS.ReadableStream, output: string | undefined): Promise<void> {
  const { pipeline } = await import('node:stream/promises');
  if (!output) {
    await pipeline(res, ctx.stdout, { end: false });
    return;
  }
  const { writeOutputFile } = await import('../../util/output-file.js');
  await writeOutputFile(output, (out) => pipeline(res, out));
}

export const IMAGE_COMMANDS: RemoteTable = {
  // As the docker CLI does with DOCKER_HOST: the service checks the credentials (POST /auth), this
  // client keeps them; logout only touches this client's config.json.
  login: {
    run: async (c, ctx, p) => {
      const { loginWith } = await import('../../cli/commands/registry.js');
      return loginWith(ctx, p, async (host, creds) => {
        await c.json('POST', '/auth', { username: creds.username, password: creds.password, serveraddress: host });
      });
    },
  },
  logout: {
    run: async (_c, ctx, p) => (await import('../../cli/commands/registry.js')).logout(ctx, p),
  },
  'image history': {
    run: async (c, ctx, p) => {
      const rows = await c.json<{ Id: string; Created: number; CreatedBy: string; Size: number; Comment: string }[]>('GET', `/images/${enc(p.args[0] as string)}/history`);
      const { printHistory } = await import('../../cli/commands/images.js');
      return printHistory(
        ctx,
        p,
        rows.map((r) => ({ id: r.Id, ...(r.Created ? { created: r.Created * 1000 } : {}), createdBy: r.CreatedBy, size: r.Size, comment: r.Comment })),
      );
    },
  },
  'image import': {
    run: async (c, ctx, p) => {
      const [file, tag] = p.args as [string, string | undefined];
      if (/^https?:\/\//.test(file)) throw invalidArgument('importing from a URL is not supported', { hint: 'download the file first' });
      const q = new URLSearchParams({ fromSrc: '-' });
      if (tag) {
        parseReference(tag);
        const t = splitTag(tag);
        q.set('repo', t.repo);
        if (t.tag) q.set('tag', t.tag);
      }
      for (const ch of list(p, 'change')) q.append('changes', ch);
      if (str(p, 'message')) q.set('message', str(p, 'message') as string);
      const res = await c.stream('POST', `/images/create?${q}`, inputOf(ctx, file, 'import'), { contentType: 'application/x-tar' });
      let id = '';
      await readJsonLines(res, (m) => {
        if (m.status) id = m.status;
      });
      ctx.out(id);
      return 0;
    },
    localOnly: { platform: 'the service imports for its own platform' },
  },
  'image save': {
    run: async (c, ctx, p) => {
      const output = str(p, 'output');
      if (!output && ctx.stdout.isTTY) throw invalidArgument('cowardly refusing to save to a terminal. Use the -o flag or redirect');
      const q = new URLSearchParams();
      for (const a of p.args) q.append('names', a);
      await saveTo(ctx, await c.stream('GET', `/images/get?${q}`), output);
      return 0;
    },
    refuse: (p) => {
      const f = str(p, 'format');
      return f && f !== 'docker-archive' ? { what: `--format ${f}`, why: 'the API saves docker-archive only' } : undefined;
    },
  },
  'image load': {
    run: async (c, ctx, p) => {
      const res = await c.stream('POST', `/images/load${qs({ quiet: bool(p, 'quiet') })}`, inputOf(ctx, str(p, 'input'), 'load'), { contentType: 'application/x-tar' });
      await readJsonLines(res, (m) => {
        if (m.stream && !bool(p, 'quiet')) ctx.stdout.write(m.stream);
      });
      return 0;
    },
  },
  'image prune': {
    run: async (c, ctx, p) => {
      const r = await c.json<{ ImagesDeleted: ({ Untagged?: string; Deleted?: string })[] | null; SpaceReclaimed: number }>(
        'POST',
        `/images/prune${qs({ filters: filtersParam(list(p, 'filter'), bool(p, 'all') ? { dangling: ['false'] } : {}) })}`,
      );
      const del = r.ImagesDeleted ?? [];
      if (del.length) {
        ctx.out('Deleted Images:');
        for (const x of del) if (x.Untagged) ctx.out(`untagged: ${x.Untagged}`);
        for (const x of del) if (x.Deleted) ctx.out(`deleted: ${x.Deleted}`);
        ctx.out('');
      }
      ctx.out(`Total reclaimed space: ${humanSize(r.SpaceReclaimed)}`);
      return 0;
    },
  },
  'image ls': {
    run: async (c, ctx, p) => {
      const refs = [...list(p, 'filter').filter((f) => f.startsWith('reference=')).map((f) => f.slice(10)), ...p.args];
      const filters = filtersParam(
        list(p, 'filter').filter((f) => !f.startsWith('reference=')),
        refs.length ? { reference: refs } : {},
      );
      const imgs = await c.json<ImageEntry[]>('GET', `/images/json${qs({ all: bool(p, 'all'), filters })}`);
      const now = Date.now();
      const noTrunc = bool(p, 'no-trunc');
      const rows: Record<string, unknown>[] = [];
      for (const i of imgs) {
        const digests = i.RepoDigests ?? [];
        const base = {
          ID: noTrunc ? i.Id : i.Id.slice(7, 19),
          CreatedSince: timeAgo(i.Created * 1000, now),
          CreatedAt: goTime(i.Created * 1000),
          Size: humanSize(i.Size),
          VirtualSize: humanSize(i.Size),
          SharedSize: 'N/A',
          UniqueSize: 'N/A',
          Containers: 'N/A',
        };
        const digestOf = (repo: string) => {
          const d = digests.map((x) => `${familiarName(parseReference(x.split('@')[0] as string))}@${x.split('@')[1]}`).find((r) => r.startsWith(`${repo}@`));
          return d ? d.slice(d.indexOf('@') + 1) : '<none>';
        };
        const tags = (i.RepoTags ?? []).filter((t) => t !== '<none>:<none>');
        if (!tags.length) {
          const repo = digests[0] ? familiarName(parseReference(digests[0].split('@')[0] as string)) : undefined;
          rows.push({ ...base, Repository: repo ?? '<none>', Tag: '<none>', Digest: repo ? digestOf(repo) : '<none>' });
        }
        for (const t of tags) {
          const f = familiarTag(t);
          const colon = f.lastIndexOf(':');
          rows.push({ ...base, Repository: f.slice(0, colon), Tag: f.slice(colon + 1), Digest: digestOf(f.slice(0, colon)) });
        }
      }
      if (bool(p, 'quiet')) {
        for (const id of new Set(rows.map((r) => r.ID as string))) ctx.out(id);
        return 0;
      }
      ctx.stdout.write(
        formatRows(str(p, 'format'), rows, {
          defaultTable: bool(p, 'digests') ? 'table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}' : 'table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}',
          headers: { ID: 'IMAGE ID', CreatedSince: 'CREATED', CreatedAt: 'CREATED AT', Repository: 'REPOSITORY', Tag: 'TAG', Size: 'SIZE', Digest: 'DIGEST', VirtualSize: 'VIRTUAL SIZE', SharedSize: 'SHARED SIZE', UniqueSize: 'UNIQUE SIZE', Containers: 'CONTAINERS' },
        }),
      );
      return 0;
    },
  },
  'image inspect': {
    run: async (c, ctx, p) => {
      const docs: unknown[] = [];
      let failed = 0;
      for (const a of p.args) {
        try {
          docs.push(await c.json('GET', `/images/${enc(a)}/json`));
        } catch (e) {
          if (!(e instanceof BerthError) || e.code !== 'not_found') throw e;
          ctx.err(`Error: No such image: ${a}`);
          failed++;
        }
      }
      const { printJson } = await import('../../cli/commands/common.js');
      await printJson(ctx, str(p, 'format'), docs);
      return failed ? 1 : 0;
    },
  },
  'image pull': {
    run: async (c, ctx, p) => {
      const name = p.args[0] as string;
      const quiet = bool(p, 'quiet');
      const ref = parseReference(name);
      if (ref.tag === undefined && ref.digest === undefined && !quiet) ctx.out('Using default tag: latest');
      ctx.out(await pullRemote(c, ctx, name, { quiet, out: ctx.stdout, platform: str(p, 'platform') }));
      return 0;
    },
    localOnly: { 'all-tags': 'pulling every tag goes through the local store only' },
  },
  'image push': {
    run: async (c, ctx, p) => {
      const name = p.args[0] as string;
      const quiet = bool(p, 'quiet');
      const ref = withDefaultTag(parseReference(name));
      const r = quiet ? undefined : progressRenderer(ctx.stdout);
      const res = await c.stream('POST', `/images/${enc(`${ref.domain}/${ref.path}`)}/push${qs({ tag: ref.tag })}`, undefined, { headers: await registryAuthHeader(ref.domain) });
      try {
        await readJsonLines(res, (m) => r?.sink(m as ProgressEvent));
      } finally {
        r?.done();
      }
      if (quiet) ctx.out(`${familiarName(ref)}:${ref.tag}`);
      return 0;
    },
    localOnly: { 'all-tags': 'pushing every tag goes through the local store only' },
  },
  'image tag': {
    run: async (c, _ctx, p) => {
      const [src, dst] = p.args as [string, string];
      parseReference(dst);
      const { repo, tag } = splitTag(dst);
      await c.json('POST', `/images/${enc(src)}/tag${qs({ repo, tag })}`);
      return 0;
    },
  },
  'image rm': {
    run: async (c, ctx, p) => {
      let failed = 0;
      for (const a of p.args) {
        try {
          const r = await c.json<({ Untagged: string } | { Deleted: string })[]>('DELETE', `/images/${enc(a)}${qs({ force: bool(p, 'force'), noprune: bool(p, 'no-prune') || undefined })}`);
          for (const x of r) ctx.out('Untagged' in x ? `Untagged: ${x.Untagged}` : `Deleted: ${x.Deleted}`);
        } catch (e) {
          if (!(e instanceof BerthError)) throw e;
          ctx.err(`Error: ${e.message}`);
          failed++;
        }
      }
      return failed ? 1 : 0;
    },
  },
  'image build': {
    run: buildRemote,
    refuse: (p) => (p.args[0] === '-' || str(p, 'file') === '-' ? { what: 'with a context or Dockerfile on stdin', why: 'remote builds send a directory as the context' } : undefined),
    localOnly: {
      secret: 'build secrets are read from files on this machine; the API has no secret transport',
      ssh: 'SSH agents are on this machine; the API has no agent transport',
      'build-context': 'the legacy build endpoint takes one context',
      output: 'the legacy build endpoint returns an image, not files (build locally, or docker cp from a container)',
      check: 'the Dockerfile check runs locally: berth build --check without --host',
    },
  },
};
