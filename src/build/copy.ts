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
import { END_OF_ARCHIVE, type TarWriteHeader, encodeHeader, padding } from '../layer/tar-writer.js';
import { publicFetch } from '../registry/transport.js';
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
  /** Clamp every mtime of the layer to at most this (seconds). */
  sourceDateEpoch?: number | undefined;
}

export interface CopyStep {
  /** Checksums of every source (content, mode, path), for the cache key. */
  checksum: string[];
  createdBy: string;
  /** Writes the step's files into the empty layer directory. */
  write: (layerDir: string) => Promise<void>;
  /**
   * The step's layer as a tar stream, without an intermediate copy on disk: headers carry --chown and
   * --chmod, file bodies are read straight from the sources. Undefined when the step must use `write`
   * (ADD of a local archive, which is extracted).
   */
  tar?: () => Readable;
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
  let streamable = true;
  if (isAdd) for (const it of items) if (!it.isDir && (await isArchive(it.abs))) streamable = false;

  /** The layer as tar chunks: the same entries `write` makes, in the same order. */
  async function* layerTar(): AsyncGenerator<Buffer> {
    const epoch = input.sourceDateEpoch;
    const clamp = (ms: number) => {
      const sec = Math.floor(ms / 1000);
      return epoch !== undefined && sec > epoch ? epoch : sec;
    };
    const owner = cmd.chown ? userFromChain(engine, top, cmd.chown) : { uid: 0, gid: 0 };
    const out = new TarChunks();
    const dirsDone = new Set<string>();
    /** Parent directories as mkdirParents makes them: the chain's metadata when present, else 0755 + owner. */
    const parents = (rel: string, o = { uid: 0, gid: 0 }) => {
      const parts = rel.split('/').filter(Boolean);
      for (let i = 1; i <= parts.length; i++) {
        const sub = parts.slice(0, i).join('/');
        if (dirsDone.has(sub)) continue;
        dirsDone.add(sub);
        const lower = chainLookup(engine, top, sub);
        const st = lower ? fs.statSync(lower) : undefined;
        if (st?.isDirectory()) out.header({ name: `${sub}/`, type: 'directory', size: 0, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: clamp(st.mtimeMs) });
        else out.header({ name: `${sub}/`, type: 'directory', size: 0, mode: 0o755, uid: o.uid, gid: o.gid, mtime: clamp(Date.now()) });
      }
    };
    const target = (name: string) => (intoDir ? path.posix.join(destRel, name) : destRel);
    const base = (mode: number, mtimeMs: number) => ({ mode: chmod !== undefined ? chmod : mode & 0o7777, uid: owner.uid, gid: owner.gid, mtime: clamp(mtimeMs) });
    if (intoDir) parents(destRel, owner);
    else parents(path.posix.dirname(destRel) === '.' ? '' : path.posix.dirname(destRel));
    for (const h of cmd.sourceContents) {
      const data = Buffer.from(h.data);
      out.header({ name: target(h.name), type: 'file', size: data.length, ...base(0o644, Date.now()) });
      out.body(data);
    }
    yield* out.take();
    for (const u of urls) {
      const name = decodeURIComponent(new URL(u).pathname.split('/').filter(Boolean).pop() ?? '') || 'download';
      const got = await download(u);
      const sum = `sha256:${createHash('sha256').update(got.data).digest('hex')}`;
      if (cmd.checksum && sum !== cmd.checksum) throw invalidArgument(`digest mismatch for ${u}: expected ${cmd.checksum}, got ${sum}`);
      out.header({ name: target(name), type: 'file', size: got.data.length, ...base(0o600, (got.mtime ?? new Date()).getTime()) });
      out.body(got.data);
    }
    const one = (abs: string, name: string, e: { type: string; mode: number; size: number; mtimeMs: number }) => {
      if (e.type === 'dir') {
        dirsDone.add(name);
        out.header({ name: `${name}/`, type: 'directory', size: 0, ...base(e.mode, e.mtimeMs) });
      } else if (e.type === 'symlink') {
        out.header({ name, type: 'symlink', size: 0, linkname: fs.readlinkSync(abs), ...base(0o777, e.mtimeMs), mode: 0o777 });
      } else if (e.type === 'file') {
        out.header({ name, type: 'file', size: e.size, ...base(e.mode, e.mtimeMs) });
        out.file(abs, e.size, name);
      }
    };
    for (const it of items) {
      if (it.isDir) {
        parents(destRel, owner);
        const kids = it.children ?? walkDisk(it.abs);
        for (const k of kids) {
          const sub = it.children ? relUnder(it.rel, k.rel, true) : k.rel;
          one(path.join(it.abs, sub), path.posix.join(destRel, sub), k);
          yield* out.take();
        }
        continue;
      }
      const st = fs.lstatSync(it.abs);
      const type = st.isSymbolicLink() ? 'symlink' : st.isFile() ? 'file' : 'other';
      one(it.abs, target(path.posix.basename(it.rel)), { type, mode: st.mode, size: st.size, mtimeMs: st.mtimeMs });
      yield* out.take();
    }
    out.end();
    yield* out.take();
  }

  return {
    checksum,
    createdBy,
    ...(streamable ? { tar: () => Readable.from(layerTar(), { objectMode: false }) } : {}),
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

const CHUNK = 1 << 20;

/** Collects tar headers and bodies into 1 MiB chunks (fresh buffers: consumers may keep them). */
class TarChunks {
  private cur = Buffer.allocUnsafe(CHUNK);
  private off = 0;
  private ready: Buffer[] = [];

  header(h: TarWriteHeader): void {
    this.body(encodeHeader(h));
  }

  /** Bytes followed by the padding to the next 512-byte block. */
  body(b: Buffer): void {
    this.put(b);
    this.zeros(padding(b.length));
  }

  /** `size` bytes of the file at `abs`, read in place; fails when the file shrank since it was listed. */
  file(abs: string, size: number, name: string): void {
    const fd = fs.openSync(abs, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    try {
      let left = size;
      while (left > 0) {
        if (this.off === CHUNK) this.flush();
        const n = fs.readSync(fd, this.cur, this.off, Math.min(CHUNK - this.off, left), null);
        if (n <= 0) throw new BerthError('failed_precondition', `${name} changed while it was copied (shorter than ${size} bytes)`, { hint: 'run the build again' });
        this.off += n;
        left -= n;
      }
    } finally {
      fs.closeSync(fd);
    }
    this.zeros(padding(size));
  }

  /** The end-of-archive blocks; everything is then ready to take. */
  end(): void {
    this.zeros(END_OF_ARCHIVE.length);
    this.flush();
  }

  /** The full chunks so far (all of them after `end`). */
  *take(): Generator<Buffer> {
    if (this.ready.length === 0) return;
    const r = this.ready;
    this.ready = [];
    yield* r;
  }

  private put(b: Buffer): void {
    let at = 0;
    while (at < b.length) {
      if (this.off === CHUNK) this.flush();
      const n = b.copy(this.cur, this.off, at);
      this.off += n;
      at += n;
    }
  }

  private zeros(n: number): void {
    let left = n;
    while (left > 0) {
      if (this.off === CHUNK) this.flush();
      const k = Math.min(CHUNK - this.off, left);
      this.cur.fill(0, this.off, this.off + k);
      this.off += k;
      left -= k;
    }
  }

  private flush(): void {
    if (this.off === 0) return;
    this.ready.push(this.cur.subarray(0, this.off));
    this.cur = Buffer.allocUnsafe(CHUNK);
    this.off = 0;
  }
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
    res = await publicFetch()(url);
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
