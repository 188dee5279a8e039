/**
 * Helpers shared by the registry tests: temporary directories, small images built in memory, and
 * a real distribution registry (Debian's docker-registry) on a free loopback port.
 * Test-only: nothing outside *.test.ts imports this.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { type Digest, sha256 } from '../content/digest.js';
import { type Descriptor, type ImageConfig, type ImageManifest, MediaTypes } from '../image/oci.js';

export function tmpDir(prefix = 'berth-registry-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function hasProgram(name: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export interface TestBlob {
  buf: Buffer;
  desc: Descriptor;
}

export interface TestImage {
  config: TestBlob;
  layers: TestBlob[];
  manifest: TestBlob;
}

export function blob(buf: Buffer, mediaType: string = MediaTypes.OciLayer): TestBlob {
  return { buf, desc: { mediaType, digest: sha256(buf), size: buf.length } };
}

/** A small image whose layers are arbitrary bytes (registries never look inside). */
export function makeImage(seed: string, layerSizes: number[] = [1000, 70_000], extra: Partial<ImageManifest> = {}): TestImage {
  const layers = layerSizes.map((n, i) => {
    const b = Buffer.alloc(n);
    for (let j = 0; j < n; j++) b[j] = (j * 31 + i * 7 + seed.length) & 0xff;
    b.write(`${seed}-${i}`);
    return blob(b);
  });
  const cfg: ImageConfig = {
    architecture: 'amd64',
    os: 'linux',
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.desc.digest) },
    config: { Env: [`SEED=${seed}`] },
  };
  const config = blob(Buffer.from(JSON.stringify(cfg)), MediaTypes.OciConfig);
  const man: ImageManifest = { schemaVersion: 2, mediaType: MediaTypes.OciManifest, config: config.desc, layers: layers.map((l) => l.desc), ...extra };
  return { config, layers, manifest: blob(Buffer.from(JSON.stringify(man)), MediaTypes.OciManifest) };
}

export interface Distribution {
  host: string;
  close(): Promise<void>;
}

/** Starts Debian's docker-registry (distribution 2.8) with filesystem storage in `root`. */
export async function startDistribution(root: string, opts: { htpasswd?: string } = {}): Promise<Distribution> {
  const port = await freePort();
  const auth = opts.htpasswd ? `auth:\n  htpasswd:\n    realm: berth-test\n    path: ${opts.htpasswd}\n` : '';
  const config = `version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: ${path.join(root, 'data')}
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:${port}
${auth}`;
  fs.mkdirSync(root, { recursive: true });
  const cfgPath = path.join(root, 'config.yml');
  fs.writeFileSync(cfgPath, config);
  const child: ChildProcess = spawn('docker-registry', ['serve', cfgPath], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (c: string) => (stderr = (stderr + c).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const close = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited: ${stderr}`);
    try {
      const res = await fetch(`http://127.0.0.1:${port}/v2/`);
      await res.body?.cancel();
      break;
    } catch {
      if (Date.now() > deadline) {
        await close();
        throw new Error(`docker-registry did not start: ${stderr}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return { host: `127.0.0.1:${port}`, close };
}

/** Writes an htpasswd file with one bcrypt entry (bcryptjs, as `htpasswd -B` would). */
export async function writeHtpasswd(file: string, user: string, password: string): Promise<void> {
  const bcrypt = (await import('bcryptjs')).default;
  fs.writeFileSync(file, `${user}:${bcrypt.hashSync(password, 5).replace(/^\$2[ab]\$/, '$2y$')}\n`);
}

export function ingestDirEntries(storeRoot: string): string[] {
  return fs.readdirSync(path.join(storeRoot, 'ingest'));
}

export const digestOfString = (s: string): Digest => sha256(Buffer.from(s));
