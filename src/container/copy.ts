/**
 * cp and export. Paths inside a container are resolved as the container would see them, with
 * symlinks followed inside its root only (an absolute link target means the container's root), so
 * nothing a container wrote can redirect a copy to the host.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { BerthError, invalidArgument, notFound } from '../errors.js';
import { writeLayerTar } from '../layer/diff.js';
import { isMounted, mountRootfs, unmountRootfs } from '../snapshot/overlay.js';
import type { ContainerService } from './service.js';

/** Resolves `p` inside `root` following symlinks within it; the last component is followed only when `followLast`. */
export function resolveInRoot(root: string, p: string, followLast = true): string {
  const parts = p.split('/').filter((x) => x && x !== '.');
  const resolved: string[] = [];
  let links = 0;
  while (parts.length) {
    const part = parts.shift() as string;
    if (part === '..') {
      resolved.pop();
      continue;
    }
    const cur = path.join(root, ...resolved, part);
    let st: fs.Stats | undefined;
    try {
      st = fs.lstatSync(cur);
    } catch {
      st = undefined;
    }
    if (st?.isSymbolicLink() && (parts.length > 0 || followLast)) {
      if (++links > 40) throw invalidArgument(`too many levels of symbolic links: ${p}`);
      const target = fs.readlinkSync(cur);
      if (target.startsWith('/')) resolved.length = 0;
      parts.unshift(...target.split('/').filter((x) => x && x !== '.'));
      continue;
    }
    resolved.push(part);
  }
  return path.join(root, ...resolved);
}

async function withRootfs<T>(svc: ContainerService, idOrName: string, fn: (root: string) => Promise<T>): Promise<T> {
  const rec = svc.get(idOrName);
  const d = svc.dirs(rec.config.id);
  const live = rec.state.status === 'running' || rec.state.status === 'paused';
  let mountedHere = false;
  if (!live || !isMounted(d.merged)) {
    const img = svc.engine.images.get(rec.config.imageId);
    if (!img) throw new BerthError('failed_precondition', `the image of container ${rec.config.name} is gone`);
    fs.mkdirSync(d.run, { recursive: true });
    if (!isMounted(d.merged)) {
      mountRootfs(svc.engine.layers, img.topLayer, { upper: d.upper, work: d.work, merged: d.merged, init: d.init });
      mountedHere = true;
    }
  }
  try {
    return await fn(d.merged);
  } finally {
    if (mountedHere) unmountRootfs(d.merged);
  }
}

export async function exportContainer(svc: ContainerService, idOrName: string, out: Writable): Promise<void> {
  await withRootfs(svc, idOrName, async (root) => {
    await writeLayerTar(root, out);
  });
}

export async function copyFromContainer(
  svc: ContainerService,
  idOrName: string,
  src: string,
  dst: string | Writable,
  opts: { followLink?: boolean } = {},
): Promise<void> {
  await withRootfs(svc, idOrName, async (root) => {
    const from = resolveInRoot(root, src, opts.followLink === true || src.endsWith('/'));
    if (!fs.existsSync(from) && !isLink(from)) throw notFound(`Could not find the file ${src} in container ${idOrName}`);
    if (typeof dst !== 'string') {
      await packTree(from, path.basename(src.replace(/\/+$/, '')) || path.basename(from), dst);
      return;
    }
    let target = dst;
    if (fs.existsSync(dst) && fs.statSync(dst).isDirectory()) target = path.join(dst, path.basename(from));
    else if (dst.endsWith('/')) throw notFound(`destination directory ${dst} does not exist`);
    fs.cpSync(from, target, { recursive: true, verbatimSymlinks: true, force: true });
  });
}

export async function copyToContainer(
  svc: ContainerService,
  idOrName: string,
  dst: string,
  src: string | Readable,
  opts: { archive?: boolean } = {},
): Promise<void> {
  await withRootfs(svc, idOrName, async (root) => {
    const to = resolveInRoot(root, dst, true);
    if (typeof src !== 'string') {
      if (!fs.existsSync(to) || !fs.statSync(to).isDirectory()) throw invalidArgument(`destination "${dst}" must be a directory when copying from a tar stream`);
      await extractTarInRoot(root, path.relative(root, to), src);
      return;
    }
    if (!fs.existsSync(src)) throw notFound(`lstat ${src}: no such file or directory`);
    let target = to;
    if (fs.existsSync(to) && fs.statSync(to).isDirectory()) target = resolveInRoot(root, path.join(path.relative(root, to), path.basename(src)), false);
    else if (dst.endsWith('/')) throw notFound(`destination directory ${dst} does not exist`);
    fs.cpSync(src, target, { recursive: true, verbatimSymlinks: true, force: true });
    if (!opts.archive) chownTree(target, 0, 0);
  });
}

