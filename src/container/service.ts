/**
 * The container lifecycle: create -> start -> (pause) -> stop/exit -> remove, daemonless.
 * Each running container is watched by its own conmon; every berth command reconciles what it
 * reads (a container whose monitor died while nothing watched is marked exited), and conmon's
 * exit command (`berth container cleanup ID`) records the exit, unmounts, and applies --rm and
 * restart policies.
 */
import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { BerthError, conflict, failedPrecondition, invalidArgument, isNotFound } from '../errors.js';
import type { Engine } from '../engine/engine.js';
import { readImageConfig } from '../image/image-store.js';
import type { HealthConfig } from '../image/oci.js';
import { OciRuntime, classifyStartError, signalNumber } from '../runtime/oci-runtime.js';
import { defaultSeccomp, loadSeccompProfile } from '../runtime/seccomp.js';
import { type DeviceInput, type OciMount, type SpecInput, buildSpec, cgroupResources, hostFacts, parseDeviceCgroupRule, resolveCapabilities, specToJson } from '../runtime/spec.js';
import { removeTree } from '../util/remove-tree.js';
import { isMounted, mountRootfs, unmountRootfs, unmountRootfsLater } from '../snapshot/overlay.js';
import { launchMonitor } from './monitor.js';
import { randomName } from './names.js';
import { ContainerStore } from './store.js';
import {
  type ContainerConfig,
  type ContainerRecord,
  type ContainerState,
  type DeviceMapping,
  type MountSpec,
  type PortBinding,
  type RestartPolicy,
  initialState,
} from './types.js';
import { resolveUser } from './user.js';
import { containerResolvConf } from '../network/resolv.js';
import { setupContainerNetwork, teardownContainerNetwork, validateNetworkMode, validateStaticAddresses } from '../network/service.js';
import { parseLocalOptions, releaseVolumeMounts } from '../volume/mounts.js';
import { berthBin } from '../util/berth-bin.js';
import { mark } from '../util/timings.js';
import { randomHex } from '../util/random.js';
import { pidAlive } from '../util/process.js';
import { monitorLogCap, startLogRotation } from './log-rotate.js';
import { LOCK_EX, flock, x32AbiAvailable } from '../sys/libc.js';

export const DEFAULT_LOG_MAX_SIZE = 20 * 1024 * 1024;
const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** What a caller (CLI flags, API HostConfig) asks for; everything optional falls back to the image. */
/** What `create` takes; the host-mode fields (--device, --pid, ...) as ContainerConfig keeps them. */
export interface CreateOptions extends Partial<Pick<ContainerConfig, 'devices' | 'deviceCgroupRules' | 'pidMode' | 'ipcMode' | 'utsMode' | 'oomScoreAdj'>> {
  image: string;
  name?: string;
  cmd?: string[];
  entrypoint?: string[];
  env?: string[];
  workingDir?: string;
  user?: string;
  hostname?: string;
  domainname?: string;
  tty?: boolean;
  /** Initial TTY size (ignored without tty): see ContainerConfig.consoleSize. */
  consoleSize?: { rows: number; cols: number };
  openStdin?: boolean;
  stdinOnce?: boolean;
  labels?: Record<string, string>;
  stopSignal?: string;
  stopTimeout?: number;
  init?: boolean;
  readOnly?: boolean;
  autoRemove?: boolean;
  restartPolicy?: RestartPolicy;
  healthcheck?: HealthConfig;
  logMaxSize?: number;
  logMaxFile?: number;
  /** --log-driver none: conmon keeps no log. */
  logDriver?: 'none';
  runtime?: string;
  resources?: ContainerConfig['resources'];
  ulimits?: ContainerConfig['ulimits'];
  capAdd?: string[];
  capDrop?: string[];
  privileged?: boolean;
  securityOpt?: string[];
  network?: Partial<ContainerConfig['network']>;
  ports?: PortBinding[];
  publishAll?: boolean;
  exposedPorts?: string[];
  mounts?: MountSpec[];
  tmpfs?: Record<string, string>;
  volumesFrom?: string[];
  shmSize?: number;
  sysctls?: Record<string, string>;
}

export class ContainerService {
  readonly store: ContainerStore;
  private runtimes = new Map<string, OciRuntime>();
  constructor(readonly engine: Engine) {
    this.store = new ContainerStore(engine.db);
  }

  runtime(binary: string): OciRuntime {
    let r = this.runtimes.get(binary);
    if (!r) {
      r = new OciRuntime({ binary, root: path.join(this.engine.paths.runtimeState, path.basename(binary)) });
      this.runtimes.set(binary, r);
    }
    return r;
  }

  /** The container's paths (store paths are absolute and normalized, ids are hex: plain concatenation). */
  dirs(id: string) {
    const p = this.engine.paths;
    const persistent = `${p.containers}/${id}`;
    const run = `${p.runContainers}/${id}`;
    return {
      persistent,
      upper: `${persistent}/upper`,
      work: `${persistent}/work`,
      init: p.initLayer,
      log: `${persistent}/ctr.log`,
      hosts: `${persistent}/hosts`,
      hostname: `${persistent}/hostname`,
      resolv: `${persistent}/resolv.conf`,
      run,
      merged: `${run}/merged`,
      bundle: run,
      pidFile: `${run}/pidfile`,
      monitorPidFile: `${run}/conmon.pid`,
      exitFile: `${p.exits}/${id}`,
      attach: `${p.sockets}/${id}/attach`,
      ctl: `${run}/ctl`,
      winsz: `${run}/winsz`,
    };
  }

  // ---------------------------------------------------------------- create

