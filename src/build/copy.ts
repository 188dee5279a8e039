/**
 * COPY and ADD: resolve sources (globs, directories, heredocs, URLs, local archives) against the build
 * context or another stage's root file system, compute their checksums for the cache key, and write
 * the result into a fresh layer directory. Docker's rules: a directory source copies its contents; a
 * destination ending in `/`, several sources, or an existing directory means "into this directory";
 * a relative destination is relative to WORKDIR; files are owned by root unless --chown; modes are
 * kept unless --chmod; ADD from a URL gets mode 0600 and ADD of a local tar archive is extracted.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { Digest } from '../content/digest.js';
import type { Engine } from '../engine/engine.js';
import { BerthError, invalidArgument, notFound } from '../errors.js';
import { applyLayer } from '../layer/apply.js';
import { decompress } from '../layer/compression.js';
import { type BuildContext, type ContextEntry, globToRegExp, hasGlob } from './context.js';
import type { CopyCommand } from './dockerfile/instructions.js';
import { createMatcher } from './dockerignore.js';
import { chainLookup, mkdirParents, userFromChain } from './executor.js';

/** Another stage's or image's root file system, mounted read-only for the step. */
export interface CopySourceRoot {
  dir: string;
  /** Identity for the cache key (stage key or image id). */
  key: string;
  release: () => void;
}

export interface CopyStepInput {
  cmd: CopyCommand;
  context: BuildContext;
  from: CopySourceRoot | undefined;
  top: Digest | null;
  workdir: string;
  filename: string;
}

export interface CopyStep {
  /** Checksums of every source (content, mode, path), for the cache key. */
  checksum: string[];
  createdBy: string;
  /** Writes the step's files into the empty layer directory. */
  write: (layerDir: string) => Promise<void>;
}

interface Item {
  /** Host path of the source. */
  abs: string;
  /** Path relative to the source root ('' for the root itself). */
  rel: string;
  isDir: boolean;
  /** Entries below a directory source (relative to it), context sources only; undefined = walk the disk. */
  children?: ContextEntry[];
}

