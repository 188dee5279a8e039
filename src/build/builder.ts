/**
 * `build`: Dockerfile + context -> image, BuildKit-style: parse (parser.ts), plan (parseStages,
 * stagesNeededFor), execute stage by stage with a cache key per step.
 *
 * Guarantees: progress is reported as events (the CLI renders them); a failed build tags nothing and
 * leaves no container, mount or temporary directory behind (layers and intermediate images of the
 * steps that succeeded stay, as the cache); errors name the Dockerfile line (`Dockerfile:7: ...`).
 * History entries use BuildKit's forms (`RUN /bin/sh -c make # buildkit`, comment
 * `buildkit.dockerfile.v0`).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Digest } from '../content/digest.js';
import type { Engine } from '../engine/engine.js';
import { type LayerRef, imageLayers, ingestLayer, readConfig, writeImage } from '../engine/images.js';
import { withLease, type Lease } from '../engine/leases.js';
import { BerthError, invalidArgument } from '../errors.js';
import type { ImageRecord } from '../image/image-store.js';
import { type ContainerDefaults, type HistoryEntry, type ImageConfig, hostPlatform } from '../image/oci.js';
import { parseReference } from '../image/reference.js';
import type { RegistryCredentials } from '../registry/client.js';
import { BuildCache, stepKey } from './cache.js';
import type { BuildContext, NamedContext } from './context.js';
import { copyStep, type CopySourceRoot } from './copy.js';
import {
  type Command,
  type Platform,
  type RunCommand,
  type Stage,
  StageVars,
  formatPlatform,
  parsePlatform,
  parseStages,
  stagesNeededFor,
} from './dockerfile/instructions.js';
import { parseDockerfile } from './dockerfile/parser.js';
import { DEFAULT_PATH, type ResolvedRunMount, commitDir, mkdirParents, runStep, stepTempDir, userFromChain } from './executor.js';
import { startAgentProxy } from './ssh-agent.js';
import { acquireCacheMount } from './cache-mounts.js';

/** Progress of a build, for the CLI (plain lines or a live view) and the API (JSON messages). */
export type BuildEvent =
  | { type: 'vertex'; id: number; name: string }
  | { type: 'cached'; id: number }
  | { type: 'log'; id: number; stream: 'stdout' | 'stderr'; line: string; elapsed: number }
  | { type: 'done'; id: number; seconds: number }
  | { type: 'error'; id: number; message: string }
  | { type: 'warning'; message: string };

export interface BuildOptions {
  context: BuildContext;
  tags?: string[];
  buildArgs?: Record<string, string>;
  labels?: Record<string, string>;
  target?: string;
  noCache?: boolean;
  /** Pull base images even when present (needs src/engine/pull.ts). */
  pull?: boolean;
  /**
   * Credentials for pulling base images, by registry host ("docker.io", "127.0.0.1:5000"): the API
   * client's (docker's X-Registry-Config). A registry not listed uses the stored logins.
   */
  registryAuth?: Record<string, RegistryCredentials>;
  platform?: string;
  /** id -> host file, for RUN --mount=type=secret. */
  secrets?: Record<string, string>;
  /**
   * `--build-context NAME=DIR|docker-image://REF`: a directory that `COPY --from=NAME` and
   * `RUN --mount=from=NAME` read, or an image that stands for NAME wherever an image is named (FROM
   * too). A stage of the same name wins, as in BuildKit.
   */
  namedContexts?: Record<string, NamedContext>;
  /** RUN's network when the instruction names none (build --network); default: the default bridge network. */
  network?: 'default' | 'none' | 'host';
  /** id -> SSH agent socket, for RUN --mount=type=ssh (build --ssh; see build/ssh-agent.ts). */
  ssh?: Record<string, string>;
  /** Seconds; clamps file times and fixes every timestamp, so the same input gives the same digest. */
  sourceDateEpoch?: number;
  onEvent?: (e: BuildEvent) => void;
  signal?: AbortSignal;
}

/** `build --network` / POST /build `networkmode`: "bridge" is docker's name for the default network. */
export function buildNetworkMode(v: string): NonNullable<BuildOptions['network']> {
  const mode = v === 'bridge' ? 'default' : v;
  if (mode !== 'default' && mode !== 'none' && mode !== 'host') throw invalidArgument(`network mode "${v}" not supported by build: use default, none or host`);
  return mode;
}

export type { NamedContext } from './context.js';

export interface BuildResult {
  image: ImageRecord;
  /** Steps that ran / were cached. */
  executed: number;
  cached: number;
}

interface StageState {
  config: Omit<ImageConfig, 'rootfs'>;
  layers: LayerRef[];
  top: Digest | null;
  /** Last image recorded for this state (parent link of the next). */
  imageId: Digest | null;
  key: string;
  /** Metadata changed after imageId was written. */
  pending: boolean;
}

const COMMENT = 'buildkit.dockerfile.v0';
const goQuote = (a: readonly string[]) => `[${a.map((s) => JSON.stringify(s)).join(' ')}]`;

