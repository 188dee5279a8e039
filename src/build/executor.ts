/**
 * What a build step does to the file system: RUN in a foreground OCI runtime container on an overlay of
 * the current layer chain, and layers made from plain directories (COPY/ADD/WORKDIR). Both end in
 * `commitDir`, which streams the directory as a layer tar into the store. Every temporary thing (mount,
 * runtime container, directory) is undone before these functions return or throw.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import type { Digest } from '../content/digest.js';
import { resolveUser } from '../container/user.js';
import type { Engine } from '../engine/engine.js';
import { type LayerRef, ingestLayer } from '../engine/images.js';
import type { Lease } from '../engine/leases.js';
import { BerthError } from '../errors.js';
import { writeLayerTar } from '../layer/diff.js';
import { OciRuntime } from '../runtime/oci-runtime.js';
import { defaultSeccomp } from '../runtime/seccomp.js';
import { type OciMount, buildSpec, hostFacts, resolveCapabilities, specToJson } from '../runtime/spec.js';
import type { LayerRecord } from '../snapshot/layer-store.js';
import { mountRootfs, unmountRootfs } from '../snapshot/overlay.js';
import { x32AbiAvailable } from '../sys/libc.js';

// RUN containers, their cgroups and namespaces are named BUILD_CONTAINER_PREFIX<builder pid>-<random>.
import { BUILD_CONTAINER_PREFIX } from '../util/owner-pid.js';

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * A temporary directory for one step under <root>/cache/build-tmp, removed by the caller. Its name
 * starts with the builder's pid, so `system check` can tell a crashed build's leftovers (owner dead)
 * from a running build's (see build/check.ts).
 */