/** Plans a COPY/ADD step. Fails with not_found for a missing source (`"/x": not found`). */
export async function copyStep(engine: Engine, input: CopyStepInput): Promise<CopyStep> {
  const { cmd, context, from, top } = input;
  const isAdd = cmd.kind === 'ADD';
  const items: Item[] = [];
  const checksum: string[] = [];
  const urls: string[] = [];
  const exclude = cmd.exclude.length ? createMatcher(cmd.exclude.map((p, i) => ({ pattern: p, exclusion: false, line: i + 1 }))) : undefined;
  for (const rawSrc of cmd.sources) {
    if (isAdd && /^https?:\/\//.test(rawSrc)) {
      urls.push(rawSrc);
      checksum.push(cmd.checksum ? `url:${rawSrc}:${cmd.checksum}` : `url:${rawSrc}:${await urlDigest(rawSrc)}`);
      continue;
    }
    if (isAdd && /^git@|\.git(#|$)/.test(rawSrc)) throw invalidArgument(`ADD of git repositories is not supported: ${rawSrc}`);
    const src = cleanRel(rawSrc);
    const matches = from ? globDisk(from.dir, src) : globContext(context, src);
    if (matches.length === 0) throw notFound(`failed to compute cache key: "/${src}": not found`, { hint: from ? undefined : 'check the path and your .dockerignore' });
    for (const rel of matches) {
      if (from) {
        const abs = path.join(from.dir, rel);
        const st = fs.lstatSync(abs);
        items.push({ abs, rel, isDir: st.isDirectory() });
      } else {
        const e = context.entry(rel) as ContextEntry;
        let sub = context.subtree(rel);
        if (exclude) sub = sub.filter((x) => !exclude(relUnder(rel, x.rel, e.type === 'dir'), x.type === 'dir'));
        checksum.push(context.checksumOf(sub));
        items.push({ abs: context.abs(rel), rel, isDir: e.type === 'dir', children: e.type === 'dir' ? sub.slice(1) : [] });
      }
    }
  }
  for (const h of cmd.sourceContents) checksum.push(`heredoc:${createHash('sha256').update(h.data).digest('hex')}`);

  const count = items.length + urls.length + cmd.sourceContents.length;
  let dest = cmd.dest.startsWith('/') ? cmd.dest : path.posix.join(input.workdir, cmd.dest) + (cmd.dest.endsWith('/') || cmd.dest === '.' ? '/' : '');
  if (cmd.dest === '.' || cmd.dest === './') dest = `${input.workdir.replace(/\/$/, '')}/`;
  const destRel = cleanRel(dest);
  const destExistsAsDir = (() => {
    const p = chainLookup(engine, top, destRel);
    try {
      return p !== undefined && fs.statSync(p).isDirectory();
    } catch {
      return false;
    }
  })();
  const intoDir = dest.endsWith('/') || count > 1 || destExistsAsDir;
  const flags = [
    cmd.from !== undefined ? `--from=${cmd.from}` : '',
    cmd.chown ? `--chown=${cmd.chown}` : '',
    cmd.chmod ? `--chmod=${cmd.chmod}` : '',
    cmd.link ? '--link' : '',
    ...cmd.exclude.map((e) => `--exclude=${e}`),
  ].filter(Boolean);
  const createdBy = `${cmd.kind} ${[...flags, ...cmd.sources, ...cmd.sourceContents.map((h) => `<<${h.name}`), cmd.dest].join(' ')}`;
  const chmod = cmd.chmod !== undefined ? parseChmod(cmd.chmod) : undefined;

  return {
    checksum,
    createdBy,
    write: async (layerDir: string) => {
      const owner = cmd.chown ? userFromChain(engine, top, cmd.chown) : { uid: 0, gid: 0 };
      const target = (name: string) => (intoDir ? path.posix.join(destRel, name) : destRel);
      if (intoDir) mkdirParents(engine, top, layerDir, destRel, owner);
      else mkdirParents(engine, top, layerDir, path.posix.dirname(destRel) === '.' ? '' : path.posix.dirname(destRel));
      const put = (rel: string) => path.join(layerDir, rel);
      const finish = (p: string, mode: number, mtime?: Date) => {
        fs.lchownSync(p, owner.uid, owner.gid);
        const st = fs.lstatSync(p);
        if (!st.isSymbolicLink()) fs.chmodSync(p, chmod !== undefined ? chmod : mode & 0o7777);
        if (mtime && !st.isSymbolicLink()) fs.utimesSync(p, mtime, mtime);
      };
      for (const h of cmd.sourceContents) {
        const p = put(target(h.name));
        fs.writeFileSync(p, h.data);
        finish(p, 0o644);
      }
      for (const u of urls) {
        const name = decodeURIComponent(new URL(u).pathname.split('/').filter(Boolean).pop() ?? '') || 'download';
        const p = put(target(name));
        const got = await download(u);
        if (cmd.checksum && `sha256:${createHash('sha256').update(got.data).digest('hex')}` !== cmd.checksum)
          throw invalidArgument(`digest mismatch for ${u}: expected ${cmd.checksum}, got sha256:${createHash('sha256').update(got.data).digest('hex')}`);
        fs.writeFileSync(p, got.data);
        finish(p, 0o600, got.mtime);
      }
      for (const it of items) {
        if (isAdd && !it.isDir && (await isArchive(it.abs))) {
          await extractArchive(it.abs, put(destRel), layerDir, engine, top);
          continue;
        }
        if (it.isDir) {
          // The directory's contents go into the destination directory.
          const base = destRel;
          mkdirParents(engine, top, layerDir, base, owner);
          const kids = it.children ?? walkDisk(it.abs);
          for (const k of kids) {
            const sub = it.children ? relUnder(it.rel, k.rel, true) : k.rel;
            copyOne(path.join(it.abs, sub), put(path.posix.join(base, sub)), k.type, finish);
          }
          continue;
        }
        const st = fs.lstatSync(it.abs);
        copyOne(it.abs, put(target(path.posix.basename(it.rel))), st.isSymbolicLink() ? 'symlink' : st.isFile() ? 'file' : 'other', finish);
      }
    },
  };
}

function copyOne(src: string, dst: string, type: string, finish: (p: string, mode: number, mtime?: Date) => void): void {
  const st = fs.lstatSync(src);
  if (type !== 'dir') fs.rmSync(dst, { recursive: true, force: true });
  if (type === 'dir') {
    fs.mkdirSync(dst, { recursive: true });
    finish(dst, st.mode, st.mtime);
  } else if (type === 'symlink') {
    fs.symlinkSync(fs.readlinkSync(src), dst);
    finish(dst, 0o777);
  } else if (type === 'file') {
    fs.copyFileSync(src, dst);
    finish(dst, st.mode, st.mtime);
  }
}

/** Entries below `dir` on disk, parents first, relative to it. */
function walkDisk(dir: string): ContextEntry[] {
  const out: ContextEntry[] = [];
  const walk = (abs: string, rel: string) => {
    for (const name of fs.readdirSync(abs).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const st = fs.lstatSync(path.join(abs, name));
      const type = st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : st.isFile() ? 'file' : 'other';
      out.push({ rel: r, type, mode: st.mode, size: st.size, mtimeMs: st.mtimeMs });
      if (type === 'dir') walk(path.join(abs, name), r);
    }
  };
  walk(dir, '');
  return out;
}

function relUnder(parent: string, child: string, parentIsDir: boolean): string {
  if (!parentIsDir) return path.posix.basename(child);
  return parent === '' ? child : child.slice(parent.length + 1);
}

/** A source path relative to its root, without a leading `/` ('' for the root). */
function cleanRel(p: string): string {
  const n = path.posix.normalize(`/${p}`).slice(1).replace(/\/$/, '');
  return n === '.' ? '' : n;
}

function globContext(ctx: BuildContext, src: string): string[] {
  if (!hasGlob(src)) return ctx.entry(src) ? [src] : [];
  const re = globToRegExp(src);
  return [...ctx.entries().keys()].filter((k) => re.test(k));
}

function globDisk(root: string, src: string): string[] {
  if (!hasGlob(src)) {
    try {
      fs.lstatSync(path.join(root, src));
      return [src];
    } catch {
      return [];
    }
  }
  let cur = [''];
  for (const part of src.split('/')) {
    const next: string[] = [];
    for (const dir of cur) {
      if (!hasGlob(part)) {
        if (fs.existsSync(path.join(root, dir, part))) next.push(dir ? `${dir}/${part}` : part);
        continue;
      }
      const re = globToRegExp(part);
      let names: string[] = [];
      try {
        names = fs.readdirSync(path.join(root, dir)).sort();
      } catch {
        /* not a directory */
      }
      for (const n of names) if (re.test(n)) next.push(dir ? `${dir}/${n}` : n);
    }
    cur = next;
  }
  return cur;
}

function parseChmod(s: string): number {
  if (!/^[0-7]{3,4}$/.test(s)) throw invalidArgument(`invalid --chmod value ${s}: use octal digits like 755`);
  return Number.parseInt(s, 8);
}

async function download(url: string): Promise<{ data: Buffer; mtime?: Date }> {
  let res: Response;
  try {
    res = await fetch(url);
  } catch (e) {
    throw new BerthError('unavailable', `failed to download ${url}: ${(e as Error).message}`, { cause: e });
  }
  if (!res.ok) throw new BerthError('unavailable', `failed to download ${url}: HTTP ${res.status} ${res.statusText}`);
  const data = Buffer.from(await res.arrayBuffer());
  const lm = res.headers.get('last-modified');
  const mtime = lm ? new Date(lm) : undefined;
  return mtime && !Number.isNaN(mtime.getTime()) ? { data, mtime } : { data };
}

async function urlDigest(url: string): Promise<string> {
  const { data } = await download(url);
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

async function isArchive(file: string): Promise<boolean> {
  const fd = fs.openSync(file, 'r');
  try {
    const b = Buffer.alloc(512);
    const n = fs.readSync(fd, b, 0, 512, 0);
    if (n >= 2 && b[0] === 0x1f && b[1] === 0x8b) return true;
    if (n >= 4 && b.readUInt32LE(0) === 0xfd2fb528) return true;
    return n >= 262 && b.toString('latin1', 257, 262) === 'ustar';
  } finally {
    fs.closeSync(fd);
  }
}

/** Extracts a (gzip/zstd/plain) tar into `destRel` of the layer dir, keeping its owners and modes. */
async function extractArchive(file: string, destAbs: string, layerDir: string, engine: Engine, top: Digest | null): Promise<void> {
  const rel = path.relative(layerDir, destAbs);
  mkdirParents(engine, top, layerDir, rel);
  const tmp = `${destAbs}.extract-${process.pid}`;
  const { stream } = await decompress(Readable.from(fs.createReadStream(file)));
  await applyLayer(stream, tmp);
  for (const name of fs.readdirSync(tmp)) {
    fs.rmSync(path.join(destAbs, name), { recursive: true, force: true });
    fs.renameSync(path.join(tmp, name), path.join(destAbs, name));
  }
  fs.rmSync(tmp, { recursive: true, force: true });
}