/** Builds the image; see the module comment for the guarantees. */
export async function build(engine: Engine, opts: BuildOptions): Promise<BuildResult> {
  const ctx = opts.context;
  const filename = ctx.dockerfileName;
  const emit = opts.onEvent ?? (() => undefined);
  for (const t of opts.tags ?? []) parseReference(t);
  const platform: Platform = opts.platform ? requirePlatform(opts.platform) : toPlatform(hostPlatform());
  const ast = parseDockerfile(ctx.dockerfileText, { filename });
  const parsed = parseStages(ast, { buildArgs: opts.buildArgs ?? {}, platform, filename });
  for (const w of parsed.warnings) emit({ type: 'warning', message: `${w.rule}: ${w.message} (line ${w.line})` });
  if (parsed.stages.length === 0) throw invalidArgument(`${filename}: the Dockerfile has no FROM instruction`);
  const order = stagesNeededFor(parsed.stages, opts.target, { filename });
  const cache = new BuildCache(engine.db, engine.images);
  const epoch = opts.sourceDateEpoch;
  const now = () => (epoch !== undefined ? new Date(epoch * 1000).toISOString() : new Date().toISOString());
  let vertex = 0;
  let executed = 0;
  let cachedSteps = 0;
  const results = new Map<number, Promise<StageState>>();
  const finalIndex = order[order.length - 1] as number;
  const stageLabel = (s: Stage) => (s.index === finalIndex ? '' : `${s.name ?? `stage-${s.index}`} `);

  return withLease(engine.db, async (lease) => {
    const resolveImage = async (asked: string, line: number): Promise<ImageRecord> => {
      const named = opts.namedContexts?.[asked];
      if (named?.type === 'dir') throw invalidArgument(`${filename}:${line}: FROM ${asked}: a directory build context cannot be a base image`, { hint: `give it as --build-context ${asked}=docker-image://REF, or COPY --from=${asked}` });
      const name = named?.type === 'image' ? named.ref : asked;
      let img = opts.pull ? undefined : engine.images.tryResolve(name);
      let pullError: unknown;
      if (!img) {
        const id = vertex++;
        emit({ type: 'vertex', id, name: `[internal] load metadata for ${name}` });
        const t0 = Date.now();
        try {
          const { pullImage } = await import('../engine/pull.js');
          const auth = opts.registryAuth?.[parseReference(name).domain];
          const report = await pullImage(engine, name, { platform: formatPlatform(platform), ...(opts.signal ? { signal: opts.signal } : {}), ...(auth ? { auth } : {}) });
          img = report.images[0]?.image;
          emit({ type: 'done', id, seconds: (Date.now() - t0) / 1000 });
        } catch (e) {
          pullError = e;
          emit({ type: 'error', id, message: (e as Error).message });
        }
      }
      if (!img)
        throw new BerthError(
          'not_found',
          `${filename}:${line}: base image ${name} is not in the local store and pulling it failed: ${(pullError as Error | undefined)?.message ?? 'no image'}`,
          { hint: `make or load it first (berth pull ${name}, berth load, or scripts/make-*-image.sh)`, cause: pullError },
        );
      return img;
    };

    const stateOfImage = (img: ImageRecord, key: string): StageState => {
      const cfg = readConfig(engine, img) as Omit<ImageConfig, 'rootfs'> & { rootfs?: unknown };
      const { rootfs: _r, ...rest } = cfg;
      return { config: rest, layers: imageLayers(engine, img), top: img.topLayer, imageId: img.id, key, pending: false };
    };

    const runStage = async (stage: Stage): Promise<StageState> => {
      const steps = stage.commands.filter(isLayerStep).length + 1;
      let stepNo = 1;
      const label = stageLabel(stage);
      // FROM
      let state: StageState;
      const fromVertex = vertex++;
      const fromName = `[${label}${stepNo}/${steps}] FROM ${stage.baseName}`;
      emit({ type: 'vertex', id: fromVertex, name: fromName });
      if (stage.baseStage !== undefined) {
        const base = await (results.get(stage.baseStage) as Promise<StageState>);
        state = { ...base, config: structuredClone(base.config), layers: [...base.layers] };
      } else if (stage.baseName === 'scratch') {
        state = {
          config: { architecture: platform.architecture, os: platform.os, config: { Env: [`PATH=${DEFAULT_PATH}`] }, history: [] },
          layers: [],
          top: null,
          imageId: null,
          key: stepKey('scratch', { platform: formatPlatform(platform), epoch }),
          pending: true,
        };
        if (platform.variant) state.config.variant = platform.variant;
      } else {
        const img = await resolveImage(stage.baseName, stage.startLine);
        state = stateOfImage(img, stepKey(img.id, { epoch }));
      }
      emit({ type: 'done', id: fromVertex, seconds: 0 });
      state.config.config ??= {};
      const conf = state.config.config as ContainerDefaults;
      if (!(conf.Env ?? []).some((e) => e.startsWith('PATH='))) {
        conf.Env = [`PATH=${DEFAULT_PATH}`, ...(conf.Env ?? [])];
      }
      const triggers = conf.OnBuild ?? [];
      if (conf.OnBuild) {
        delete conf.OnBuild;
        state.pending = true;
      }
      state.config.history ??= [];
      const vars = new StageVars(
        { buildArgs: opts.buildArgs ?? {}, metaArgs: parsed.metaArgs, predefinedArgs: parsed.predefinedArgs },
        envRecord(conf.Env ?? []),
        parsed.escape,
      );
      let cmdSet = false;
      const commands: Command[] = [...onbuildCommands(triggers, platform, filename, stage.startLine), ...stage.commands];
      for (const raw of commands) {
        if (opts.signal?.aborted) throw new BerthError('canceled', 'build canceled');
        let expanded: { command: Command; referenced: string[] };
        try {
          expanded = vars.expandStep(raw);
        } catch (e) {
          throw atLine(e, filename, raw.line);
        }
        const cmd = expanded.command;
        const c = state.config.config as ContainerDefaults;
        const argVals = vars.argValues();
        const refArgs = Object.fromEntries(expanded.referenced.filter((k) => argVals.has(k)).map((k) => [k, argVals.get(k)]));
        const meta = (createdBy: string) => {
          (state.config.history as HistoryEntry[]).push({ created: now(), created_by: createdBy, comment: COMMENT, empty_layer: true });
          state.key = stepKey(state.key, { cmd: describe(cmd), refArgs });
          state.pending = true;
        };
        switch (cmd.kind) {
          case 'ENV': {
            const env = [...(c.Env ?? [])];
            for (const p of cmd.pairs) {
              const i = env.findIndex((e) => e.split('=')[0] === p.key);
              if (i >= 0) env[i] = `${p.key}=${p.value}`;
              else env.push(`${p.key}=${p.value}`);
            }
            c.Env = env;
            meta(`ENV ${cmd.pairs.map((p) => `${p.key}=${p.value}`).join(' ')}`);
            continue;
          }
          case 'ARG':
            // ARG changes no config; it matters through the keys of the steps that use it. BuildKit
            // records it in the history with its default as written.
            state.key = stepKey(state.key, { cmd: describe(cmd) });
            (state.config.history as HistoryEntry[]).push({
              created: now(),
              created_by: `ARG ${cmd.args.map((a) => (a.value !== undefined ? `${a.key}=${a.value}` : a.key)).join(' ')}`,
              comment: COMMENT,
              empty_layer: true,
            });
            state.pending = true;
            continue;
          case 'LABEL':
            c.Labels = { ...(c.Labels ?? {}) };
            for (const l of cmd.labels) c.Labels[l.key] = l.value;
            meta(`LABEL ${cmd.labels.map((l) => `${l.key}=${l.value}`).join(' ')}`);
            continue;
          case 'USER':
            c.User = cmd.user;
            meta(`USER ${cmd.user}`);
            continue;
          case 'EXPOSE':
            c.ExposedPorts = { ...(c.ExposedPorts ?? {}) };
            for (const p of cmd.ports) c.ExposedPorts[p] = {};
            // Go's %v of a map: keys sorted, duplicates once.
            meta(`EXPOSE map[${[...new Set(cmd.ports)].sort().map((p) => `${p}:{}`).join(' ')}]`);
            continue;
          case 'VOLUME':
            c.Volumes = { ...(c.Volumes ?? {}) };
            for (const v of cmd.volumes) {
              if (v.trim() === '') throw invalidArgument(`${filename}:${cmd.line}: VOLUME specified can not be an empty string`);
              c.Volumes[v] = {};
            }
            meta(`VOLUME [${cmd.volumes.join(' ')}]`);
            continue;
          case 'STOPSIGNAL':
            c.StopSignal = cmd.signal;
            meta(`STOPSIGNAL ${cmd.signal}`);
            continue;
          case 'SHELL':
            c.Shell = cmd.shell;
            meta(`SHELL [${cmd.shell.join(' ')}]`);
            continue;
          case 'ONBUILD':
            c.OnBuild = [...(c.OnBuild ?? []), cmd.expression];
            meta(`ONBUILD ${cmd.expression}`);
            continue;
          case 'MAINTAINER':
            state.config.author = cmd.maintainer;
            meta(`MAINTAINER ${cmd.maintainer}`);
            continue;
          case 'CMD':
          case 'ENTRYPOINT': {
            const argv = cmd.form === 'shell' ? (cmd.args[0] ? [...(c.Shell ?? ['/bin/sh', '-c']), cmd.args[0]] : []) : cmd.args;
            if (cmd.kind === 'CMD') {
              c.Cmd = argv;
              cmdSet = true;
            } else {
              c.Entrypoint = argv;
              if (!cmdSet) c.Cmd = null;
            }
            c.ArgsEscaped = true;
            meta(`${cmd.kind} ${goQuote(argv)}`);
            continue;
          }
          case 'HEALTHCHECK': {
            const hc: NonNullable<ContainerDefaults['Healthcheck']> = { Test: cmd.test };
            if (cmd.intervalNs) hc.Interval = cmd.intervalNs;
            if (cmd.timeoutNs) hc.Timeout = cmd.timeoutNs;
            if (cmd.startPeriodNs) hc.StartPeriod = cmd.startPeriodNs;
            if (cmd.startIntervalNs) hc.StartInterval = cmd.startIntervalNs;
            if (cmd.retries) hc.Retries = cmd.retries;
            c.Healthcheck = hc;
            // BuildKit: fmt.Sprintf("HEALTHCHECK %q", config) -> &{["CMD-SHELL" "x"] "5s" "3s" "0s" "0s" '\x03'}
            const d = (ns: number | undefined) => `"${goDuration(ns ?? 0)}"`;
            meta(
              `HEALTHCHECK &{${goQuote(cmd.test)} ${d(cmd.intervalNs)} ${d(cmd.timeoutNs)} ${d(cmd.startPeriodNs)} ${d(cmd.startIntervalNs)} ${goQuoteRune(cmd.retries ?? 0)}}`,
            );
            continue;
          }
          default:
            break;
        }
        // Steps that may make a layer: WORKDIR, RUN, COPY, ADD.
        if (cmd.kind === 'WORKDIR') {
          const wd = path.posix.resolve(c.WorkingDir || '/', cmd.path);
          c.WorkingDir = wd;
          // BuildKit makes a layer (mkdir -p) for every WORKDIR but `/`, existing directory or not.
          if (wd === '/') {
            meta(`WORKDIR ${wd}`);
            continue;
          }
        }
        stepNo++;
        const id = vertex++;
        const name = `[${label}${stepNo}/${steps}] ${cmd.kind === 'WORKDIR' ? `WORKDIR ${c.WorkingDir}` : raw.original}`;
        emit({ type: 'vertex', id, name });
        const t0 = Date.now();
        try {
          const plan = await planLayerStep(cmd, state, vars, refArgs);
          let ref: LayerRef;
          const key = stepKey(state.key, plan.desc);
          try {
            const hit = opts.noCache ? undefined : cache.get(key);
            if (hit) {
              state = stateOfImage(engine.images.get(hit) as ImageRecord, key);
              emit({ type: 'cached', id });
              cachedSteps++;
              continue;
            }
            ref = await plan.execute(lease, (stream, line) => emit({ type: 'log', id, stream, line, elapsed: (Date.now() - t0) / 1000 }));
          } finally {
            plan.release?.();
          }
          // BuildKit's suffix marks steps that ran in an LLB exec or file op; WORKDIR has none.
          const createdBy = cmd.kind === 'WORKDIR' ? plan.createdBy : `${plan.createdBy} # buildkit`;
          const h: HistoryEntry = { created: now(), created_by: createdBy, comment: COMMENT };
          state.config.history = [...(state.config.history ?? []), h];
          state.config.created = now();
          state.layers = [...state.layers, ref];
          const img = writeImage(engine, { config: state.config, layers: state.layers, parent: state.imageId, lease });
          cache.put(key, img.id);
          state = { ...state, top: img.topLayer, imageId: img.id, key, pending: false };
          executed++;
          emit({ type: 'done', id, seconds: (Date.now() - t0) / 1000 });
        } catch (e) {
          const err = atLine(e, filename, raw.line);
          emit({ type: 'error', id, message: err.message });
          throw err;
        }
      }
      return state;
    };

    /** What a layer step depends on (its cache key part) and how to run it. */
    const planLayerStep = async (
      cmd: Command,
      state: StageState,
      vars: StageVars,
      refArgs: Record<string, string | undefined>,
    ): Promise<{
      desc: unknown;
      createdBy: string;
      execute: (lease: Lease, log: (s: 'stdout' | 'stderr', l: string) => void) => Promise<LayerRef>;
      release?: () => void;
    }> => {
      const c = state.config.config as ContainerDefaults;
      if (cmd.kind === 'WORKDIR') {
        const wd = c.WorkingDir as string;
        return {
          desc: { cmd: 'WORKDIR', wd, user: c.User ?? '' },
          createdBy: `WORKDIR ${wd}`,
          execute: async (lease) => {
            const owner = c.User ? userFromChain(engine, state.top, c.User) : { uid: 0, gid: 0 };
            return layerFromDir(state, lease, (dir) => mkdirParents(engine, state.top, dir, wd.slice(1), owner));
          },
        };
      }
      if (cmd.kind === 'RUN') return planRun(cmd, state, vars);
      if (cmd.kind === 'COPY' || cmd.kind === 'ADD') {
        // COPY --from a directory build context reads it as it reads the main context (its own
        // checksums, no mount); a stage of that name wins.
        const namedDir = cmd.from !== undefined && stageOf(cmd.from) === undefined ? opts.namedContexts?.[cmd.from] : undefined;
        const from = cmd.from !== undefined && namedDir?.type !== 'dir' ? await copyRoot(cmd.from, cmd.line) : undefined;
        let step: Awaited<ReturnType<typeof copyStep>>;
        try {
          step = await copyStep(engine, { cmd, context: namedDir?.type === 'dir' ? namedDir.context : ctx, from, top: state.top, workdir: c.WorkingDir || '/', filename, sourceDateEpoch: epoch });
        } catch (e) {
          from?.release(); // a missing source: the mounted stage must not outlive the failure
          throw e;
        }
        const tar = step.tar;
        return {
          desc: { cmd: describe(cmd), refArgs, sources: step.checksum, from: from?.key ?? (namedDir ? `context:${cmd.from}` : null) },
          createdBy: step.createdBy,
          execute: async (lease) =>
            tar ? (await ingestLayer(engine, state.top, tar(), { lease })).ref : layerFromDir(state, lease, (dir) => step.write(dir)),
          release: () => from?.release(),
        };
      }
      throw new BerthError('internal', `unexpected ${cmd.kind} step`);
    };

    const layerFromDir = async (state: StageState, lease: Lease, fill: (dir: string) => void | Promise<void>): Promise<LayerRef> => {
      const tmp = stepTempDir(engine);
      try {
        const dir = path.join(tmp, 'layer');
        fs.mkdirSync(dir);
        await fill(dir);
        const { ref } = await commitDir(engine, dir, state.top, { lease, sourceDateEpoch: epoch });
        return ref;
      } finally {
        fs.rmSync(tmp, { recursive: true, force: true });
      }
    };

    /** The stage a `--from` / `from=` reference names (by name or index), if any. */
    const stageOf = (ref: string): number | undefined => {
      const byName = parsed.stages.find((s) => s.name === ref.toLowerCase());
      const idx = byName ? byName.index : /^\d+$/.test(ref) ? Number(ref) : undefined;
      return idx !== undefined && parsed.stages[idx] ? idx : undefined;
    };

    /** What a bind mount's source holds, for the cache key: checksums for a context, the key of a stage or image. */
    const bindSourceKey = async (from: string | undefined, source: string, line: number): Promise<string> => {
      const rel = path.posix.normalize(`/${source}`).slice(1);
      const inContext = (c: BuildContext) => (c.entry(rel) ? c.checksumOf(c.subtree(rel)) : 'missing');
      if (from === undefined) return inContext(ctx);
      const idx = stageOf(from);
      if (idx !== undefined) return `stage:${(await (results.get(idx) as Promise<StageState>)).key}:${rel}`;
      const named = opts.namedContexts?.[from];
      if (named?.type === 'dir') return `context:${from}:${inContext(named.context)}`;
      return `image:${(await resolveImage(from, line)).id}:${rel}`;
    };

    /** The root file system a COPY --from / RUN --mount from= reads: an earlier stage or an image. */
    const copyRoot = async (ref: string, line: number): Promise<CopySourceRoot> => {
      const idx = stageOf(ref);
      let st: { top: Digest | null; key: string };
      if (idx !== undefined) {
        const s = await (results.get(idx) as Promise<StageState>);
        st = { top: s.top, key: s.key };
      } else {
        const named = opts.namedContexts?.[ref];
        // A directory context is read where it is: nothing to mount, its content digest keys the cache.
        if (named?.type === 'dir') return { dir: named.context.abs(''), key: `context:${ref}:${named.context.digest()}`, release: () => undefined };
        const img = await resolveImage(ref, line);
        st = { top: img.topLayer, key: img.id };
      }
      return mountedRoot(engine, st.top, st.key);
    };

    const planRun = async (cmd: RunCommand, state: StageState, vars: StageVars) => {
      const c = state.config.config as ContainerDefaults;
      const shell = c.Shell ?? ['/bin/sh', '-c'];
      let argv: string[];
      /** A heredoc script with a shebang: mounted executable at /dev/pipes/NAME and run as a file (as BuildKit). */
      let script: { name: string; data: string } | undefined;
      if (cmd.form === 'exec') argv = cmd.args;
      else if (cmd.heredocs.length === 1 && /^<<-?["']?\w+["']?$/.test((cmd.args[0] as string).trim())) {
        const doc = cmd.heredocs[0] as { name: string; data: string };
        if (doc.data.startsWith('#!')) {
          script = { name: doc.name, data: doc.data };
          argv = [...shell, `/dev/pipes/${doc.name}`];
        } else argv = [...shell, doc.data];
      } else {
        let script = cmd.args[0] as string;
        for (const h of cmd.heredocs) script += `\n${h.data}${h.name}`;
        argv = [...shell, script];
      }
      const { args, proxy } = vars.runArgs();
      const env = [...(c.Env ?? [])];
      const envKeys = new Set(env.map((e) => e.split('=')[0]));
      const argEnv: string[] = [];
      for (const [k, v] of args) if (!envKeys.has(k)) argEnv.push(`${k}=${v}`);
      for (const [k, v] of proxy) if (!envKeys.has(k)) argEnv.push(`${k}=${v}`);
      const shown = [...args].map(([k, v]) => `${k}=${v}`);
      const createdBy = `RUN ${shown.length ? `|${shown.length} ${shown.join(' ')} ` : ''}${argv.join(' ')}`;
      // A bind mount's source is an input of the step: its content joins the cache key (BuildKit's
      // too), so a changed file under `RUN --mount=type=bind,source=...` re-runs the step.
      const mountsDesc = await Promise.all(cmd.mounts.map(async (m) => (m.type === 'bind' ? { ...m, content: await bindSourceKey(m.from, m.source ?? '', cmd.line) } : { ...m })));
      // RUN --network, else build --network, else the default bridge network (as docker's builds).
      const runNetwork = cmd.network ?? opts.network ?? 'default';
      return {
        desc: { cmd: 'RUN', argv, script: script?.data ?? null, args: shown, mounts: mountsDesc, network: runNetwork, security: cmd.security ?? 'sandbox', user: c.User ?? '', wd: c.WorkingDir ?? '' },
        createdBy,
        execute: async (lease: Lease, log: (s: 'stdout' | 'stderr', l: string) => void): Promise<LayerRef> => {
          const tmp = stepTempDir(engine);
          const releases: (() => void)[] = [];
          try {
            const mounts: (ResolvedRunMount & { ssh?: boolean })[] = [];
            let sshIndex = 0;
            for (const m of cmd.mounts) mounts.push(await resolveRunMount(m, tmp, releases, c.WorkingDir || '/', m.type === 'ssh' ? sshIndex++ : 0));
            // As BuildKit: the step's SSH_AUTH_SOCK is the first forwarded agent.
            const agent = mounts.find((m) => m.ssh);
            const sshEnv = agent && !env.some((e) => e.startsWith('SSH_AUTH_SOCK=')) ? [`SSH_AUTH_SOCK=${agent.target}`] : [];
            if (script) {
              const file = path.join(tmp, 'heredoc-script');
              fs.writeFileSync(file, script.data, { mode: 0o755 });
              fs.chmodSync(file, 0o755);
              mounts.push({ target: `/dev/pipes/${script.name}`, type: 'bind', source: file, readonly: true });
            }
            const res = await runStep(engine, tmp, {
              top: state.top,
              argv,
              env: [...env, ...argEnv, ...sshEnv],
              cwd: c.WorkingDir || '/',
              user: c.User ?? '',
              network: runNetwork,
              mounts: mounts.filter((m) => m.type === 'tmpfs' || m.source !== undefined).map(({ ssh: _ssh, ...m }) => m),
              insecure: cmd.security === 'insecure',
              onOutput: log,
              ...(opts.signal ? { signal: opts.signal } : {}),
            });
            if (res.exitCode !== 0)
              throw new BerthError('failed_precondition', `process "${argv.join(' ')}" did not complete successfully: exit code: ${res.exitCode}`);
            const { ref } = await commitDir(engine, res.upper, state.top, { lease, sourceDateEpoch: epoch });
            return ref;
          } finally {
            for (const r of releases.reverse()) r();
            fs.rmSync(tmp, { recursive: true, force: true });
          }
        },
      };
    };

    const resolveRunMount = async (m: RunCommand['mounts'][number], tmp: string, releases: (() => void)[], wd: string, sshIndex: number): Promise<ResolvedRunMount & { ssh?: boolean }> => {
      const target = m.target !== undefined ? path.posix.resolve(wd, m.target) : undefined;
      switch (m.type) {
        case 'cache': {
          if (!target) throw invalidArgument('RUN --mount=type=cache needs a target');
          const held = acquireCacheMount(engine, m.id ?? target, {
            ...(m.mode !== undefined ? { mode: m.mode } : {}),
            ...(m.uid !== undefined ? { uid: m.uid } : {}),
            ...(m.gid !== undefined ? { gid: m.gid } : {}),
            exclusive: m.sharing === 'locked',
          });
          releases.push(held.release);
          return { target, type: 'bind', source: held.dir, readonly: m.readonly };
        }
        case 'tmpfs':
          if (!target) throw invalidArgument('RUN --mount=type=tmpfs needs a target');
          return m.size !== undefined ? { target, type: 'tmpfs', size: m.size } : { target, type: 'tmpfs' };
        case 'secret': {
          const id = m.id ?? (target ? path.posix.basename(target) : undefined);
          if (m.type !== 'secret' || !id) throw invalidArgument(`RUN --mount=type=${m.type} is not supported; use type=secret with an id`);
          const src = opts.secrets?.[id];
          if (!src || !fs.existsSync(src)) {
            if (m.required) throw invalidArgument(`secret ${id} not found`, { hint: `pass it with --secret id=${id},src=FILE` });
            return { target: target ?? `/run/secrets/${id}`, type: 'bind' };
          }
          // A private copy with the requested mode/owner; never part of a layer (a mount, not a file).
          const copy = path.join(tmp, `secret-${Object.keys(opts.secrets ?? {}).indexOf(id)}`);
          fs.copyFileSync(src, copy);
          fs.chmodSync(copy, m.mode ?? 0o400);
          fs.chownSync(copy, m.uid ?? 0, m.gid ?? 0);
          return { target: target ?? `/run/secrets/${id}`, type: 'bind', source: copy, readonly: true };
        }
        case 'ssh': {
          const id = m.id ?? 'default';
          const agent = opts.ssh?.[id];
          const at = target ?? `/run/buildkit/ssh_agent.${sshIndex}`;
          if (!agent) {
            if (m.required) throw invalidArgument(`no SSH agent for RUN --mount=type=ssh,id=${id}`, { hint: `pass --ssh ${id} (the agent of SSH_AUTH_SOCK) or --ssh ${id}=SOCKET` });
            return { target: at, type: 'bind' };
          }
          const proxy = await startAgentProxy(agent, { uid: m.uid ?? 0, gid: m.gid ?? 0, mode: m.mode ?? 0o600 });
          releases.push(proxy.close);
          return { target: at, type: 'bind', source: proxy.socket, ssh: true };
        }
        default: {
          if (!target) throw invalidArgument('RUN --mount=type=bind needs a target');
          const src = (m.source ?? '').replace(/^\/+/, '');
          let base: string;
          if (m.from !== undefined) {
            const root = await copyRoot(m.from, 0);
            releases.push(root.release);
            base = root.dir;
          } else base = ctx.dir;
          let source = path.join(base, src);
          if (!m.readonly) {
            // rw bind mounts see writes only during the step: give them a scratch copy.
            const copy = path.join(tmp, `bind-${releases.length}-${path.basename(source)}`);
            fs.cpSync(source, copy, { recursive: true, verbatimSymlinks: true });
            source = copy;
          }
          return { target, type: 'bind', source, readonly: m.readonly };
        }
      }
    };

    // Stages run as soon as what they depend on is done (independent stages in parallel).
    for (const i of order) {
      const stage = parsed.stages[i] as Stage;
      results.set(i, Promise.resolve().then(() => runStage(stage)));
    }
    for (const p of results.values()) p.catch(() => undefined);
    let final: StageState;
    try {
      final = await (results.get(finalIndex) as Promise<StageState>);
      await Promise.all(results.values());
    } catch (e) {
      await Promise.allSettled(results.values());
      throw e;
    }
    // The image: the last step's, or a new one for trailing metadata steps and --label.
    const exportId = vertex++;
    emit({ type: 'vertex', id: exportId, name: 'exporting to image' });
    if (opts.labels && Object.keys(opts.labels).length) {
      const c = (final.config.config ??= {});
      c.Labels = { ...(c.Labels ?? {}), ...opts.labels };
      final.key = stepKey(final.key, { labels: opts.labels });
      final.pending = true;
    }
    let image: ImageRecord;
    const hit = final.pending && !opts.noCache ? cache.get(final.key) : undefined;
    if (!final.pending && final.imageId) image = engine.images.get(final.imageId) as ImageRecord;
    else if (hit) image = engine.images.get(hit) as ImageRecord;
    else {
      final.config.created = now();
      image = writeImage(engine, { config: final.config, layers: final.layers, parent: final.imageId, lease });
      cache.put(final.key, image.id);
    }
    for (const t of opts.tags ?? []) engine.images.tag(image.id, t);
    if (ctx.dockerfilePath !== undefined || opts.tags?.length) {
      engine.images.setMeta(image.id, {
        ...image.meta,
        buildContext: { dir: ctx.dir, digest: ctx.digest(), dockerfile: ctx.dockerfilePath ?? '-', tags: opts.tags ?? [] },
      });
    }
    emit({ type: 'done', id: exportId, seconds: 0 });
    return { image: engine.images.get(image.id) as ImageRecord, executed, cached: cachedSteps };
  });
}

/** Go's time.Duration.String(): "0s", "1.5s", "1m30s", "500ms", "2h0m0s". */
export function goDuration(ns: number): string {
  if (ns === 0) return '0s';
  const neg = ns < 0;
  let u = Math.abs(ns);
  const frac = (v: number, digits: number) => {
    const s = String(v).padStart(digits, '0').replace(/0+$/, '');
    return s ? `.${s}` : '';
  };
  let out: string;
  if (u < 1e3) out = `${u}ns`;
  else if (u < 1e6) out = `${Math.floor(u / 1e3)}${frac(u % 1e3, 3)}µs`;
  else if (u < 1e9) out = `${Math.floor(u / 1e6)}${frac(u % 1e6, 6)}ms`;
  else {
    const h = Math.floor(u / 3.6e12);
    u -= h * 3.6e12;
    const m = Math.floor(u / 6e10);
    u -= m * 6e10;
    const sec = `${Math.floor(u / 1e9)}${frac(u % 1e9, 9)}s`;
    out = h > 0 ? `${h}h${m}m${sec}` : m > 0 ? `${m}m${sec}` : sec;
  }
  return neg ? `-${out}` : out;
}

/** Go's %q of an integer (strconv.QuoteRune): '\x03', '\n', 'A'. */
export function goQuoteRune(n: number): string {
  const named: Record<number, string> = { 7: '\\a', 8: '\\b', 9: '\\t', 10: '\\n', 11: '\\v', 12: '\\f', 13: '\\r', 39: "\\'", 92: '\\\\' };
  if (named[n] !== undefined) return `'${named[n]}'`;
  if (n >= 0x20 && n < 0x7f) return `'${String.fromCharCode(n)}'`;
  if (n >= 0 && n < 0x80) return `'\\x${n.toString(16).padStart(2, '0')}'`;
  if (n > 0x10ffff || n < 0) return "'\ufffd'";
  if (n >= 0xa0 && !(n >= 0xd800 && n <= 0xdfff)) return `'${String.fromCodePoint(n)}'`;
  return n <= 0xffff ? `'\\u${n.toString(16).padStart(4, '0')}'` : `'\\U${n.toString(16).padStart(8, '0')}'`;
}

function isLayerStep(c: Command): boolean {
  return c.kind === 'RUN' || c.kind === 'COPY' || c.kind === 'ADD' || c.kind === 'WORKDIR';
}

/** The command without its position, for cache keys. */
function describe(c: Command): unknown {
  const { line: _l, endLine: _e, original: _o, ...rest } = c as Command & { line: number };
  return rest;
}

function envRecord(env: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of env) {
    const i = e.indexOf('=');
    if (i > 0) out[e.slice(0, i)] = e.slice(i + 1);
  }
  return out;
}