  create(opts: CreateOptions): ContainerRecord {
    mark('create: begin');
    const img = this.engine.images.tryResolve(opts.image);
    if (!img)
      throw new BerthError('not_found', `Unable to find image '${opts.image}' locally`, {
        hint: `build it (berth build) or pull it (berth pull ${opts.image})`,
      });
    const cfg = readImageConfig(this.engine.blobs, img).config ?? {};
    if (opts.name !== undefined) ContainerStore.validateName(opts.name);
    if (opts.network?.mode) validateNetworkMode(this.engine, opts.network.mode);
    validateStaticAddresses(this.engine, opts.network?.mode ?? 'bridge', { ip: opts.network?.ip, ip6: opts.network?.ip6 });
    const id = randomHex(32);
    const entrypoint = opts.entrypoint ?? cfg.Entrypoint ?? [];
    const cmd = opts.cmd && opts.cmd.length ? opts.cmd : opts.entrypoint ? [] : (cfg.Cmd ?? []);
    if (entrypoint.length === 0 && cmd.length === 0) throw invalidArgument('No command specified', { hint: 'give a command after the image name' });
    const env = mergeEnv(cfg.Env ?? [], opts.env ?? []);
    const exposed = new Set([...Object.keys(cfg.ExposedPorts ?? {}), ...(opts.exposedPorts ?? [])].map((p) => (p.includes('/') ? p : `${p}/tcp`)));
    const ports = [...(opts.ports ?? [])];
    for (const p of ports) exposed.add(`${p.containerPort}/${p.protocol}`);
    // -P: every exposed port not published explicitly gets a free host port at start.
    if (opts.publishAll)
      for (const e of exposed) {
        const [port, proto] = e.split('/') as [string, 'tcp' | 'udp'];
        if (!ports.some((p) => p.containerPort === Number(port) && p.protocol === proto)) ports.push({ hostIp: '', hostPort: 0, containerPort: Number(port), protocol: proto });
      }
    const mounts = [...(opts.mounts ?? [])];
    // --volumes-from CONTAINER[:ro|rw]: the other container's volumes and binds, at the same paths.
    for (const vf of opts.volumesFrom ?? []) {
      const [ref, mode] = vf.split(':') as [string, string | undefined];
      if (mode !== undefined && mode !== 'ro' && mode !== 'rw') throw invalidArgument(`invalid mode for volumes-from: ${mode}`);
      for (const m of this.store.resolve(ref).config.mounts) {
        if (m.type === 'tmpfs' || (m.anonymous && !m.name) || mounts.some((x) => x.destination === m.destination)) continue;
        mounts.push({ ...m, readonly: mode === undefined ? m.readonly : mode === 'ro' });
      }
    }
    // --mount volume-opt: the local driver's options are checked now, as docker creates the volume at create.
    for (const m of mounts) if (m.volumeOptions) parseLocalOptions(m.volumeOptions);
    // Anonymous volumes for the image's VOLUMEs not otherwise mounted.
    for (const v of Object.keys(cfg.Volumes ?? {})) {
      if (!mounts.some((m) => m.destination === v)) mounts.push({ type: 'volume', source: '', destination: v, readonly: false, anonymous: true });
    }
    let name = opts.name;
    const config: ContainerConfig = {
      id,
      name: name ?? '',
      image: opts.image,
      imageId: img.id,
      created: Date.now(),
      entrypoint,
      cmd,
      env,
      workingDir: opts.workingDir || cfg.WorkingDir || '/',
      user: opts.user ?? cfg.User ?? '',
      hostname: opts.hostname || id.slice(0, 12),
      domainname: opts.domainname ?? '',
      tty: opts.tty ?? false,
      openStdin: opts.openStdin ?? false,
      stdinOnce: opts.stdinOnce ?? false,
      labels: { ...(cfg.Labels ?? {}), ...(opts.labels ?? {}) },
      stopSignal: opts.stopSignal ?? cfg.StopSignal ?? 'SIGTERM',
      stopTimeout: opts.stopTimeout ?? 10,
      init: opts.init ?? false,
      readOnly: opts.readOnly ?? false,
      autoRemove: opts.autoRemove ?? false,
      restartPolicy: opts.restartPolicy ?? { name: 'no', maximumRetryCount: 0 },
      log: { maxSize: opts.logMaxSize ?? DEFAULT_LOG_MAX_SIZE, maxFile: opts.logMaxFile ?? 1, ...(opts.logDriver === 'none' ? { driver: 'none' as const } : {}) },
      runtime: opts.runtime ?? this.engine.options.runtime ?? 'runc',
      resources: opts.resources ?? {},
      ulimits: opts.ulimits ?? [],
      security: {
        capAdd: opts.capAdd ?? [],
        capDrop: opts.capDrop ?? [],
        privileged: opts.privileged ?? false,
        noNewPrivileges: (opts.securityOpt ?? []).some((s) => s === 'no-new-privileges' || s === 'no-new-privileges:true' || s === 'no-new-privileges=true'),
      },
      network: {
        mode: opts.network?.mode ?? 'bridge',
        aliases: opts.network?.aliases ?? [],
        dns: opts.network?.dns ?? [],
        dnsSearch: opts.network?.dnsSearch ?? [],
        dnsOptions: opts.network?.dnsOptions ?? [],
        extraHosts: opts.network?.extraHosts ?? [],
      },
      ports,
      exposedPorts: [...exposed],
      mounts,
      tmpfs: opts.tmpfs ?? {},
      volumesFrom: opts.volumesFrom ?? [],
      sysctls: opts.sysctls ?? {},
    };
    const healthcheck = opts.healthcheck ?? cfg.Healthcheck;
    if (healthcheck && !(healthcheck.Test?.[0] === 'NONE')) config.healthcheck = healthcheck;
    if (opts.shmSize) config.shmSize = opts.shmSize;
    if (config.tty && opts.consoleSize) config.consoleSize = opts.consoleSize;
    if (opts.network?.links?.length) config.network.links = this.resolveLinks(opts.network.links, config.network.mode);
    if (opts.network?.ip) config.network.ip = opts.network.ip;
    if (opts.network?.ip6) config.network.ip6 = opts.network.ip6;
    for (const s of opts.securityOpt ?? []) {
      const [k, v] = s.split(/[=:]/, 2) as [string, string | undefined];
      if (k === 'seccomp' && v) config.security.seccomp = v;
      else if (k !== 'no-new-privileges' && k !== 'label' && k !== 'apparmor') throw invalidArgument(`Invalid --security-opt: "${s}"`);
    }
    this.applyHostModes(config, opts);
    // Validate what would otherwise only fail at start.
    if (config.runtime !== 'runc' && !fs.existsSync(config.runtime) && !whichSync(config.runtime))
      throw invalidArgument(`unknown or invalid runtime name: ${config.runtime}`);
    const d = this.dirs(id);
    fs.mkdirSync(d.upper, { recursive: true });
    fs.mkdirSync(d.work, { recursive: true });
    for (let attempt = 0; ; attempt++) {
      config.name = name ?? randomName();
      try {
        this.store.insert({ config, state: initialState() });
        break;
      } catch (e) {
        if (name !== undefined || attempt > 10 || !(e instanceof BerthError && e.code === 'conflict')) {
          fs.rmSync(d.persistent, { recursive: true, force: true });
          throw e;
        }
        name = undefined;
      }
    }
    mark('create: recorded');
    emitEvent(this.engine.paths.runroot, 'container', 'create', id, { name: config.name, image: opts.image });
    return this.store.get(id) as ContainerRecord;
  }

  // ---------------------------------------------------------------- exit ownership

  /**
   * What conmon runs when the container exits: `berth container cleanup ID` (record the exit, then
   * --rm or the restart policy), unless a live berth process has claimed the exit (a foreground
   * `run`, a `stop`): that process records it anyway, and a second Node start-up per container
   * exit would only compete for the CPU. A claim whose process died is ignored, so a killed
   * foreground `run --rm` still gets its container cleaned up.
   */
  private exitCommand(id: string): string[] {
    const cleanup = [process.execPath, berthBin(), '--root', this.engine.paths.root, '--runroot', this.engine.paths.runroot, 'container', 'cleanup', id];
    const script = 'if read -r p < "$1" 2>/dev/null && kill -0 "$p" 2>/dev/null; then exit 0; fi; shift; exec "$@"';
    return ['/bin/sh', '-c', script, 'berth-exit', this.exitOwnerFile(id), ...cleanup];
  }

  private exitOwnerFile(id: string): string {
    return path.join(this.engine.paths.exits, `${id}.owner`);
  }

  /** This process will record the container's next exit itself (see exitCommand). */
  claimExit(id: string): void {
    fs.mkdirSync(this.engine.paths.exits, { recursive: true });
    fs.writeFileSync(this.exitOwnerFile(id), `${process.pid}\n`);
  }

  releaseExit(id: string): void {
    fs.rmSync(this.exitOwnerFile(id), { force: true });
  }

  /**
   * One container's run changes, serialized across processes (flock on <run dir>/lifecycle.lock):
   * `start` holds it from before it clears the last run's exit until the new run is recorded, and
   * `recordExit` for its whole check-and-teardown. Without it a late exit command (conmon's, after a
   * `kill`) that had seen the old run live could tear down the namespace and root file system of a
   * `start` that began meanwhile. Never taken twice by one process for one container.
   * @returns the release.
   */
  private lockRun(id: string): () => void {
    // flock between two descriptors of one process would wait forever (the API service runs many
    // requests in one process): a second taker here is refused instead. Neither start nor an exit
    // record can meet another one for the same container in one process (a run that has not been
    // started by `runc start` yet cannot have exited), so this is a guard, not a path.
    if (runsLockedHere.has(id)) throw new BerthError('unavailable', `container ${id.slice(0, 12)} is being started or stopped by this process`);
    const dir = this.dirs(id).run;
    fs.mkdirSync(dir, { recursive: true });
    const file = `${dir}/lifecycle.lock`;
    const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_CREAT, 0o600);
    try {
      flock(fd, LOCK_EX, file);
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
    runsLockedHere.add(id);
    return () => {
      runsLockedHere.delete(id);
      fs.closeSync(fd);
    };
  }

