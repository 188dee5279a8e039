/**
 * `build --output` (BuildKit's local and tar exporters): the built image's root file system written
 * to a host directory or as a tar archive (a file or stdout), e.g. to take artifacts out of a
 * `FROM scratch` stage. The image is built (and tagged with -t) as without the flag.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Writable } from 'node:stream';
import type { Engine } from '../engine/engine.js';
import { invalidArgument } from '../errors.js';
import type { ImageRecord } from '../image/image-store.js';

export type BuildOutput = { type: 'local'; dest: string } | { type: 'tar'; dest: string } | { type: 'image' };

/** Parses `-o` values: `PATH` (local), `-` (a tar on stdout), `type=local|tar|image|docker[,dest=...]`. */
export function parseBuildOutput(v: string): BuildOutput {
  if (!v.includes('=')) return v === '-' ? { type: 'tar', dest: '-' } : { type: 'local', dest: v };
  const f: Record<string, string> = {};
  for (const part of v.split(',')) {
    const i = part.indexOf('=');
    if (i <= 0) throw invalidArgument(`invalid --output "${v}": use type=local,dest=DIR or type=tar,dest=FILE`);
    f[part.slice(0, i).trim()] = part.slice(i + 1).trim();
  }
  const type = f.type ?? 'local';
  if (type === 'image' || type === 'docker') return { type: 'image' };
  if (type !== 'local' && type !== 'tar') throw invalidArgument(`--output type "${type}" is not supported`, { hint: 'use type=local,dest=DIR, type=tar,dest=FILE (or -) or type=image' });
  const dest = f.dest ?? (type === 'tar' ? '-' : undefined);
  if (!dest) throw invalidArgument(`--output type=${type} needs dest=DIR`);
  return { type, dest };
}

/**
 * Writes `image`'s file system to `out`: into the directory (created if missing; entries there are
 * replaced, a symlink in the way is replaced rather than followed; devices, FIFOs and sockets are
 * skipped) or as a tar to `stdout` / the file.
 */
export async function exportBuildOutput(engine: Engine, image: ImageRecord, out: BuildOutput, stdout: Writable): Promise<void> {
  if (out.type === 'image') return;
  const { mountedRoot } = await import('./builder.js');
  const root = await mountedRoot(engine, image.topLayer, image.id);
  try {
    if (out.type === 'tar') {
      const { writeLayerTar } = await import('../layer/diff.js');
      if (out.dest === '-') {
        await writeLayerTar(root.dir, stdout);
        return;
      }
      const { writeOutputFile } = await import('../util/output-file.js');
      await writeOutputFile(out.dest, (w) => writeLayerTar(root.dir, w).then(() => undefined));
      return;
    }
    fs.mkdirSync(out.dest, { recursive: true });
    copyTree(root.dir, path.resolve(out.dest));
  } finally {
    root.release();
  }
}

function copyTree(from: string, to: string): void {
  for (const e of fs.readdirSync(from, { withFileTypes: true })) {
    const src = path.join(from, e.name);
    const dst = path.join(to, e.name);
    let existing: fs.Stats | undefined;
    try {
      existing = fs.lstatSync(dst);
    } catch {
      existing = undefined;
    }
    const st = fs.lstatSync(src);
    if (st.isDirectory()) {
      if (existing && !existing.isDirectory()) fs.rmSync(dst, { force: true });
      if (!existing?.isDirectory()) fs.mkdirSync(dst);
      copyTree(src, dst);
      fs.chmodSync(dst, st.mode & 0o7777);
      fs.utimesSync(dst, st.atime, st.mtime);
    } else if (st.isFile() || st.isSymbolicLink()) {
      if (existing) fs.rmSync(dst, { recursive: true, force: true });
      if (st.isSymbolicLink()) fs.symlinkSync(fs.readlinkSync(src), dst);
      else {
        fs.copyFileSync(src, dst, fs.constants.COPYFILE_EXCL);
        fs.chmodSync(dst, st.mode & 0o7777);
        fs.utimesSync(dst, st.atime, st.mtime);
      }
    }
  }
}