function toPlatform(p: { os: string; architecture: string; variant?: string }): Platform {
  return p.variant ? { os: p.os, architecture: p.architecture, variant: p.variant } : { os: p.os, architecture: p.architecture };
}

function requirePlatform(s: string): Platform {
  const p = parsePlatform(s);
  if (!p) throw invalidArgument(`invalid platform "${s}": use os/arch[/variant], e.g. linux/amd64`);
  const host = hostPlatform();
  if (p.architecture !== host.architecture || p.os !== 'linux')
    throw invalidArgument(`cannot build for ${s} on this ${host.os}/${host.architecture} host`, { hint: 'cross-platform builds are not supported' });
  return p;
}

/** Parses base-image ONBUILD triggers as commands of the child stage. */
function onbuildCommands(triggers: readonly string[], platform: Platform, filename: string, line: number): Command[] {
  if (triggers.length === 0) return [];
  try {
    const ast = parseDockerfile(`FROM scratch\n${triggers.join('\n')}\n`, { filename: `${filename} (ONBUILD of the base image)` });
    const parsed = parseStages(ast, { platform, filename });
    return (parsed.stages[0]?.commands ?? []).map((c) => ({ ...c, line, endLine: line }));
  } catch (e) {
    throw atLine(e, filename, line);
  }
}