function isLink(p: string): boolean {
  try {
    return fs.lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}

function chownTree(p: string, uid: number, gid: number): void {
  fs.lchownSync(p, uid, gid);
  if (fs.lstatSync(p).isDirectory()) for (const n of fs.readdirSync(p)) chownTree(path.join(p, n), uid, gid);
}

/** Packs `from` as a tar whose top entry is `name`; `owner` replaces every entry's uid/gid. */
export async function packTree(from: string, name: string, out: Writable, owner?: { uid: number; gid: number }): Promise<void> {
  const pack = tar.pack();
  const done = pipeline(pack, out);
  const add = async (abs: string, rel: string): Promise<void> => {
    const st = fs.lstatSync(abs);
    const base = { name: rel, mode: st.mode & 0o7777, uid: owner?.uid ?? st.uid, gid: owner?.gid ?? st.gid, mtime: st.mtime };
    if (st.isDirectory()) {
      await entry(pack, { ...base, type: 'directory' });
      for (const n of fs.readdirSync(abs).sort()) await add(path.join(abs, n), `${rel}/${n}`);
    } else if (st.isSymbolicLink()) await entry(pack, { ...base, type: 'symlink', linkname: fs.readlinkSync(abs) });
    else if (st.isFile()) {
      await new Promise<void>((res, rej) => {
        const e = pack.entry({ ...base, type: 'file', size: st.size }, (err) => (err ? rej(err) : res()));
        pipeline(fs.createReadStream(abs), e).catch(rej);
      });
    }
  };
  await add(from, name);
  pack.finalize();
  await done;
}

function entry(pack: tar.Pack, h: Partial<tar.Header> & { name: string }): Promise<void> {
  return new Promise((res, rej) => pack.entry(h as tar.Header, (e) => (e ? rej(e) : res())));
}

/**
 * `cp CONTAINER:SRC DST` on the client's side of the API: the tar the archive endpoint sent (one
 * top entry, SRC's name) lands in DST if it is a directory, else becomes DST. Entries are confined
 * to the destination as they are in a container (a hostile server cannot write elsewhere).
 */
export async function extractCopyTo(dst: string, src: Readable): Promise<void> {
  if (fs.existsSync(dst) && fs.statSync(dst).isDirectory()) {
    await extractTarInRoot(path.resolve(dst), '', src);
    return;
  }
  if (dst.endsWith('/')) throw notFound(`destination directory ${dst} does not exist`);
  const tmp = fs.mkdtempSync(path.join(path.dirname(path.resolve(dst)), '.berth-cp-'));
  try {
    await extractTarInRoot(tmp, '', src);
    const top = fs.readdirSync(tmp);
    if (top.length !== 1) throw invalidArgument(`the archive holds ${top.length} top entries, expected 1`);
    fs.rmSync(dst, { recursive: true, force: true });
    fs.renameSync(path.join(tmp, top[0] as string), dst);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/** Extracts a tar stream under root/relDir; every entry's parent is resolved inside root. */
async function extractTarInRoot(root: string, relDir: string, src: Readable): Promise<void> {
  const ex = tar.extract();
  src.pipe(ex);
  for await (const e of ex) {
    const h = e.header;
    const name = path.posix.normalize(h.name).replace(/^\/+/, '');
    if (name.split('/').includes('..')) throw invalidArgument(`refusing tar entry outside the destination: ${h.name}`);
    const parent = resolveInRoot(root, path.posix.join(relDir, path.posix.dirname(name)), true);
    const target = path.join(parent, path.posix.basename(name));
    if (!target.startsWith(root)) throw invalidArgument(`refusing tar entry outside the container: ${h.name}`);
    fs.mkdirSync(parent, { recursive: true });
    if (h.type === 'directory') {
      fs.mkdirSync(target, { recursive: true });
      e.resume();
    } else if (h.type === 'symlink') {
      fs.rmSync(target, { force: true });
      fs.symlinkSync(h.linkname ?? '', target);
      e.resume();
    } else if (h.type === 'file' || h.type === 'contiguous-file') {
      if (isLink(target)) fs.rmSync(target);
      await pipeline(e, fs.createWriteStream(target, { mode: h.mode ?? 0o644 }));
      continue;
    } else e.resume();
    if (h.type !== 'symlink') fs.chmodSync(target, h.mode ?? 0o755);
  }
}

/** What docker's archive HEAD/GET report in X-Docker-Container-Path-Stat. */
export interface PathStat {
  name: string;
  size: number;
  /** Go's os.FileMode bits: permission bits plus 1<<31 for directories, 1<<27 for symlinks. */
  mode: number;
  mtime: string;
  linkTarget: string;
}

/** Stats a path as the container sees it (symlinks resolved inside its root); not_found when absent. */
export async function statInContainer(svc: ContainerService, idOrName: string, p: string): Promise<PathStat> {
  return withRootfs(svc, idOrName, async (root) => {
    const at = resolveInRoot(root, p, false);
    let st: fs.Stats;
    try {
      st = fs.lstatSync(at);
    } catch {
      throw notFound(`Could not find the file ${p} in container ${idOrName}`);
    }
    let mode = st.mode & 0o777;
    if (st.isDirectory()) mode += 2 ** 31;
    if (st.isSymbolicLink()) mode += 2 ** 27;
    const linkTarget = st.isSymbolicLink() ? path.join('/', path.relative(root, resolveInRoot(root, p, true))) : '';
    return { name: path.basename(p) || '/', size: st.size, mode, mtime: st.mtime.toISOString(), linkTarget };
  });
}