  // ---------------------------------------------------------------- reconcile

  /** Brings a record in line with reality: a running container whose processes are gone is exited. */
  reconcile(rec: ContainerRecord): ContainerRecord {
    const s = rec.state;
    if (s.status !== 'running' && s.status !== 'paused' && s.status !== 'restarting') return rec;
    if (s.status === 'restarting') {
      // A restart in progress belongs to its exit command; if that process is gone, fall back to exited.
      if (s.monitorPid && pidAlive(s.monitorPid)) return rec;
    }
    if (s.pid && pidAlive(s.pid) && !fs.existsSync(this.dirs(rec.config.id).exitFile)) return rec;
    if (s.monitorPid && pidAlive(s.monitorPid) && !fs.existsSync(this.dirs(rec.config.id).exitFile)) return rec;
    return this.recordExit(rec.config.id, { startedAt: s.startedAt });
  }

  get(idOrName: string): ContainerRecord {
    return this.reconcile(this.store.resolve(idOrName));
  }

  list(): ContainerRecord[] {
    return this.store.list().map((r) => this.reconcile(r));
  }

  // ---------------------------------------------------------------- start

  /** Starts a created or exited container. Resolves when the container's process is running. */
  async start(
    idOrName: string,
    opts: {
      beforeStart?: (rec: ContainerRecord) => Promise<void> | void;
      /**
       * The caller waits for this run's exit and records it (and removes an auto-remove container)
       * itself, so conmon's exit command need not start a second berth (see exitCommand).
       */
      ownExit?: boolean;
    } = {},
  ): Promise<ContainerRecord> {
    let rec = this.get(idOrName);
    const id = rec.config.id;
    if (rec.state.status === 'running') return rec;
    // From here the record is read under the run lock, not reconciled (that would take the lock again).
    const unlock = this.lockRun(id);
    try {
      rec = this.store.get(id) ?? rec;
      return await this.startLocked(rec, opts);
    } finally {
      unlock();
    }
  }

  private async startLocked(rec: ContainerRecord, opts: { beforeStart?: (rec: ContainerRecord) => Promise<void> | void; ownExit?: boolean }): Promise<ContainerRecord> {
    const id = rec.config.id;
    if (rec.state.status === 'running') return rec;
    if (rec.state.status === 'paused') throw conflict(`cannot start a paused container, try unpause instead`);
    if (rec.state.status === 'removing' || rec.state.status === 'dead') throw conflict(`container ${rec.config.name} is marked for removal and cannot be started`);
    const c = rec.config;
    const d = this.dirs(id);
    const rt = this.runtime(c.runtime);
    fs.mkdirSync(d.run, { recursive: true });
    fs.mkdirSync(this.engine.paths.exits, { recursive: true });
    fs.mkdirSync(this.engine.paths.sockets, { recursive: true });
    fs.rmSync(d.exitFile, { force: true });
    fs.rmSync(d.pidFile, { force: true });
    // A leftover runtime record (crash between create and cleanup) would block create.
    if (hasRuntimeState(rt, id)) await rt.delete(id, { force: true }).catch(() => undefined);
    const img = this.engine.images.get(c.imageId);
    if (!img) throw failedPrecondition(`the image of container ${c.name} (${c.imageId.slice(7, 19)}) is gone`);
    try {
      mark('start: runtime cleaned');
      mountRootfs(this.engine.layers, img.topLayer, { upper: d.upper, work: d.work, merged: d.merged, init: d.init, volatile: c.autoRemove });
      // Namespace, addresses, published ports and /etc/hosts (network module), before the spec names the namespace.
      if (await setupContainerNetwork(this.engine, rec)) rec = this.store.get(id) as ContainerRecord;
      mark('start: rootfs mounted');
      const spec = await this.buildSpecFor(rec, d);
      fs.writeFileSync(path.join(d.bundle, 'config.json'), specToJson(spec));
      mark('start: spec written');
      if (opts.ownExit) this.claimExit(id);
      else this.releaseExit(id);
      if (!fs.existsSync(d.log)) fs.writeFileSync(d.log, '');
      const res = await launchMonitor({
        id,
        name: c.name,
        bundle: d.bundle,
        runtimeBinary: rt.binary,
        runtimeRoot: rt.root,
        logPath: c.log.driver === 'none' ? undefined : d.log,
        logMaxSize: monitorLogCap(c.log.maxSize, c.log.maxFile),
        exitDir: this.engine.paths.exits,
        socketDir: this.engine.paths.sockets,
        pidFile: d.pidFile,
        monitorPidFile: d.monitorPidFile,
        tty: c.tty,
        stdin: c.openStdin,
        leaveStdinOpen: !c.stdinOnce,
        exitCommand: this.exitCommand(id),
        syncLog: !c.autoRemove,
      });
      mark('start: monitor reported pid');
      const monitorPid = readPid(d.monitorPidFile);
      if (c.log.driver !== 'none') startLogRotation({ log: d.log, ctl: d.ctl, maxSize: c.log.maxSize, maxFile: c.log.maxFile, monitorPid });
      rec = this.store.updateState(id, (s) => ({
        ...s,
        status: 'running',
        pid: res.pid,
        monitorPid,
        startedAt: Date.now(),
        finishedAt: 0,
        exitCode: 0,
        error: '',
        oomKilled: false,
        stoppedByUser: false,
        removerPid: opts.ownExit && c.autoRemove ? process.pid : undefined,
        rootfs: d.merged,
        health: c.healthcheck ? { status: 'starting', failingStreak: 0, log: [] } : undefined,
      }));
      if (opts.beforeStart) await opts.beforeStart(rec);
      await rt.start(id, { initPid: res.pid });
      mark('start: runtime started');
      if (c.healthcheck) this.spawnHealthMonitor(id);
      emitEvent(this.engine.paths.runroot, 'container', 'start', id, { name: c.name, image: c.image });
      return rec;
    } catch (e) {
      const err = e instanceof BerthError && e.code === 'internal' ? classifyStartError(e.message) : e;
      await rt.delete(id, { force: true }).catch(() => undefined);
      teardownContainerNetwork(this.engine, id);
      releaseVolumeMounts(this.engine, id);
      try {
        unmountRootfs(d.merged);
      } catch {
        /* best effort */
      }
      const code = err instanceof BerthError ? (err.code === 'command_not_found' ? 127 : err.code === 'cannot_invoke' ? 126 : 125) : 125;
      this.store.updateState(id, (s) => ({ ...s, status: s.startedAt ? 'exited' : 'created', pid: 0, monitorPid: 0, exitCode: code, error: (err as Error).message }));
      throw err;
    }
  }

