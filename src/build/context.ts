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
import { type IgnoreMatcher, createMatcher, parseDockerignore } from './dockerignore.js';

export type EntryType = 'file' | 'dir' | 'symlink' | 'other';

export interface ContextEntry {
  /** Slash-separated path relative to the context root. */
  rel: string;
  type: EntryType;
  mode: number;
  size: number;
  mtimeMs: number;
}

/**
 * sha256 of file contents, keyed by (dev, ino, size, mtime, ctime). Persisted as one JSON file; entries
 * not used for 30 days are dropped when it is saved.
 */
export class StatCache {
  private readonly entries = new Map<string, [string, number]>();
  private dirty = false;

  constructor(private readonly file?: string) {
    if (!file) return;
    try {
      const raw = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, [string, number]>;
      for (const [k, v] of Object.entries(raw)) this.entries.set(k, v);
    } catch {
      /* missing or unreadable: start empty */
    }
  }

  static key(st: fs.Stats): string {
    return `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
  }

  /** The content digest of `abs` (hex), hashing only on a cache miss. */
  hash(abs: string, st: fs.Stats): string {
    const k = StatCache.key(st);
    const hit = this.entries.get(k);
    const today = Math.floor(Date.now() / 86_400_000);
    if (hit) {
      if (hit[1] !== today) {
        hit[1] = today;
        this.dirty = true;
      }
      return hit[0];
    }
    const h = createHash('sha256').update(fs.readFileSync(abs)).digest('hex');
    // A file modified while hashed (ctime changed) is not cached: the next build hashes it again.
    const after = fs.lstatSync(abs);
    if (StatCache.key(after) === k) {
      this.entries.set(k, [h, today]);
      this.dirty = true;
    }
    return h;
  }

  /** Writes the cache atomically when it changed. */
  save(): void {
    if (!this.file || !this.dirty) return;
    const cutoff = Math.floor(Date.now() / 86_400_000) - 30;
    const out: Record<string, [string, number]> = {};
    for (const [k, v] of this.entries) if (v[1] >= cutoff) out[k] = v;
    fs.mkdirSync(path.dirname(this.file), { recursive: true });
    const tmp = `${this.file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(out));
    fs.renameSync(tmp, this.file);
    this.dirty = false;
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
  private readonly checksums = new Map<string, string>();
  /** lstat results of the walk, so checksums need no second stat. */
  private readonly stats = new Map<string, fs.Stats>();
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
    const dir = fs.mkdtempSync(path.join(tmpParent, 'ctx-'));
    fs.mkdirSync(path.join(dir, 'c'));
    return new BuildContext(path.join(dir, 'c'), true, opts);
  }

  /** A tar (any compression) context, extracted under `tmpParent`. The Dockerfile is read from inside it. */
  static async fromTar(src: Readable, tmpParent: string, opts: ContextOptions = {}): Promise<BuildContext> {
    fs.mkdirSync(tmpParent, { recursive: true });
    const dir = fs.mkdtempSync(path.join(tmpParent, 'ctx-'));
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

  /** Every included entry (files, dirs, symlinks), by relative path, in sorted order. */
  entries(): Map<string, ContextEntry> {
    if (this.entriesCache) return this.entriesCache;
    const out = new Map<string, ContextEntry>();
    const walk = (absDir: string, relDir: string) => {
      for (const name of fs.readdirSync(absDir).sort()) {
        const rel = relDir ? `${relDir}/${name}` : name;
        const abs = `${absDir}/${name}`;
        const st = fs.lstatSync(abs);
        const isDir = st.isDirectory();
        const excluded = this.matcher(rel, isDir);
        if (isDir) {
          if (excluded && this.matcher.canSkipDir(rel)) continue;
          const before = out.size;
          if (!excluded) out.set(rel, entryOf(rel, st, 'dir'));
          walk(abs, rel);
          // An excluded directory appears only as the parent of re-included entries.
          if (excluded && out.size > before) out.set(rel, entryOf(rel, st, 'dir'));
          continue;
        }
        if (excluded) continue;
        this.stats.set(rel, st);
        out.set(rel, entryOf(rel, st, st.isFile() ? 'file' : st.isSymbolicLink() ? 'symlink' : 'other'));
      }
    };
    walk(this.dir, '');
    this.entriesCache = new Map([...out].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)));
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

  /** Checksum of one entry: sha256 of its path, type, mode and content (or link target). */
  entryChecksum(e: ContextEntry): string {
    const cached = this.checksums.get(e.rel);
    if (cached) return cached;
    let content = '';
    if (e.type === 'file') content = this.statCache.hash(this.abs(e.rel), this.stats.get(e.rel) ?? fs.lstatSync(this.abs(e.rel)));
    else if (e.type === 'symlink') content = fs.readlinkSync(this.abs(e.rel));
    const sum = createHash('sha256').update(`${e.rel}\0${e.type}\0${(e.mode & 0o7777).toString(8)}\0${content}`).digest('hex');
    this.checksums.set(e.rel, sum);
    return sum;
  }

  /** Checksum of a set of entries (a COPY source after globbing and --exclude). */
  checksumOf(entries: readonly ContextEntry[]): string {
    const h = createHash('sha256');
    for (const e of entries) h.update(`${this.entryChecksum(e)}\n`);
    return `sha256:${h.digest('hex')}`;
  }

  /** Digest of the whole context (recorded with the image for the stale-image warning). */
  digest(): string {
    return this.checksumOf([...this.entries().values()]);
  }

  /** Persists new stat-cache entries and removes a temporary context. */
  dispose(): void {
    try {
      this.statCache.save();
    } catch {
      /* the cache is an optimisation */
    }
    if (this.temporary) fs.rmSync(path.dirname(this.dir), { recursive: true, force: true });
  }
}

function entryOf(rel: string, st: fs.Stats, type: EntryType): ContextEntry {
  return { rel, type, mode: st.mode, size: st.size, mtimeMs: st.mtimeMs };
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
