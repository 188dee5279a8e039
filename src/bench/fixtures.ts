/**
 * Generated inputs of the benchmarks: a 200 MiB rootfs tarball, a 5,000-file build context and a
 * docker-archive holding 200 tiny images. Made once per run in the bench's work directory, so every
 * engine reads identical bytes.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';

const MiB = 1024 * 1024;

/**
 * File content that compresses about 2:1 like real binaries and text: half random bytes, half hex
 * text of random bytes. gzip on purely random data would make push look slower than it is.
 */
export function mixedContent(size: number): Buffer {
  const half = size >> 1;
  const hex = Buffer.from(randomBytes(Math.ceil((size - half) / 2)).toString('hex').slice(0, size - half));
  return Buffer.concat([randomBytes(half), hex]);
}

async function writeTar(file: string, entries: AsyncIterable<{ name: string; data?: Buffer; type?: 'directory' }>) {
  const pack = tar.pack();
  const done = pipeline(pack, fs.createWriteStream(`${file}.tmp`));
  for await (const e of entries) {
    const header = { name: e.name, mode: e.type ? 0o755 : 0o644, mtime: new Date(0), uid: 0, gid: 0, type: e.type ?? 'file' } as const;
    await new Promise<void>((res, rej) => {
      const cb = (err?: Error | null) => (err ? rej(err) : res());
      if (e.type) pack.entry(header, cb);
      else pack.entry({ ...header, size: e.data?.length ?? 0 }, e.data ?? Buffer.alloc(0), cb);
    });
  }
  pack.finalize();
  await done;
  fs.renameSync(`${file}.tmp`, file);
}

/** A rootfs tarball of `mib` MiB in 1 MiB files under /data (no busybox: it is imported, not run). */
export async function bigRootfsTar(file: string, mib: number): Promise<string> {
  if (fs.existsSync(file)) return file;
  async function* entries() {
    yield { name: 'data/', type: 'directory' as const };
    for (let i = 0; i < mib; i++) yield { name: `data/f${String(i).padStart(4, '0')}.bin`, data: mixedContent(MiB) };
  }
  await writeTar(file, entries());
  return file;
}

/**
 * A build context of `files` files totalling about `totalMiB` MiB in 50 directories, with the
 * Dockerfile of the build cases (9 instructions, 4 of them RUN). `touchOneFile` changes one file.
 */
export function buildContext(dir: string, files = 5000, totalMiB = 20): string {
  if (fs.existsSync(path.join(dir, 'Dockerfile'))) return dir;
  const tmp = `${dir}.tmp`;
  fs.rmSync(tmp, { recursive: true, force: true });
  const per = Math.floor((totalMiB * MiB) / files);
  for (let i = 0; i < files; i++) {
    const sub = path.join(tmp, 'src', `d${String(i % 50).padStart(2, '0')}`);
    if (i < 50) fs.mkdirSync(sub, { recursive: true });
    fs.writeFileSync(path.join(sub, `f${String(i).padStart(4, '0')}.txt`), mixedContent(per));
  }
  fs.writeFileSync(
    path.join(tmp, 'Dockerfile'),
    [
      'FROM busybox',
      'ENV APP_HOME=/app MODE=bench',
      'WORKDIR /app',
      'RUN mkdir -p /app/out && echo prepared > /app/out/stage',
      'COPY src/ /app/src/',
      'RUN find /app/src -type f | wc -l > /app/out/count',
      'RUN du -s /app/src > /app/out/size',
      'LABEL org.example.bench=berth',
      'RUN cat /app/out/count /app/out/size',
      'CMD ["sh"]',
      '',
    ].join('\n'),
  );
  fs.renameSync(tmp, dir);
  return dir;
}

/** Changes one file of the build context so COPY and everything after it must run again. */
export function touchOneFile(dir: string, stamp: string): void {
  fs.writeFileSync(path.join(dir, 'src', 'd07', 'f0007.txt'), `changed ${stamp}\n`);
}

function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

/**
 * A docker-archive (docker save format) with `count` distinct tiny images tagged
 * `bench/img-<i>:latest`, each with one layer holding /id. `docker load`, `podman load` and
 * `berth load` all read it, so "200 images" is the same set everywhere.
 */
export async function manyImagesArchive(file: string, count: number): Promise<string> {
  if (fs.existsSync(file)) return file;
  async function* entries() {
    const manifest: unknown[] = [];
    for (let i = 0; i < count; i++) {
      const layer = await tarBuffer([{ name: 'id', data: Buffer.from(`image ${i}\n`) }]);
      const diffId = `sha256:${sha256(layer)}`;
      const config = Buffer.from(
        JSON.stringify({
          architecture: 'amd64',
          os: 'linux',
          created: '2026-01-01T00:00:00Z',
          config: { Cmd: ['sh'], Labels: { 'org.example.bench': String(i) } },
          rootfs: { type: 'layers', diff_ids: [diffId] },
          history: [{ created: '2026-01-01T00:00:00Z', created_by: `bench image ${i}` }],
        }),
      );
      const configName = `${sha256(config)}.json`;
      const layerName = `${sha256(layer)}/layer.tar`;
      yield { name: configName, data: config };
      yield { name: `${sha256(layer)}/`, type: 'directory' as const };
      yield { name: layerName, data: layer };
      manifest.push({ Config: configName, RepoTags: [`bench/img-${i}:latest`], Layers: [layerName] });
    }
    yield { name: 'manifest.json', data: Buffer.from(JSON.stringify(manifest)) };
  }
  await writeTar(file, entries());
  return file;
}

async function tarBuffer(files: Array<{ name: string; data: Buffer }>): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: unknown) => chunks.push(c as Buffer));
  const end = new Promise<void>((res, rej) => {
    pack.on('end', res);
    pack.on('error', rej);
  });
  for (const f of files) pack.entry({ name: f.name, size: f.data.length, mtime: new Date(0), mode: 0o644 }, f.data);
  pack.finalize();
  await end;
  return Buffer.concat(chunks);
}