  private async buildSpecFor(rec: ContainerRecord, d: ReturnType<ContainerService['dirs']>) {
    const c = rec.config;
    const user = resolveUser(d.merged, c.user);
    let env = [...c.env];
    if (!env.some((e) => e.startsWith('PATH='))) env.unshift(DEFAULT_PATH);
    env = mergeEnv(env, [`HOSTNAME=${c.hostname}`]);
    if (c.tty && !env.some((e) => e.startsWith('TERM='))) env.push('TERM=xterm');
    if (!env.some((e) => e.startsWith('HOME='))) env.push(`HOME=${user.home}`);
    let args = [...c.entrypoint, ...c.cmd];
    const mounts: OciMount[] = [];
    if (c.init) {
      mounts.push({ destination: '/sbin/docker-init', type: 'bind', source: findBinary('catatonit'), options: ['bind', 'ro', 'nosuid', 'nodev'] });
      args = ['/sbin/docker-init', '--', ...args];
    }
    this.writeEtcFiles(rec, d);
    mounts.push(
      { destination: '/etc/hostname', type: 'bind', source: d.hostname, options: ['rbind', 'rprivate'] },
      { destination: '/etc/hosts', type: 'bind', source: d.hosts, options: ['rbind', 'rprivate'] },
      { destination: '/etc/resolv.conf', type: 'bind', source: d.resolv, options: ['rbind', 'rprivate'] },
    );
    for (const m of c.mounts) {
      if (m.type === 'bind') {
        if (!fs.existsSync(m.source))
          throw invalidArgument(`invalid mount config for type "bind": bind source path does not exist: ${m.source}`);
        mounts.push({ destination: m.destination, type: 'bind', source: m.source, options: ['rbind', m.readonly ? 'ro' : 'rw', ...(m.options ?? [])] });
      } else if (m.type === 'tmpfs') {
        mounts.push({ destination: m.destination, type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', ...(m.options ?? [])] });
      } else {
        const src = await this.volumeSource(rec, m);
        mounts.push({ destination: m.destination, type: 'bind', source: src, options: ['rbind', m.readonly ? 'ro' : 'rw'] });
      }
    }
    const caps = c.security;
    const host = hostFacts();
    const effCaps = resolveCapabilities({ capAdd: caps.capAdd, capDrop: caps.capDrop, privileged: caps.privileged }, host);
    let seccomp: SpecInput['seccomp'];
    if (caps.privileged || caps.seccomp === 'unconfined') seccomp = 'unconfined';
    else if (caps.seccomp) seccomp = loadSeccompProfile(caps.seccomp, { caps: effCaps, x32Abi: x32AbiAvailable() });
    const res = c.resources;
    const input: SpecInput = {
      id: c.id,
      rootfs: d.merged,
      readonlyRootfs: c.readOnly,
      args,
      env,
      cwd: c.workingDir || '/',
      terminal: c.tty,
      ...(c.tty && c.consoleSize ? { consoleSize: c.consoleSize } : {}),
      user: { uid: user.uid, gid: user.gid, additionalGids: user.additionalGids },
      hostname: c.hostname,
      capAdd: caps.capAdd,
      capDrop: caps.capDrop,
      privileged: caps.privileged,
      noNewPrivileges: caps.noNewPrivileges,
      mounts,
      tmpfs: c.tmpfs,
      namespaces: {
        network: this.networkNamespace(rec),
        pid: this.pidNamespace(rec),
        ...this.ipcNamespace(rec),
        ...(c.utsMode === 'host' ? { uts: 'host' as const } : {}),
      },
      devices: this.deviceInputs(rec),
      deviceCgroupRules: c.deviceCgroupRules ?? [],
      ...(c.oomScoreAdj !== undefined ? { oomScoreAdj: c.oomScoreAdj } : {}),
      resources: specResources(res),
      rlimits: c.ulimits.map((u) => ({ type: `RLIMIT_${u.name.toUpperCase()}`, soft: u.soft, hard: u.hard })),
      cgroupsPath: `${this.engine.paths.cgroupParent}/${c.id}`,
      sysctls: c.sysctls,
    };
    input.seccomp = seccomp ?? defaultSeccomp({ caps: effCaps, x32Abi: x32AbiAvailable() });
    if (c.shmSize && !mounts.some((m) => m.destination === '/dev/shm'))
      mounts.push({ destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', `size=${c.shmSize}`] });
    return buildSpec(input, host);
  }

  /**
   * --device, --device-cgroup-rule, --pid, --ipc, --uts and --oom-score-adj into `config`, checked
   * as docker checks them (a device that is not one, an unknown mode, a hostname with the host's UTS
   * namespace), so a bad value fails the create and nothing is recorded.
   */
  private applyHostModes(config: ContainerConfig, opts: CreateOptions): void {
    const devices: DeviceMapping[] = [];
    for (const dev of opts.devices ?? []) {
      let st: fs.Stats;
      try {
        st = fs.statSync(dev.pathOnHost);
      } catch (e) {
        throw invalidArgument(`error gathering device information while adding custom device "${dev.pathOnHost}": ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (e as Error).message}`);
      }
      if (!st.isCharacterDevice() && !st.isBlockDevice()) throw invalidArgument(`error gathering device information while adding custom device "${dev.pathOnHost}": not a device node`);
      if (!path.posix.isAbsolute(dev.pathInContainer)) throw invalidArgument(`${dev.pathInContainer} is not an absolute path`);
      if (!/^[rwm]{1,3}$/.test(dev.permissions)) throw invalidArgument(`invalid device mode: ${dev.permissions}`);
      devices.push(dev);
    }
    if (devices.length) config.devices = devices;
    if (opts.deviceCgroupRules?.length) {
      for (const r of opts.deviceCgroupRules) parseDeviceCgroupRule(r);
      config.deviceCgroupRules = [...opts.deviceCgroupRules];
    }
    const pid = opts.pidMode ?? '';
    if (pid !== '' && pid !== 'host' && !pid.startsWith('container:')) throw invalidArgument(`invalid PID mode: ${pid}`);
    if (pid.startsWith('container:')) config.pidMode = `container:${this.store.resolve(pid.slice('container:'.length)).config.id}`;
    else if (pid) config.pidMode = pid;
    const ipc = opts.ipcMode ?? '';
    if (ipc.startsWith('container:')) config.ipcMode = `container:${this.store.resolve(ipc.slice('container:'.length)).config.id}`;
    else if (!['', 'private', 'shareable', 'host'].includes(ipc)) throw invalidArgument(`invalid IPC mode: ${ipc}`);
    else if (ipc) config.ipcMode = ipc;
    const uts = opts.utsMode ?? '';
    if (uts !== '' && uts !== 'host') throw invalidArgument(`invalid UTS mode: ${uts}`);
    if (uts === 'host') {
      if (opts.hostname) throw invalidArgument('Conflicting options: hostname and the UTS mode');
      config.utsMode = uts;
      config.hostname = os.hostname();
    }
    if (opts.oomScoreAdj !== undefined) {
      if (!Number.isInteger(opts.oomScoreAdj) || opts.oomScoreAdj < -1000 || opts.oomScoreAdj > 1000) throw invalidArgument(`Invalid value ${opts.oomScoreAdj}, range for oom score adj is [-1000, 1000]`);
      config.oomScoreAdj = opts.oomScoreAdj;
    }
  }

  /**
   * `--link NAME[:ALIAS]` as "<id>:<alias>" (the alias defaults to the name): the container must exist
   * now, and links need a network of the container's own (not none, host or container:).
   */
  private resolveLinks(links: string[], mode: string): string[] {
    if (mode === 'none' || mode === 'host' || mode.startsWith('container:')) throw invalidArgument(`conflicting options: --link and --network ${mode}`);
    return links.map((l) => {
      const [name, alias] = l.replace(/^\//, '').split(':') as [string, string | undefined];
      if (!name) throw invalidArgument(`invalid link "${l}": use NAME[:ALIAS]`);
      const target = this.store.resolve(name);
      const a = (alias ?? target.config.name).replace(/^.*\//, '');
      if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(a)) throw invalidArgument(`invalid link alias "${a}"`);
      return `${target.config.id}:${a}`;
    });
  }

  /**
   * --ipc: the host's namespace, or (container:NAME) that running container's IPC namespace: its
   * System V shared memory, semaphores and message queues. Its /dev/shm is not shared (docker's is a
   * host-side tmpfs for "shareable" containers; Berth's is the container's own, which a mount cannot
   * reach from another mount namespace).
   */
  private ipcNamespace(rec: ContainerRecord): Partial<SpecInput['namespaces']> {
    const mode = rec.config.ipcMode ?? '';
    if (mode === 'host') return { ipc: 'host' };
    return mode.startsWith('container:') ? { ipc: this.joinedNamespace(mode, 'ipc', 'IPC') } : {};
  }

  /** The PID namespace of the spec: the host's, another running container's, or a new one. */
  private pidNamespace(rec: ContainerRecord): SpecInput['namespaces']['pid'] {
    const mode = rec.config.pidMode ?? '';
    if (mode === 'host') return 'host';
    return mode.startsWith('container:') ? this.joinedNamespace(mode, 'pid', 'PID') : 'new';
  }

  /** `container:NAME` modes: the namespace of that running container, by path (docker's message when it does not run). */
  private joinedNamespace(mode: string, ns: 'net' | 'pid' | 'ipc', what: string): { path: string } {
    const other = this.get(mode.slice('container:'.length));
    if (other.state.status !== 'running') throw conflict(`cannot join ${what} of a non running container: ${other.config.name}`);
    return { path: `/proc/${other.state.pid}/ns/${ns}` };
  }

  /** The host devices of --device as the spec takes them, read from the nodes now (they may have changed since create). */
  private deviceInputs(rec: ContainerRecord): DeviceInput[] {
    return (rec.config.devices ?? []).map((dev) => {
      let st: fs.Stats;
      try {
        st = fs.statSync(dev.pathOnHost);
      } catch (e) {
        throw failedPrecondition(`error gathering device information while adding custom device "${dev.pathOnHost}": ${(e as Error).message}`);
      }
      const rdev = st.rdev;
      return {
        path: dev.pathInContainer,
        type: st.isBlockDevice() ? 'b' : 'c',
        major: Number((BigInt(rdev) >> 8n) & 0xfffn) | Number((BigInt(rdev) >> 32n) & ~0xfffn),
        minor: Number(BigInt(rdev) & 0xffn) | Number((BigInt(rdev) >> 12n) & ~0xffn),
        fileMode: st.mode & 0o777,
        uid: st.uid,
        gid: st.gid,
        access: dev.permissions,
      };
    });
  }

  /** Network namespace for the runtime spec. The networks module replaces this when it lands. */
  private networkNamespace(rec: ContainerRecord): SpecInput['namespaces']['network'] {
    const mode = rec.config.network.mode;
    if (mode === 'host') return 'host';
    if (mode.startsWith('container:')) return this.joinedNamespace(mode, 'net', 'network');
    const netns = rec.state.network?.netns;
    if (typeof netns === 'string' && netns) return { path: netns };
    return 'new';
  }

  private async volumeSource(rec: ContainerRecord, m: MountSpec): Promise<string> {
    const { VolumeService } = await import('../volume/service.js');
    return new VolumeService(this.engine).mountSourceFor(rec, m);
  }

  private writeEtcFiles(rec: ContainerRecord, d: ReturnType<ContainerService['dirs']>): void {
    const c = rec.config;
    fs.writeFileSync(d.hostname, `${c.hostname}\n`);
    if (!fs.existsSync(d.hosts) || c.network.mode === 'none' || c.network.mode === 'host') {
      const lines = ['127.0.0.1\tlocalhost', '::1\tlocalhost ip6-localhost ip6-loopback', 'fe00::0\tip6-localnet', 'ff00::0\tip6-mcastprefix', 'ff02::1\tip6-allnodes', 'ff02::2\tip6-allrouters'];
      for (const h of c.network.extraHosts) {
        const [name, ip] = h.split(/:(.*)/s) as [string, string];
        lines.push(`${ip}\t${name}`);
      }
      if (c.network.mode === 'host') lines.push(`127.0.1.1\t${c.hostname}`);
      fs.writeFileSync(d.hosts, `${lines.join('\n')}\n`);
    }
    let resolv = '';
    try {
      resolv = fs.readFileSync('/etc/resolv.conf', 'utf8');
    } catch {
      /* no host resolver config */
    }
    // A namespace of its own cannot reach the host's loopback resolvers (none has no network at all).
    if (c.network.mode !== 'host' && c.network.mode !== 'none' && !c.network.mode.startsWith('container:')) resolv = containerResolvConf(resolv);
    if (c.network.dns.length || c.network.dnsSearch.length || c.network.dnsOptions.length) {
      const kept = resolv.split('\n').filter((l) => !(c.network.dns.length && l.startsWith('nameserver')) && !(c.network.dnsSearch.length && l.startsWith('search')) && !(c.network.dnsOptions.length && l.startsWith('options')));
      resolv = [
        ...kept.filter((l) => l.trim()),
        ...c.network.dns.map((s) => `nameserver ${s}`),
        ...(c.network.dnsSearch.length ? [`search ${c.network.dnsSearch.join(' ')}`] : []),
        ...(c.network.dnsOptions.length ? [`options ${c.network.dnsOptions.join(' ')}`] : []),
      ].join('\n');
    }
    fs.writeFileSync(d.resolv, resolv.endsWith('\n') || !resolv ? resolv : `${resolv}\n`);
  }

  private spawnHealthMonitor(id: string): void {
    void import('node:child_process').then(({ spawn }) => {
      const child = spawn(process.execPath, [berthBin(), '--root', this.engine.paths.root, '--runroot', this.engine.paths.runroot, 'container', 'healthcheck-monitor', id], {
        detached: true,
        stdio: 'ignore',
      });
      child.unref();
    });
  }

  // ---------------------------------------------------------------- exit, stop, kill

  /**
   * Records the exit of a container once: status, exit code, OOM, then releases the runtime record
   * and the root file system mount. Idempotent; safe to call from the exit command and from CLI
   * waiters at the same time.
   */
  recordExit(id: string, opts: { startedAt?: number; deferUnmount?: boolean } = {}): ContainerRecord {
    if (!this.store.get(id)) throw new BerthError('not_found', `No such container: ${id}`);
    const unlock = this.lockRun(id);
    try {
      return this.recordExitLocked(id, opts);
    } finally {
      unlock();
    }
  }

  private recordExitLocked(id: string, opts: { startedAt?: number; deferUnmount?: boolean }): ContainerRecord {
    const d = this.dirs(id);
    let exitCode = -1;
    let finishedAt = Date.now();
    try {
      const txt = fs.readFileSync(d.exitFile, 'utf8').trim();
      if (/^-?\d+$/.test(txt)) exitCode = Number(txt);
      finishedAt = fs.statSync(d.exitFile).mtimeMs;
    } catch {
      /* monitor died without writing: exit code unknown */
    }
    const before = this.store.get(id);
    if (!before) throw new BerthError('not_found', `No such container: ${id}`);
    // The destructive part (unmount, runtime state, network) only for a run that is still live and is
    // the one the caller saw: a late exit command must not tear down a run started after it.
    if (!isLive(before.state) || (opts.startedAt !== undefined && before.state.startedAt !== opts.startedAt)) return before;
    const oom = oomKilled(`${this.engine.paths.cgroupParent}/${id}`);
    const rt = this.runtime(before.config.runtime);
    // Runtime deletion and unmount are idempotent; do them outside the DB lock.
    if (hasRuntimeState(rt, id)) releaseStopped(rt, id, `${this.engine.paths.cgroupParent}/${id}`);
    mark('exit: runtime released');
    try {
      // A caller waiting on a kept container's exit (stop, a foreground run) need not wait for the
      // unmount's sync too; a volatile (--rm) mount has none to wait for.
      if (opts.deferUnmount && !before.config.autoRemove) unmountRootfsLater(d.merged);
      else unmountRootfs(d.merged);
    } catch {
      /* reported by system check */
    }
    mark('exit: unmounted');
    // Addresses, port rules and the namespace of the run that exited (idempotent, never throws).
    teardownContainerNetwork(this.engine, id, opts.startedAt !== undefined ? { startedAt: opts.startedAt } : {});
    // Volumes with mount options (-o type=...): the last user unmounts (never throws).
    releaseVolumeMounts(this.engine, id);
    mark('exit: network released');
    let died: number | undefined;
    const after = this.store.updateState(id, (s) => {
      // Only the run the caller observed, and never a restart in progress whose owner is alive:
      // a stale decision made before the lock must not overwrite a newer state.
      if (opts.startedAt !== undefined && s.startedAt !== opts.startedAt) return s;
      if (!isLive(s)) return s;
      died = exitCode < 0 ? (s.stoppedByUser ? 137 : 255) : exitCode;
      return {
        ...s,
        status: 'exited',
        pid: 0,
        monitorPid: 0,
        exitCode: died,
        finishedAt: Math.max(finishedAt, s.startedAt),
        oomKilled: oom,
        health: s.health ? { ...s.health, status: 'unhealthy' } : undefined,
      };
    });
    if (died !== undefined) emitEvent(this.engine.paths.runroot, 'container', 'die', id, { name: after.config.name, image: after.config.image, exitCode: String(died) });
    return after;
  }

  async kill(idOrName: string, signal: string | number = 'SIGKILL'): Promise<ContainerRecord> {
    const rec = this.get(idOrName);
    if (rec.state.status !== 'running' && rec.state.status !== 'paused')
      throw conflict(`Cannot kill container: ${idOrName}: container ${rec.config.id} is not running`);
    this.store.updateState(rec.config.id, (s) => ({ ...s, stoppedByUser: true }));
    if (!this.signalInit(rec, signal)) await this.runtime(rec.config.runtime).kill(rec.config.id, signal, { all: false });
    return rec;
  }

  /**
   * Signals a running container's init directly, as `runc kill` would, without a runtime process:
   * only when its recorded pid is verifiably the container's (the process's cgroup names the
   * container). Every container has its own pid namespace, so SIGKILL to its init ends all of its
   * processes, which is what `runc kill --all` is for. False: the caller asks the runtime.
   */
  private signalInit(rec: ContainerRecord, signal: string | number): boolean {
    if (rec.state.status !== 'running' || !rec.state.pid) return false;
    try {
      const sig = signalNumber(signal);
      if (!fs.readFileSync(`/proc/${rec.state.pid}/cgroup`, 'utf8').includes(`/${rec.config.id}`)) return false;
      process.kill(rec.state.pid, sig);
      return true;
    } catch {
      return false;
    }
  }

  /** Sends the stop signal, waits `timeout` seconds, then SIGKILL; resolves once the exit is recorded. */
  async stop(idOrName: string, opts: { timeout?: number; signal?: string; removeAuto?: boolean } = {}): Promise<ContainerRecord> {
    let rec = this.get(idOrName);
    if (rec.state.status !== 'running' && rec.state.status !== 'paused') return rec;
    const id = rec.config.id;
    const rt = this.runtime(rec.config.runtime);
    const timeout = opts.timeout ?? rec.config.stopTimeout;
    this.store.updateState(id, (s) => ({ ...s, stoppedByUser: true }));
    if (rec.state.status === 'paused') await rt.resume(id).catch(() => undefined);
    const sig = opts.signal ?? rec.config.stopSignal;
    // This process records the exit: conmon's exit command need not start another berth.
    this.claimExit(id);
    try {
      let exited = false;
      mark('stop: begin');
      if (timeout > 0) {
        if (!this.signalInit(rec, sig)) await rt.kill(id, sig).catch(() => undefined);
        exited = await this.waitExitFile(id, timeout * 1000);
      }
      if (!exited) {
        if (!this.signalInit(rec, 'SIGKILL')) await rt.kill(id, 'SIGKILL', { all: true }).catch(() => undefined);
        mark('stop: killed');
        await this.waitExitFile(id, 10_000);
      }
      mark('stop: exit seen');
      rec = this.recordExit(id, { deferUnmount: true });
      mark('stop: exit recorded');
    } finally {
      this.releaseExit(id);
    }
    // What the skipped exit command would have done for `run -d --rm`.
    if (rec.config.autoRemove && opts.removeAuto !== false)
      await this.remove(id, { volumes: true }).catch((e: unknown) => {
        if (!isNotFound(e)) throw e;
      });
    return rec;
  }

  /** Waits until conmon wrote the exit file (or the monitor is gone). */
  async waitExitFile(id: string, timeoutMs: number): Promise<boolean> {
    const d = this.dirs(id);
    const deadline = Date.now() + timeoutMs;
    const watch = new ExitWatch(this.engine.paths.exits, id);
    try {
      for (;;) {
        if (fs.existsSync(d.exitFile)) return true;
        const rec = this.store.get(id);
        if (!rec || (rec.state.monitorPid && !pidAlive(rec.state.monitorPid))) return fs.existsSync(d.exitFile);
        if (Date.now() >= deadline) return false;
        await watch.next(50);
      }
    } finally {
      watch.close();
    }
  }

  async pause(idOrName: string): Promise<void> {
    const rec = this.get(idOrName);
    if (rec.state.status === 'paused') throw conflict(`Container ${rec.config.id} is already paused`);
    if (rec.state.status !== 'running') throw conflict(`Container ${rec.config.id} is not running`);
    await this.runtime(rec.config.runtime).pause(rec.config.id);
    this.store.updateState(rec.config.id, (s) => ({ ...s, status: 'paused' }));
  }

  async unpause(idOrName: string): Promise<void> {
    const rec = this.get(idOrName);
    if (rec.state.status !== 'paused') throw conflict(`Container ${rec.config.id} is not paused`);
    await this.runtime(rec.config.runtime).resume(rec.config.id);
    this.store.updateState(rec.config.id, (s) => ({ ...s, status: 'running' }));
  }

  /**
   * `docker update`: merges new resource limits and restart policy into the record and, when the
   * container runs, applies the merged limits through the runtime (`runc update`), by the same rules
   * as at create; fields left out are unchanged. Checks as dockerd does: a memory limit above an
   * explicit swap limit needs the swap updated too, --cpus and a CFS quota/period exclude each
   * other, and an auto-removed container keeps the restart policy "no".
   * @throws not_found, invalid_argument (bad values, or the runtime refused them: nothing is recorded).
   */
  async update(idOrName: string, o: { resources?: ContainerConfig['resources']; restartPolicy?: RestartPolicy }): Promise<ContainerRecord> {
    const rec = this.get(idOrName);
    const cur = rec.config.resources;
    const upd = o.resources ?? {};
    const fail = (msg: string) => invalidArgument(`Cannot update container ${rec.config.id}: ${msg}`);
    if (upd.memory !== undefined && upd.memory < 6 * 1024 * 1024) throw fail('Minimum memory limit allowed is 6MB');
    if (upd.memory !== undefined && upd.memorySwap === undefined && (cur.memorySwap ?? 0) > 0 && upd.memory > (cur.memorySwap ?? 0))
      throw fail('Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time');
    if (upd.nanoCpus !== undefined && (upd.cpuQuota !== undefined || upd.cpuPeriod !== undefined)) throw fail('Conflicting options: Nano CPUs and CPU Period/Quota cannot both be set');
    if (upd.nanoCpus !== undefined && (cur.cpuQuota || cur.cpuPeriod) && upd.cpuQuota === undefined && upd.cpuPeriod === undefined)
      throw fail('Conflicting options: Nano CPUs cannot be updated as CPU Period/Quota has already been set');
    if ((upd.cpuQuota !== undefined || upd.cpuPeriod !== undefined) && cur.nanoCpus && upd.nanoCpus === undefined)
      throw fail('Conflicting options: CPU Quota/Period cannot be updated as NanoCPUs has already been set');
    if (o.restartPolicy && o.restartPolicy.name !== 'no' && rec.config.autoRemove) throw fail('Restart policy cannot be updated because AutoRemove is enabled for the container');
    const r: ContainerConfig['resources'] = { ...cur, ...upd };
    if (r.pidsLimit !== undefined && r.pidsLimit <= 0) r.pidsLimit = -1;
    if (r.memory && r.memoryReservation && r.memory < r.memoryReservation) throw fail('Minimum memory limit can not be less than memory reservation limit, see usage');
    const merged = specResources(r);
    let oci: ReturnType<typeof cgroupResources>;
    try {
      oci = cgroupResources(merged, hostFacts(), { unlimitedPids: upd.pidsLimit !== undefined });
    } catch (e) {
      throw fail((e as Error).message);
    }
    // A restarting container waits for its next start (no runtime container): that start applies the values.
    if (rec.state.status === 'running' || rec.state.status === 'paused') {
      await this.runtime(rec.config.runtime)
        .update(rec.config.id, oci)
        .catch((e: unknown) => {
          throw invalidArgument(`Cannot update container ${rec.config.id}: ${(e as Error).message}`, { cause: e });
        });
    }
    return this.store.updateConfig(rec.config.id, (c) => ({ ...c, resources: r, ...(o.restartPolicy ? { restartPolicy: o.restartPolicy } : {}) }));
  }

  async restart(idOrName: string, opts: { timeout?: number } = {}): Promise<ContainerRecord> {
    await this.stop(idOrName, { ...opts, removeAuto: false });
    return this.start(idOrName);
  }

  /** Resolves with the exit code once the container is not running. */
  async wait(idOrName: string, condition: 'not-running' | 'next-exit' | 'removed' = 'not-running', opts: { signal?: AbortSignal } = {}): Promise<number> {
    const rec = this.get(idOrName);
    // The last exit code seen: --rm may delete the record before this poll observes the exit.
    let lastExit = rec.state.exitCode;
    const id = rec.config.id;
    if (condition === 'not-running' && rec.state.status !== 'running' && rec.state.status !== 'paused' && rec.state.status !== 'restarting') return rec.state.exitCode;
    const startedAt = rec.state.startedAt;
    let delay = 2;
    const watch = new ExitWatch(this.engine.paths.exits, id);
    try {
      for (;;) {
        if (opts.signal?.aborted) throw new BerthError('canceled', `wait for container ${idOrName} canceled`);
        const cur = this.store.get(id);
        if (!cur) {
          if (condition === 'removed' || condition === 'not-running') return lastExit;
          throw new BerthError('not_found', `No such container: ${idOrName}`);
        }
        const s = cur.state;
        const live = s.status === 'running' || s.status === 'paused' || s.status === 'restarting';
        if (live && fs.existsSync(this.dirs(id).exitFile)) {
          const r = this.recordExit(id, { startedAt: s.startedAt, deferUnmount: true });
          lastExit = r.state.exitCode;
          if (condition !== 'removed') return r.state.exitCode;
        } else if (!live && condition === 'not-running') return s.exitCode;
        else if (!live && condition === 'next-exit' && (s.startedAt !== startedAt || s.finishedAt >= startedAt) && s.status === 'exited') return s.exitCode;
        else if (live) this.reconcile(cur);
        if (!live && s.status === 'exited') lastExit = s.exitCode;
        await watch.next(delay);
        delay = Math.min(delay * 2, 100);
      }
    } finally {
      watch.close();
    }
  }

  // ---------------------------------------------------------------- remove

  /** Removes a container and its writable layer. A running one needs `force` (then it is killed). */
  async remove(idOrName: string, opts: { force?: boolean; volumes?: boolean } = {}): Promise<ContainerRecord> {
    let rec = this.get(idOrName);
    const id = rec.config.id;
    if (rec.state.status === 'running' || rec.state.status === 'paused' || rec.state.status === 'restarting') {
      if (!opts.force)
        throw conflict(
          `cannot remove container "/${rec.config.name}": container is ${rec.state.status} (${rec.state.status === 'paused' ? 'unpause and ' : ''}stop the container before removing or force remove)`,
        );
      rec = await this.stop(id, { timeout: 0, removeAuto: false });
    }
    const d = this.dirs(id);
    const rt = this.runtime(rec.config.runtime);
    if (hasRuntimeState(rt, id)) rt.deleteSync(id);
    // Usually unmounted when the exit was recorded: checking first keeps the FFI library unloaded.
    if (isMounted(d.merged)) {
      unmountRootfs(d.merged);
      if (isMounted(d.merged)) throw new BerthError('unavailable', `container ${rec.config.name}: its root file system is busy`);
    }
    this.store.updateState(id, (s) => ({ ...s, status: 'removing' }));
    mark('remove: marked');
    removeCgroup(`${this.engine.paths.cgroupParent}/${id}`);
    mark('remove: cgroup');
    const hooks = await removalHooks();
    for (const h of hooks) await h(this.engine, rec, { volumes: opts.volumes ?? false });
    mark('remove: hooks');
    // Rename first: a crash mid-delete leaves a trash dir, never a half-deleted live one.
    const trash = path.join(this.engine.paths.containers, `.trash-${id}`);
    try {
      fs.renameSync(d.persistent, trash);
    } catch {
      /* already gone */
    }
    this.store.delete(id);
    mark('remove: forgotten');
    emitEvent(this.engine.paths.runroot, 'container', 'destroy', id, { name: rec.config.name, image: rec.config.image });
    removeTree(trash);
    removeTree(d.run);
    fs.rmSync(d.exitFile, { force: true });
    this.releaseExit(id);
    removeTree(path.join(this.engine.paths.sockets, id));
    mark('remove: deleted');
    return rec;
  }

  /** The container's log file for `logs` (CLI and API); docker's error for --log-driver none, which keeps none. */
  logFile(rec: ContainerRecord): string {
    if (rec.config.log.driver === 'none') throw new BerthError('not_implemented', 'configured logging driver does not support reading');
    return this.dirs(rec.config.id).log;
  }

  /**
   * The monitor writing the container's log: its recorded pid while it runs, and after the exit the
   * conmon of conmon.pid while that is still alive (conmon drains the output after writing the exit
   * file); 0 when nothing writes. `logs -f` (CLI and API) follows until this process is gone.
   */
  logWriterPid(rec: ContainerRecord): number {
    const s = rec.state;
    if (s.status === 'running' || s.status === 'paused' || s.status === 'restarting') return s.monitorPid;
    if (s.status === 'created') return 0;
    try {
      const pid = Number(fs.readFileSync(this.dirs(rec.config.id).monitorPidFile, 'utf8').trim());
      return pid > 0 && pidAlive(pid) && fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'conmon' ? pid : 0;
    } catch {
      return 0;
    }
  }

  /** What the writable layer holds, for the `rm` notice (files and bytes, whiteouts excluded). */
  writableLayerUsage(id: string): { files: number; bytes: number } {
    const upper = this.dirs(id).upper;
    let files = 0;
    let bytes = 0;
    const stack = [upper];
    while (stack.length) {
      const dir = stack.pop() as string;
      let ents: fs.Dirent[];
      try {
        ents = fs.readdirSync(dir, { withFileTypes: true });
      } catch {
        continue;
      }
      for (const e of ents) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) stack.push(p);
        else if (e.isCharacterDevice()) continue;
        else {
          files++;
          try {
            bytes += fs.lstatSync(p).size;
          } catch {
            /* vanished */
          }
        }
      }
    }
    return { files, bytes };
  }

  /** Exit-command entry point: record the exit, then --rm or the restart policy. */
  async cleanup(id: string): Promise<void> {
    let rec: ContainerRecord;
    try {
      rec = this.store.resolve(id);
    } catch (e) {
      if (isNotFound(e)) return;
      throw e;
    }
    if (!fs.existsSync(this.dirs(rec.config.id).exitFile) && rec.state.pid && pidAlive(rec.state.pid)) return;
    let after: ContainerRecord;
    try {
      after = this.recordExit(rec.config.id, { startedAt: rec.state.startedAt });
    } catch (e) {
      if (isNotFound(e)) return; // removed meanwhile (rm -f raced with the exit)
      throw e;
    }
    if (after.config.autoRemove) {
      // An attached `run --rm` removes the container itself once it has read the exit code.
      if (after.state.removerPid && after.state.removerPid !== process.pid && pidAlive(after.state.removerPid)) return;
      await this.remove(after.config.id, { volumes: true }).catch((e: unknown) => {
        if (!isNotFound(e)) throw e;
      });
      return;
    }
    if (shouldRestart(after)) {
      const delay = Math.min(100 * 2 ** Math.min(after.state.restartCount, 10), 60_000);
      // Once per exit: only the exited run we looked at moves to restarting (a second exit command
      // for the same run finds it restarting or newer and leaves it).
      let claimed = false;
      this.store.updateState(after.config.id, (s) => {
        if (s.status !== 'exited' || s.startedAt !== after.state.startedAt) return s;
        claimed = true;
        return { ...s, status: 'restarting', restartCount: s.restartCount + 1, monitorPid: process.pid };
      });
      if (!claimed) return;
      await sleep(delay);
      const cur = this.store.get(after.config.id);
      if (!cur || cur.state.status !== 'restarting' || cur.state.stoppedByUser) return;
      await this.start(after.config.id);
    }
  }
}

/** Running, paused, or restarting with its restarter gone: a run whose exit has not been recorded. */
function isLive(s: ContainerState): boolean {
  return s.status === 'running' || s.status === 'paused' || (s.status === 'restarting' && !pidAlive(s.monitorPid));
}

function shouldRestart(rec: ContainerRecord): boolean {
  const p = rec.config.restartPolicy;
  const s = rec.state;
  switch (p.name) {
    case 'always':
      return !s.stoppedByUser;
    case 'unless-stopped':
      return !s.stoppedByUser;
    case 'on-failure':
      return !s.stoppedByUser && s.exitCode !== 0 && (p.maximumRetryCount === 0 || s.restartCount < p.maximumRetryCount);
    default:
      return false;
  }
}

type RemovalHook = (engine: Engine, rec: ContainerRecord, opts: { volumes?: boolean }) => Promise<void> | void;
async function removalHooks(): Promise<RemovalHook[]> {
  // Literal specifiers: the bundler must see every module it has to ship.
  const [volume, network] = await Promise.all([import('../volume/service.js'), import('../network/service.js')]);
  return [volume.onContainerRemove, network.onContainerRemove] as RemovalHook[];
}

/** Containers whose run lock this process holds (see ContainerService.lockRun). */
const runsLockedHere = new Set<string>();

/** A container's recorded limits as the spec builder takes them: --cpus becomes a CFS quota per 100 ms. */
function specResources(res: ContainerConfig['resources']): SpecInput['resources'] {
  return {
    memory: res.memory,
    memorySwap: res.memorySwap,
    memoryReservation: res.memoryReservation,
    cpuShares: res.cpuShares,
    cpuQuota: res.nanoCpus ? Math.round((res.nanoCpus / 1e9) * 100000) : res.cpuQuota,
    cpuPeriod: res.nanoCpus ? 100000 : res.cpuPeriod,
    cpusetCpus: res.cpusetCpus,
    cpusetMems: res.cpusetMems,
    pidsLimit: res.pidsLimit,
  };
}

/**
 * Forgets a container whose processes are gone. For runc this is what `runc delete` does for a
 * stopped container (remove its cgroups and its state directory), done in-process to save a process
 * spawn on every exit; any doubt (a live init, another runtime, an error) falls back to the CLI.
 */
function releaseStopped(rt: OciRuntime, id: string, cgroupsPath: string): void {
  if (path.basename(rt.binary) === 'runc') {
    try {
      // The pid only: state.json carries the whole config (seccomp rules included), tens of KB to parse.
      const text = fs.readFileSync(path.join(rt.root, id, 'state.json'), 'latin1');
      const m = /"init_process_pid":(\d+)/.exec(text);
      const pid = m ? Number(m[1]) : ((JSON.parse(text) as { init_process_pid?: number }).init_process_pid ?? 0);
      if (!pid || !pidAlive(pid)) {
        removeCgroup(cgroupsPath);
        removeTree(path.join(rt.root, id));
        return;
      }
    } catch {
      /* fall back to the runtime */
    }
  }
  rt.deleteSync(id, { force: true });
}

/** Whether the runtime still keeps state for `id` (runc and crun keep <root>/<id>): skips a process spawn when not. */
function hasRuntimeState(rt: OciRuntime, id: string): boolean {
  return fs.existsSync(path.join(rt.root, id));
}

export function mergeEnv(base: string[], over: string[]): string[] {
  const out = [...base];
  for (const e of over) {
    const k = e.includes('=') ? e.slice(0, e.indexOf('=')) : e;
    const i = out.findIndex((x) => x === k || x.startsWith(`${k}=`));
    if (i >= 0) out[i] = e;
    else out.push(e);
  }
  return out;
}


function readPid(file: string): number {
  try {
    return Number(fs.readFileSync(file, 'utf8').trim()) || 0;
  } catch {
    return 0;
  }
}

/**
 * Wakes a waiter when conmon writes a container's exit file (inotify on the exits directory), or
 * after a timeout: the caller re-checks either way, so a missed event only costs the timeout.
 */
class ExitWatch {
  private watcher: fs.FSWatcher | undefined;
  private wake: (() => void) | undefined;
  constructor(dir: string, id: string) {
    try {
      this.watcher = fs.watch(dir, (_e, f) => {
        if (f === id) this.wake?.();
      });
    } catch {
      this.watcher = undefined;
    }
  }
  next(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, this.watcher ? ms : Math.min(ms, 5));
      const self = this;
      function done() {
        clearTimeout(t);
        self.wake = undefined;
        resolve();
      }
      this.wake = done;
    });
  }
  close(): void {
    this.watcher?.close();
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}


function whichSync(bin: string): string | undefined {
  for (const dir of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':')) {
    const p = path.join(dir, bin);
    if (fs.existsSync(p)) return p;
  }
  return undefined;
}

function findBinary(name: string): string {
  const p = whichSync(name) ?? ['/usr/bin', '/usr/sbin', '/usr/libexec/podman'].map((d) => path.join(d, name)).find((x) => fs.existsSync(x));
  if (!p) throw new BerthError('failed_precondition', `${name} is not installed`, { hint: `apt-get install ${name}` });
  return p;
}

import { oomKilled, removeCgroup } from '../runtime/cgroups.js';
import { emitEvent } from '../engine/events.js';
export type { ContainerState };

/** Kept here for its importers; it lives in util/ so that network/ can start berth processes too. */
export { berthBin };