/** Prefixes an error with the Dockerfile line unless it already names one. */
function atLine(e: unknown, filename: string, line: number): BerthError {
  const err = e instanceof BerthError ? e : new BerthError('internal', (e as Error).message ?? String(e), { cause: e });
  if (err.message.startsWith(`${filename}:`) || line <= 0) return err;
  const out = new BerthError(err.code, `${filename}:${line}: ${err.message}`, { cause: err });
  if (err.hint !== undefined) (out as { hint?: string }).hint = err.hint;
  return out;
}

/**
 * A read-only view of a layer chain, mounted in a temporary directory until `release()`. Unlike a
 * container's root file system it has no init layer: nothing (no /.dockerenv, no empty /etc/hosts)
 * that the stage itself does not have can leak into a COPY --from.
 */
export async function mountedRoot(engine: Engine, top: Digest | null, key: string): Promise<CopySourceRoot> {
  const { mountRootfs, prepareMounts, unmountRootfs } = await import('../snapshot/overlay.js');
  const tmp = stepTempDir(engine);
  const dirs = { upper: path.join(tmp, 'upper'), work: path.join(tmp, 'work'), merged: path.join(tmp, 'merged'), init: path.join(tmp, 'init') };
  for (const d of Object.values(dirs)) fs.mkdirSync(d, { recursive: true });
  try {
    if (process.env.BERTH_SNAPSHOTTER === 'copy') {
      fs.writeFileSync(path.join(dirs.init, '.dockerenv'), '');
      mountRootfs(engine.layers, top, dirs);
    } else {
      // An empty top-most lower dir (overlay needs one even for scratch), mounted read-only.
      const { mount } = await import('../sys/libc.js');
      const spec = prepareMounts(engine.layers, top, dirs);
      const prev = process.cwd();
      process.chdir(spec.cwd ?? '/');
      try {
        mount('overlay', dirs.merged, 'overlay', 1 /* MS_RDONLY */, spec.options.join(','));
      } finally {
        process.chdir(prev);
      }
    }
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  let released = false;
  return {
    dir: dirs.merged,
    key,
    release: () => {
      if (released) return;
      released = true;
      unmountRootfs(dirs.merged);
      fs.rmSync(tmp, { recursive: true, force: true });
    },
  };
}
