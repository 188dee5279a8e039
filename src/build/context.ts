/**
 * The build context: the files a Dockerfile may COPY/ADD, after `.dockerignore`, with content checksums
 * for cache keys.
 *
 * A context is a directory on disk: the user's directory, or a tarball from stdin extracted into a
 * temporary directory (`dispose()` removes it). The walk happens once, lazily; checksums hash file
 * contents only when the persistent stat cache (keyed by dev, ino, size, mtime, ctime) has no entry,
 * so a rebuild of an unchanged context reads no file contents.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { BerthError, invalidArgument, notFound } from '../errors.js';
import { applyLayer } from '../layer/apply.js';
import { decompress } from '../layer/compression.js';
import { parseReference } from '../image/reference.js';
import { type IgnoreMatcher, createMatcher, parseDockerignore } from './dockerignore.js';

export type EntryType = 'file' | 'dir' | 'symlink' | 'other';

export interface ContextEntry {
  /** Slash-separated path relative to the context root. */
  rel: string;
  type: EntryType;
  mode: number;
  size: number;
  mtimeMs: number;
  /** From the walk's lstat (context entries); the stat cache's validity tuple. */
  ino?: number;
  ctimeMs?: number;
  uid?: number;
  gid?: number;
}

/**
 * sha256 of file contents per context path, valid while the file's (ino, size, mtime, ctime) tuple is
 * unchanged. One small file per context directory (`<dir of file>/build-stat-cache/<hash of the
 * context path>`), in a compact line format (`hex ino size mtimeMs ctimeMs rel\0` per file), so a
 * rebuild loads only its own context's entries and parses no JSON. Entries of files no longer in the
 * context are dropped when it is saved.
 */
export class StatCache {
  private entries = new Map<string, StatRecord>();
  private dirty = false;
  private file: string | undefined;

  /** `location`: where the cache lives (its directory is used); none = in memory only. */
  constructor(private readonly location?: string) {}

  /** Loads the entries of the context at `dir` (absolute). Called once by the context. */
  open(dir: string): void {
    if (!this.location) return;
    const name = createHash('sha256').update(dir).digest('hex').slice(0, 32);
    this.file = path.join(path.dirname(this.location), 'build-stat-cache', name);
    this.entries = new Map();
    let text: string;
    try {
      text = fs.readFileSync(this.file, 'utf8');
    } catch {
      return; // missing or unreadable: start empty
    }
    for (const rec of text.split('\0')) {
      // Five space-free fields, then the path (which may hold spaces).
      let at = 0;
      let fields = 0;
      for (; fields < 5; fields++) {
        const sp = rec.indexOf(' ', at);
        if (sp < 0) break;
        at = sp + 1;
      }
      if (fields < 5) continue;
      const [hex, ino, size, mtimeMs, ctimeMs] = rec.slice(0, at - 1).split(' ') as [string, string, string, string, string];
      this.entries.set(rec.slice(at), { hex, ino: Number(ino), size: Number(size), mtimeMs: Number(mtimeMs), ctimeMs: Number(ctimeMs) });
    }
  }

  /** The content digest (hex) of the context file `rel` at `abs`, hashing only on a cache miss. */
  hash(rel: string, abs: string, e: { ino: number; size: number; mtimeMs: number; ctimeMs: number }): string {
    const hit = this.entries.get(rel);
    if (hit && hit.ino === e.ino && hit.size === e.size && hit.mtimeMs === e.mtimeMs && hit.ctimeMs === e.ctimeMs) {
      return hit.hex;
    }
    const { hex, unchanged } = hashFile(abs, e);
    // A file modified while hashed is not cached: the next build hashes it again.
    if (unchanged) {
      this.entries.set(rel, { hex, ino: e.ino, size: e.size, mtimeMs: e.mtimeMs, ctimeMs: e.ctimeMs });
      this.dirty = true;
    }
    return hex;
  }