export function stepTempDir(engine: Engine): string {
  const dir = path.join(engine.paths.cache, 'build-tmp', `${process.pid}-${Date.now()}-${randomBytes(4).toString('hex')}`);
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

/** Streams `dir` as a layer tar on top of `parent` into the store. */
export async function commitDir(
  engine: Engine,
  dir: string,
  parent: Digest | null,
  opts: { lease: Lease; sourceDateEpoch?: number | undefined },
): Promise<{ layer: LayerRecord; ref: LayerRef }> {
  const pipe = new PassThrough({ highWaterMark: 1 << 20 });
  const writing = writeLayerTar(dir, pipe, opts.sourceDateEpoch !== undefined ? { sourceDateEpoch: opts.sourceDateEpoch } : {}).catch(
    (e: unknown) => {
      pipe.destroy(e as Error);
      throw e;
    },
  );
  const [res] = await Promise.all([ingestLayer(engine, parent, pipe, { lease: opts.lease }), writing]);
  return res;
}

/**
 * Finds `rel` (no leading slash) in a layer chain without mounting it: the top-most layer that has it
 * wins; an overlay whiteout (0/0 char device) of it or of a parent hides it. Returns the host path.
 */
export function chainLookup(engine: Engine, top: Digest | null, rel: string): string | undefined {
  const parts = rel.split('/').filter((p) => p !== '' && p !== '.');
  for (const l of engine.layers.lowerChain(top)) {
    const base = engine.layers.layerDir(l.chainId);
    for (let i = 1; i <= parts.length; i++) {
      const p = path.join(base, ...parts.slice(0, i));
      let st: fs.Stats;
      try {
        st = fs.lstatSync(p);
      } catch {
        break;
      }
      if (st.isCharacterDevice() && st.rdev === 0) return undefined;
      if (i === parts.length) return p;
      if (!st.isDirectory()) return undefined;
    }
  }
  if (parts.length === 0) return '/';
  return undefined;
}

/** uid/gid for `user[:group]` from the chain's /etc/passwd and /etc/group (resolveUser's rules). */
export function userFromChain(engine: Engine, top: Digest | null, spec: string): { uid: number; gid: number } {
  if (/^\d+(:\d+)?$/.test(spec)) {
    const [u, g] = spec.split(':');
    return { uid: Number(u), gid: g !== undefined ? Number(g) : 0 };
  }
  const parent = path.join(engine.paths.cache, 'build-tmp');
  fs.mkdirSync(parent, { recursive: true });
  const tmp = fs.mkdtempSync(path.join(parent, `${process.pid}-user-`));
  try {
    fs.mkdirSync(path.join(tmp, 'etc'));
    for (const f of ['etc/passwd', 'etc/group']) {
      const src = chainLookup(engine, top, f);
      if (src && fs.statSync(src).isFile()) fs.copyFileSync(src, path.join(tmp, f));
    }
    const u = resolveUser(tmp, spec);
    return { uid: u.uid, gid: u.gid };
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/**
 * Creates the parent directories of `rel` inside the layer directory `layerDir`, copying each one's
 * mode, owner and mtime from the chain when it exists there (so the layer does not change them), else
 * 0755 owned by `owner`.
 */
export function mkdirParents(engine: Engine, top: Digest | null, layerDir: string, rel: string, owner = { uid: 0, gid: 0 }): void {
  const parts = rel.split('/').filter(Boolean);
  for (let i = 1; i <= parts.length; i++) {
    const sub = parts.slice(0, i).join('/');
    const dst = path.join(layerDir, sub);
    if (fs.existsSync(dst)) continue;
    const lower = chainLookup(engine, top, sub);
    const st = lower ? fs.statSync(lower) : undefined;
    fs.mkdirSync(dst);
    if (st?.isDirectory()) {
      fs.chmodSync(dst, st.mode & 0o7777);
      fs.lchownSync(dst, st.uid, st.gid);
      fs.utimesSync(dst, st.atime, st.mtime);
    } else {
      fs.chmodSync(dst, 0o755);
      fs.lchownSync(dst, owner.uid, owner.gid);
    }
  }
}

/** A RUN mount resolved to a host path (or a tmpfs). */
export interface ResolvedRunMount {
  target: string;
  type: 'bind' | 'tmpfs';
  source?: string;
  readonly?: boolean;
  size?: number;
}

export interface RunInput {
  top: Digest | null;
  argv: string[];
  env: string[];
  cwd: string;
  user: string;
  /** 'default': the default bridge network, as docker's builds (RUN --network=default). */
  network: 'default' | 'none' | 'host';
  mounts: ResolvedRunMount[];
  /** true for RUN --security=insecure (all capabilities, no seccomp). */
  insecure?: boolean;
  onOutput: (stream: 'stdout' | 'stderr', line: string) => void;
  signal?: AbortSignal;
}

export interface RunOutcome {
  exitCode: number;
  /** The overlay upper directory with the step's changes (inside `tmp`). */
  upper: string;
}

/**
 * Runs one RUN step in the foreground with the OCI runtime (`runc run`), on an overlay of `top` whose
 * upper directory lives in `tmp` (the caller's, removed by the caller). Mount points the runtime had to
 * create for RUN mounts are removed from the upper directory afterwards, so they do not end up in the
 * layer. Always unmounts and deletes the runtime container before returning or throwing.
 */
export async function runStep(engine: Engine, tmp: string, input: RunInput): Promise<RunOutcome> {
  const dirs = { upper: path.join(tmp, 'upper'), work: path.join(tmp, 'work'), merged: path.join(tmp, 'merged'), init: path.join(tmp, 'init'), volatile: true };
  // The builder's pid in the name tells `system check` whether the container's build still runs.
  const id = `${BUILD_CONTAINER_PREFIX}${process.pid}-${randomBytes(6).toString('hex')}`;
  const runtime = new OciRuntime({ binary: engine.options.runtime ?? 'runc', root: path.join(engine.paths.runtimeState, 'build') });
  mountRootfs(engine.layers, input.top, dirs);
  let network: { netnsPath: string; release(): void } | undefined;
  try {
    if (input.network === 'default') network = (await import('../network/service.js')).attachBuildStep(engine, id);
    const user = resolveUser(dirs.merged, input.user);
    const env = [...input.env];
    if (!env.some((e) => e.startsWith('PATH='))) env.unshift(`PATH=${DEFAULT_PATH}`);
    if (!env.some((e) => e.startsWith('HOME='))) env.push(`HOME=${user.home}`);
    const etc = path.join(tmp, 'etc');
    fs.mkdirSync(etc, { recursive: true });
    fs.writeFileSync(path.join(etc, 'hostname'), 'buildkitsandbox\n');
    fs.writeFileSync(path.join(etc, 'hosts'), '127.0.0.1\tlocalhost buildkitsandbox\n::1\tlocalhost ip6-localhost ip6-loopback\n');
    let resolv = '';
    try {
      resolv = fs.readFileSync('/etc/resolv.conf', 'utf8');
    } catch {
      /* none on the host */
    }
    if (network) resolv = (await import('../network/resolv.js')).containerResolvConf(resolv);
    fs.writeFileSync(path.join(etc, 'resolv.conf'), resolv);
    const mounts: OciMount[] = [
      { destination: '/etc/hostname', type: 'bind', source: path.join(etc, 'hostname'), options: ['rbind', 'rprivate'] },
      { destination: '/etc/hosts', type: 'bind', source: path.join(etc, 'hosts'), options: ['rbind', 'rprivate'] },
      { destination: '/etc/resolv.conf', type: 'bind', source: path.join(etc, 'resolv.conf'), options: ['rbind', 'rprivate'] },
    ];
    // Remember which mount targets (and their parents) are new, to drop their stubs from the layer.
    const stubs = new Set<string>();
    for (const m of input.mounts) {
      const parts = m.target.split('/').filter(Boolean);
      for (let i = 1; i <= parts.length; i++) {
        const rel = parts.slice(0, i).join('/');
        if (!fs.existsSync(path.join(dirs.merged, rel))) stubs.add(rel);
      }
      if (m.type === 'tmpfs') {
        mounts.push({ destination: m.target, type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', ...(m.size ? [`size=${m.size}`] : [])] });
      } else {
        mounts.push({ destination: m.target, type: 'bind', source: m.source as string, options: ['rbind', m.readonly ? 'ro' : 'rw'] });
      }
    }
    const host = hostFacts();
    const caps = resolveCapabilities({ capAdd: [], capDrop: [], privileged: input.insecure ?? false }, host);
    const spec = buildSpec(
      {
        id,
        rootfs: dirs.merged,
        args: input.argv,
        env,
        cwd: input.cwd || '/',
        terminal: false,
        user: { uid: user.uid, gid: user.gid, additionalGids: user.additionalGids },
        hostname: 'buildkitsandbox',
        privileged: input.insecure ?? false,
        seccomp: input.insecure ? 'unconfined' : defaultSeccomp({ caps, x32Abi: x32AbiAvailable() }),
        mounts,
        namespaces: { network: input.network === 'host' ? 'host' : network ? { path: network.netnsPath } : 'new' },
        resources: {},
        cgroupsPath: `${engine.paths.cgroupParent}/${id}`,
      },
      host,
    );
    const bundle = path.join(tmp, 'bundle');
    fs.mkdirSync(bundle, { recursive: true });
    fs.writeFileSync(path.join(bundle, 'config.json'), specToJson(spec));
    const exitCode = await runForeground(runtime, id, bundle, input);
    for (const rel of [...stubs].sort().reverse()) {
      const p = path.join(dirs.upper, rel);
      try {
        const st = fs.lstatSync(p);
        if (st.isDirectory() ? fs.readdirSync(p).length === 0 : st.isFile() && st.size === 0) fs.rmSync(p, { recursive: true });
      } catch {
        /* not in the upper dir */
      }
    }
    return { exitCode, upper: dirs.upper };
  } finally {
    network?.release();
    unmountRootfs(dirs.merged);
  }
}

function runForeground(runtime: OciRuntime, id: string, bundle: string, input: RunInput): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(runtime.binary, [...runtime.globalArgs, 'run', '--bundle', bundle, '--no-new-keyring', id], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const lines = (stream: 'stdout' | 'stderr') => {
      let buf = '';
      return {
        data: (d: Buffer) => {
          buf += d.toString('utf8');
          let i = buf.indexOf('\n');
          while (i >= 0) {
            input.onOutput(stream, buf.slice(0, i));
            buf = buf.slice(i + 1);
            i = buf.indexOf('\n');
          }
        },
        end: () => {
          if (buf !== '') input.onOutput(stream, buf);
          buf = '';
        },
      };
    };
    const out = lines('stdout');
    const err = lines('stderr');
    child.stdout.on('data', out.data);
    child.stderr.on('data', err.data);
    const onAbort = () => {
      runtime.kill(id, 'KILL').catch(() => undefined);
    };
    input.signal?.addEventListener('abort', onAbort, { once: true });
    child.on('error', (e) => reject(new BerthError('failed_precondition', `cannot run ${runtime.binary}: ${e.message}`, { cause: e })));
    child.on('close', (code, sig) => {
      input.signal?.removeEventListener('abort', onAbort);
      out.end();
      err.end();
      const settle = () => {
        if (input.signal?.aborted) reject(new BerthError('canceled', 'build canceled'));
        else resolve(code ?? 128 + (sig ? 9 : 0));
      };
      // runc run deletes its container when it exits by itself; only a kill (or runc dying) can leave
      // one behind, and only then is the extra `runc delete` process worth spawning.
      if (code === null || input.signal?.aborted) runtime.delete(id, { force: true }).catch(() => undefined).finally(settle);
      else settle();
    });
  });
}
