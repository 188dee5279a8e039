import fs from 'node:fs';
import type { Readable } from 'node:stream';
import { dockerImageInspect, familiarRepoDigest, familiarTag } from '../../compat/image-inspect.js';
import { BerthError, invalidArgument } from '../../errors.js';
import type { ImageRecord } from '../../image/image-store.js';
import { parseReference } from '../../image/reference.js';
import { humanSize, timeAgo } from '../../util/human.js';
import { type ParsedArgs, bool, list, str } from '../args.js';
import type { CliContext } from '../context.js';
import { formatRows } from '../format.js';
import { goTime, parseFilterFlags, parseUntil, printJson } from './common.js';

function globToRegExp(glob: string): RegExp {
  let re = '';
  for (const c of glob) {
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

interface ImageRow {
  ID: string;
  Repository: string;
  Tag: string;
  Digest: string;
  CreatedSince: string;
  CreatedAt: string;
  Size: string;
  VirtualSize: string;
  SharedSize: string;
  UniqueSize: string;
  Containers: string;
}

export async function listImages(ctx: CliContext, p: ParsedArgs): Promise<number> {
  const engine = await ctx.engine();
  const filters = parseFilterFlags(list(p, 'filter'), ['dangling', 'reference', 'label', 'before', 'since', 'until']);
  let images = engine.images.list();
  const all = bool(p, 'all');
  const parents = new Set(images.map((i) => i.parent).filter(Boolean));
  images = images.filter((i) => all || i.tags.length > 0 || !parents.has(i.id));
  const dangling = filters.get('dangling');
  if (dangling) {
    const want = dangling[0] === 'true' || dangling[0] === '1';
    if (!['true', 'false', '1', '0'].includes(dangling[0] as string)) throw invalidArgument(`invalid filter 'dangling=${dangling[0]}'`);
    images = images.filter((i) => (i.tags.length === 0) === want);
  }
  for (const l of filters.get('label') ?? []) {
    const [k, v] = l.split('=', 2) as [string, string | undefined];
    images = images.filter((i) => k in i.labels && (v === undefined || i.labels[k] === v));
  }
  for (const b of filters.get('before') ?? []) {
    const ref = engine.images.resolve(b);
    images = images.filter((i) => i.created < ref.created);
  }
  for (const s of filters.get('since') ?? []) {
    const ref = engine.images.resolve(s);
    images = images.filter((i) => i.created > ref.created);
  }
  const refPatterns = [...(filters.get('reference') ?? []), ...p.args.map((a) => (a.includes(':') && !a.includes('/') ? a : a))];
  const now = Date.now();
  const noTrunc = bool(p, 'no-trunc');
  const rows: ImageRow[] = [];
  for (const img of images) {
    const names = img.tags.length ? img.tags.map(familiarTag) : [];
    const base = {
      ID: noTrunc ? img.id : img.id.slice(7, 19),
      CreatedSince: timeAgo(img.created, now),
      CreatedAt: goTime(img.created),
      Size: humanSize(img.size),
      VirtualSize: humanSize(img.size),
      SharedSize: 'N/A',
      UniqueSize: 'N/A',
      Containers: 'N/A',
    };
    const digestOf = (repo: string) => {
      const d = img.repoDigests.map(familiarRepoDigest).find((r) => r.startsWith(`${repo}@`));
      return d ? d.slice(d.indexOf('@') + 1) : '<none>';
    };
    if (names.length === 0) {
      if (refPatterns.length) continue;
      const repoFromDigest = img.repoDigests[0] ? familiarRepoDigest(img.repoDigests[0]).split('@')[0] : undefined;
      rows.push({ ...base, Repository: repoFromDigest ?? '<none>', Tag: '<none>', Digest: repoFromDigest ? digestOf(repoFromDigest) : '<none>' });
      continue;
    }
    for (const n of names) {
      const colon = n.lastIndexOf(':');
      const repo = n.slice(0, colon);
      const tag = n.slice(colon + 1);
      if (refPatterns.length && !refPatterns.some((pat) => matchesReference(pat, repo, tag))) continue;
      rows.push({ ...base, Repository: repo, Tag: tag, Digest: digestOf(repo) });
    }
  }
  if (bool(p, 'quiet')) {
    const seen = new Set<string>();
    for (const r of rows) {
      if (seen.has(r.ID)) continue;
      seen.add(r.ID);
      ctx.out(r.ID);
    }
    return 0;
  }
  const def = bool(p, 'digests')
    ? 'table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}'
    : 'table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}';
  ctx.print(
    formatRows(str(p, 'format'), rows as unknown as Record<string, unknown>[], {
      defaultTable: def,
      headers: { ID: 'IMAGE ID', CreatedSince: 'CREATED', CreatedAt: 'CREATED AT', Repository: 'REPOSITORY', Tag: 'TAG', Size: 'SIZE', Digest: 'DIGEST', VirtualSize: 'VIRTUAL SIZE', SharedSize: 'SHARED SIZE', UniqueSize: 'UNIQUE SIZE', Containers: 'CONTAINERS' },
    }),
  );
  return 0;
}

function matchesReference(pattern: string, repo: string, tag: string): boolean {
  const [pRepo, pTag] = pattern.includes(':') && !/:[0-9]+\//.test(pattern) ? (pattern.split(/:(?=[^:]*$)/) as [string, string]) : [pattern, undefined];
  if (!globToRegExp(pRepo).test(repo)) return false;
  return pTag === undefined || globToRegExp(pTag).test(tag);
}

export async function inspectImages(ctx: CliContext, p: ParsedArgs): Promise<number> {
  const engine = await ctx.engine();
  const docs: Record<string, unknown>[] = [];
  let failed = 0;
  for (const a of p.args) {
    try {
      docs.push(dockerImageInspect(engine, engine.images.resolve(a)));
    } catch (e) {
      if (!(e instanceof BerthError) || e.code !== 'not_found') throw e;
      ctx.err(`Error: No such image: ${a}`);
      failed++;
    }
  }
  await printJson(ctx, str(p, 'format'), docs);
  return failed ? 1 : 0;
}

export async function tagImage(ctx: CliContext, p: ParsedArgs): Promise<number> {
  const engine = await ctx.engine();
  const [src, dst] = p.args as [string, string];
  const img = engine.images.resolve(src);
  engine.images.tag(img.id, dst);
  return 0;
}

export async function removeImages(ctx: CliContext, p: ParsedArgs): Promise<number> {
  const engine = await ctx.engine();
  const { removeImage } = await import('../../engine/images.js');
  let failed = 0;
  for (const a of p.args) {
    try {
      const r = removeImage(engine, a, { force: bool(p, 'force') });
      for (const u of r.untagged) ctx.out(`Untagged: ${u}`);
      for (const d of r.deleted) ctx.out(`Deleted: ${d}`);
    } catch (e) {
      if (!(e instanceof BerthError)) throw e;
      ctx.err(`Error: ${e.message}`);
      failed++;
    }
  }
  return failed ? 1 : 0;
}

export async function imageHistory(ctx: CliContext, p: ParsedArgs): Promise<number> {
  const engine = await ctx.engine();
  const { imageHistory } = await import('../../engine/images.js');
  return printHistory(ctx, p, imageHistory(engine, p.args[0] as string));
}

/** `history`'s output (also for berth --host): rows newest first, `created` in ms when known. */
export function printHistory(ctx: CliContext, p: ParsedArgs, rows: { id: string; created?: number; createdBy: string; size: number; comment: string }[]): number {
  const noTrunc = bool(p, 'no-trunc');
  const human = p.flags.human !== false;
  const idOf = (id: string) => (id === '<missing>' || noTrunc ? id : id.slice(7, 19));
  if (bool(p, 'quiet')) {
    for (const r of rows) ctx.out(idOf(r.id));
    return 0;
  }
  const now = Date.now();
  const out = rows.map((r) => ({
    ID: idOf(r.id),
    CreatedSince: r.created === undefined ? 'N/A' : human ? timeAgo(r.created, now) : new Date(r.created).toISOString(),
    CreatedAt: r.created === undefined ? '' : new Date(r.created).toISOString(),
    CreatedBy: noTrunc || r.createdBy.length <= 45 ? r.createdBy : `${r.createdBy.slice(0, 44)}\u2026`,
    Size: human ? humanSize(r.size) : String(r.size),
    Comment: r.comment,
  }));
  ctx.print(
    formatRows(str(p, 'format'), out, {
      defaultTable: 'table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}',
      headers: { ID: 'IMAGE', CreatedSince: 'CREATED', CreatedAt: 'CREATED AT', CreatedBy: 'CREATED BY', Size: 'SIZE', Comment: 'COMMENT' },
    }),
  );
  return 0;
}

function openInput(ctx: CliContext, file: string): Readable {
  if (file === '-') return ctx.stdin;
  if (!fs.existsSync(file)) throw new BerthError('not_found', `open ${file}: no such file or directory`);
  return fs.createReadStream(file, { highWaterMark: 1 << 20 });
}

export async function importImage(ctx: CliContext, p: ParsedArgs): Promise<number> {
  const engine = await ctx.engine();
  const [file, tag] = p.args as [string, string | undefined];
  if (tag) parseReference(tag);
  if (/^https?:\/\//.test(file)) throw invalidArgument('importing from a URL is not supported', { hint: 'download the file first' });
  const { importImage } = await import('../../engine/images.js');
  const opts: import('../../engine/images.js').ImportOptions = { source: openInput(ctx, file), changes: list(p, 'change') };
  if (tag) opts.tag = tag;
  const m = str(p, 'message');
  if (m) opts.message = m;
  const plat = str(p, 'platform');
  if (plat) opts.platform = plat;
  const img = await importImage(engine, opts);
  ctx.out(img.id);
  return 0;
}

export async function saveImages(ctx: CliContext, p: ParsedArgs): Promise<number> {
  const engine = await ctx.engine();
  const { saveImages, saveImagesToDir } = await import('../../engine/archive.js');
  const format = (str(p, 'format') ?? 'docker-archive') as 'docker-archive' | 'oci-archive' | 'oci-dir';
  if (!['docker-archive', 'oci-archive', 'oci-dir'].includes(format)) throw invalidArgument(`unknown archive format "${format}": use docker-archive, oci-archive or oci-dir`);
  const output = str(p, 'output');
  if (format === 'oci-dir') {
    if (!output) throw invalidArgument('oci-dir needs --output DIR');
    await saveImagesToDir(engine, p.args, output);
    return 0;
  }
  if (!output && ctx.stdout.isTTY) throw invalidArgument('cowardly refusing to save to a terminal. Use the -o flag or redirect');
  for (const a of p.args) engine.images.resolve(a);
  if (output) {
    const { writeOutputFile } = await import('../../util/output-file.js');
    await writeOutputFile(output, (out) => saveImages(engine, p.args, out, format));
  } else {
    await saveImages(engine, p.args, ctx.stdout, format);
  }
  return 0;
}

export async function loadImages(ctx: CliContext, p: ParsedArgs): Promise<number> {
  const engine = await ctx.engine();
  const { loadImages } = await import('../../engine/archive.js');
  const input = str(p, 'input');
  if (!input && ctx.stdin.isTTY) throw invalidArgument('requested load from stdin, but stdin is empty', { hint: 'use -i FILE or pipe an archive in' });
  if (input && !fs.existsSync(input)) throw new BerthError('not_found', `open ${input}: no such file or directory`);
  const report = await loadImages(engine, input ?? ctx.stdin);
  if (!bool(p, 'quiet'))
    for (const l of report.loaded) {
      if (l.names.length === 0) ctx.out(`Loaded image ID: ${l.id}`);
      for (const n of l.names) ctx.out(`Loaded image: ${n}`);
    }
  return 0;
}

export async function pruneImages(ctx: CliContext, p: ParsedArgs): Promise<number> {
  const { pruneOne } = await import('./system.js');
  const r = await pruneOne(ctx, p, 'images', { all: bool(p, 'all') });
  if (r.untagged.length || r.images.length) {
    ctx.out('Deleted Images:');
    for (const u of r.untagged) ctx.out(`untagged: ${u}`);
    for (const d of r.images) ctx.out(`deleted: ${d.id}`);
    ctx.out('');
  }
  ctx.out(`Total reclaimed space: ${humanSize(r.spaceReclaimed)}`);
  return 0;
}

export type { ImageRecord };
export { parseUntil };