  /** Writes the cache atomically when it changed; `present` drops paths no longer in the context. */
  save(present?: (rel: string) => boolean): void {
    if (!this.file) return;
    if (present) {
      for (const rel of this.entries.keys()) {
        if (!present(rel)) {
          this.entries.delete(rel);
          this.dirty = true;
        }
      }
    }
    if (!this.dirty) return;
    const parts: string[] = [];
    for (const [rel, r] of this.entries) parts.push(`${r.hex} ${r.ino} ${r.size} ${r.mtimeMs} ${r.ctimeMs} ${rel}`);
    fs.mkdirSync(path.dirname(this.file), { recursive: true });
    const tmp = `${this.file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, parts.join('\0'));
    fs.renameSync(tmp, this.file);
    this.dirty = false;
  }
}

interface StatRecord {
  hex: string;
  ino: number;
  size: number;
  mtimeMs: number;
  ctimeMs: number;
}

const HASH_BUF = Buffer.allocUnsafe(1 << 20);

/** sha256 of a file read in 1 MiB chunks; `unchanged` when its stat tuple still is `e` afterwards. */
function hashFile(abs: string, e: { ino: number; size: number; mtimeMs: number; ctimeMs: number }): { hex: string; unchanged: boolean } {
  const fd = fs.openSync(abs, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  try {
    const h = createHash('sha256');
    for (;;) {
      const n = fs.readSync(fd, HASH_BUF, 0, HASH_BUF.length, null);
      if (n <= 0) break;
      h.update(n === HASH_BUF.length ? HASH_BUF : HASH_BUF.subarray(0, n));
    }
    const st = fs.fstatSync(fd);
    return { hex: h.digest('hex'), unchanged: st.ino === e.ino && st.size === e.size && st.mtimeMs === e.mtimeMs && st.ctimeMs === e.ctimeMs };
  } finally {
    fs.closeSync(fd);
  }
}

export interface ContextOptions {
  /** Dockerfile path: absolute, or relative to the context root for tar contexts. */
  dockerfilePath?: string;
  /** Dockerfile text given directly (`-f -`). */
  dockerfileText?: string;
  statCache?: StatCache;
}

export class BuildContext {
  private entriesCache: Map<string, ContextEntry> | undefined;
  readonly dockerfileText: string;
  /** Name shown in errors ("Dockerfile", "app.Dockerfile"). */
  readonly dockerfileName: string;
  /** Absolute path of the Dockerfile on disk, when it is a file. */
  readonly dockerfilePath: string | undefined;
  readonly matcher: IgnoreMatcher;
  private readonly statCache: StatCache;

  private constructor(
    /** Absolute path of the context root. */
    readonly dir: string,
    private readonly temporary: boolean,
    opts: ContextOptions,
  ) {
    this.statCache = opts.statCache ?? new StatCache();
    if (!temporary) this.statCache.open(dir);
    if (opts.dockerfileText !== undefined) {
      this.dockerfileText = opts.dockerfileText;
      this.dockerfileName = 'Dockerfile';
      this.dockerfilePath = undefined;
    } else {
      const p = opts.dockerfilePath ? path.resolve(dir, opts.dockerfilePath) : path.join(dir, 'Dockerfile');
      let text: string | undefined;
      for (const cand of opts.dockerfilePath ? [p] : [p, path.join(dir, 'dockerfile')]) {
        try {
          text = fs.readFileSync(cand, 'utf8');
          this.dockerfilePath = cand;
          break;
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
        }
      }
      if (text === undefined)
        throw notFound(`failed to read dockerfile: open ${opts.dockerfilePath ?? 'Dockerfile'}: no such file or directory`, {
          hint: 'give the Dockerfile with -f, or run the build in the directory that has one',
        });
      this.dockerfileText = text;
      this.dockerfileName = path.basename(this.dockerfilePath as string);
    }
    // <Dockerfile>.dockerignore next to the Dockerfile wins over the context's .dockerignore.
    let ignore = '';
    const candidates = [...(this.dockerfilePath ? [`${this.dockerfilePath}.dockerignore`] : []), path.join(dir, '.dockerignore')];
    for (const c of candidates) {
      try {
        ignore = fs.readFileSync(c, 'utf8');
        break;
      } catch {
        /* try the next */
      }
    }
    this.matcher = createMatcher(parseDockerignore(ignore));
  }

  /** A directory context. Fails with not_found when the directory or the Dockerfile is missing. */
  static fromDir(dir: string, opts: ContextOptions = {}): BuildContext {
    const abs = path.resolve(dir);
    let st: fs.Stats;
    try {
      st = fs.statSync(abs);
    } catch {
      throw notFound(`unable to prepare context: path "${dir}" not found`);
    }
    if (!st.isDirectory()) throw invalidArgument(`unable to prepare context: "${dir}" is not a directory`);
    return new BuildContext(abs, false, opts);
  }

  /** An empty context (a Dockerfile alone on stdin), in a temporary directory under `tmpParent`. */
  static empty(tmpParent: string, opts: ContextOptions): BuildContext {
    fs.mkdirSync(tmpParent, { recursive: true });
    const dir = fs.mkdtempSync(path.join(tmpParent, `${process.pid}-ctx-`));
    fs.mkdirSync(path.join(dir, 'c'));
    return new BuildContext(path.join(dir, 'c'), true, opts);
  }

  /** A tar (any compression) context, extracted under `tmpParent`. The Dockerfile is read from inside it. */
  static async fromTar(src: Readable, tmpParent: string, opts: ContextOptions = {}): Promise<BuildContext> {
    fs.mkdirSync(tmpParent, { recursive: true });
    const dir = fs.mkdtempSync(path.join(tmpParent, `${process.pid}-ctx-`));
    try {
      const { stream } = await decompress(src);
      await applyLayer(stream, path.join(dir, 'c'));
      const o = { ...opts };
      if (o.dockerfilePath && path.isAbsolute(o.dockerfilePath)) o.dockerfilePath = path.basename(o.dockerfilePath);
      return new BuildContext(path.join(dir, 'c'), true, o);
    } catch (e) {
      fs.rmSync(dir, { recursive: true, force: true });
      if (e instanceof BerthError) throw e;
      throw invalidArgument(`reading the build context from the tar stream: ${(e as Error).message}`, { cause: e });
    }
  }

  /**
   * Every included entry (files, dirs, symlinks), by relative path, in byte order (a parent before
   * its children). One readdir per directory and one lstat per included entry; excluded files are
   * never stat'ed. Synchronous on purpose: thousands of small async calls cost more than they overlap.
   */
  entries(): Map<string, ContextEntry> {
    if (this.entriesCache) return this.entriesCache;
    const out: ContextEntry[] = [];
    const walk = (absDir: string, relDir: string) => {
      const names = fs.readdirSync(absDir, { withFileTypes: true });
      for (const d of names) {
        const name = d.name;
        const rel = relDir ? `${relDir}/${name}` : name;
        const isDir = d.isDirectory();
        const excluded = this.matcher(rel, isDir);
        if (isDir) {
          if (excluded && this.matcher.canSkipDir(rel)) continue;
          const abs = `${absDir}/${name}`;
          const st = fs.lstatSync(abs);
          const before = out.length;
          walk(abs, rel);
          // An excluded directory appears only as the parent of re-included entries.
          if (!excluded || out.length > before) out.push(entryOf(rel, st, 'dir'));
          continue;
        }
        if (excluded) continue;
        const st = fs.lstatSync(`${absDir}/${name}`);
        out.push(entryOf(rel, st, st.isFile() ? 'file' : st.isSymbolicLink() ? 'symlink' : 'other'));
      }
    };
    walk(this.dir, '');
    out.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
    this.entriesCache = new Map(out.map((e) => [e.rel, e]));
    return this.entriesCache;
  }

  /** The entry at `rel` ('' or '.' for the root), or undefined when absent or ignored. */
  entry(rel: string): ContextEntry | undefined {
    if (rel === '' || rel === '.') return { rel: '', type: 'dir', mode: 0o755, size: 0, mtimeMs: 0 };
    return this.entries().get(rel);
  }

  /** Entries at or below `rel`, the entry itself first. */
  subtree(rel: string): ContextEntry[] {
    if (rel === '' || rel === '.') return [this.entry('') as ContextEntry, ...this.entries().values()];
    const own = this.entries().get(rel);
    if (!own) return [];
    if (own.type !== 'dir') return [own];
    const prefix = `${rel}/`;
    return [own, ...[...this.entries().values()].filter((e) => e.rel.startsWith(prefix))];
  }

  abs(rel: string): string {
    return rel === '' ? this.dir : path.join(this.dir, rel);
  }

  /** What identifies one entry in checksums: its path, type, mode and content digest (or link target). */
  private entryLine(e: ContextEntry): string {
    let content = '';
    if (e.type === 'file') {
      const abs = this.abs(e.rel);
      content = this.statCache.hash(e.rel, abs, e.ino !== undefined && e.ctimeMs !== undefined ? (e as Required<ContextEntry>) : statTuple(abs));
    } else if (e.type === 'symlink') content = fs.readlinkSync(this.abs(e.rel));
    return `${e.rel}\0${e.type}\0${(e.mode & 0o7777).toString(8)}\0${content}\n`;
  }

  /** Checksum of a set of entries (a COPY source after globbing and --exclude), one hash over them all. */
  checksumOf(entries: readonly ContextEntry[]): string {
    const h = createHash('sha256');
    let batch = '';
    for (const e of entries) {
      batch += this.entryLine(e);
      if (batch.length > 65536) {
        h.update(batch);
        batch = '';
      }
    }
    h.update(batch);
    return `sha256:${h.digest('hex')}`;
  }

  /** Digest of the whole context (recorded with the image for the stale-image warning). */
  digest(): string {
    return this.checksumOf([...this.entries().values()]);
  }

  /** Persists new stat-cache entries and removes a temporary context. */
  dispose(): void {
    try {
      const entries = this.entriesCache;
      this.statCache.save(entries ? (rel) => entries.has(rel) : undefined);
    } catch {
      /* the cache is an optimisation */
    }
    if (this.temporary) fs.rmSync(path.dirname(this.dir), { recursive: true, force: true });
  }
}

function entryOf(rel: string, st: fs.Stats, type: EntryType): ContextEntry {
  return { rel, type, mode: st.mode, size: st.size, mtimeMs: st.mtimeMs, ino: st.ino, ctimeMs: st.ctimeMs, uid: st.uid, gid: st.gid };
}

function statTuple(abs: string): { ino: number; size: number; mtimeMs: number; ctimeMs: number } {
  const st = fs.lstatSync(abs);
  return { ino: st.ino, size: st.size, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs };
}

/** Whether a COPY source has glob characters (filepath.Match syntax). */
export function hasGlob(p: string): boolean {
  return /[*?[]/.test(p);
}

/** Go filepath.Match as a RegExp over one slash-separated path (`*` and `?` never cross `/`). */
export function globToRegExp(pattern: string): RegExp {
  let re = '^';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] as string;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '\\' && i + 1 < pattern.length) re += escapeRe(pattern[++i] as string);
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 2);
      if (end < 0) throw invalidArgument(`invalid glob pattern: ${pattern}`);
      let cls = pattern.slice(i + 1, end);
      if (cls.startsWith('^') || cls.startsWith('!')) cls = `^${cls.slice(1)}`;
      re += `[${cls.replace(/\\/g, '\\\\')}]`;
      i = end;
    } else re += escapeRe(c);
  }
  return new RegExp(`${re}$`);
}

function escapeRe(c: string): string {
  return c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

/** A `--build-context`: a directory read like the main context, or an image standing for the name. */
export type NamedContext = { type: 'dir'; context: BuildContext } | { type: 'image'; ref: string };

/**
 * `build --build-context NAME=DIR|docker-image://REF` values (BuildKit's forms; other URLs are
 * refused). A directory becomes a context of its own, without a Dockerfile; the caller disposes it.
 */
export function namedContextsFromFlags(items: string[], statCache: StatCache): Record<string, NamedContext> {
  const out: Record<string, NamedContext> = {};
  for (const nc of items) {
    const eq = nc.indexOf('=');
    const name = eq > 0 ? nc.slice(0, eq) : '';
    const value = nc.slice(eq + 1);
    if (!/^[a-z0-9][a-z0-9_.-]*$/.test(name) || !value) throw invalidArgument(`invalid --build-context "${nc}": use NAME=DIR or NAME=docker-image://REF (lowercase NAME)`);
    if (value.startsWith('docker-image://')) {
      const ref = value.slice('docker-image://'.length);
      parseReference(ref);
      out[name] = { type: 'image', ref };
    } else if (/^[a-z][a-z0-9+.-]*:\/\//.test(value)) {
      throw invalidArgument(`--build-context ${name}: "${value}" is not supported`, { hint: 'use a local directory or docker-image://REF' });
    } else out[name] = { type: 'dir', context: BuildContext.fromDir(value, { dockerfileText: '', statCache }) };
  }
  return out;
}
