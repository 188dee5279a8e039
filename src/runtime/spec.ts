/**
 * Builds the OCI runtime configuration (config.json) of a container with Docker's defaults.
 *
 * `buildSpec` is pure: everything it needs to know about the host (hard rlimits, the capabilities
 * Berth itself holds, whether swap accounting exists) comes in a `HostFacts` value. `hostFacts()`
 * reads them once per process from /proc and /sys; tests pass their own.
 */
import { readFileSync, existsSync } from 'node:fs';
import { posix as path } from 'node:path';
import { BerthError, invalidArgument } from '../errors.js';

// ---------------------------------------------------------------------------------------------
// OCI runtime-spec types (the subset Berth writes; field names as in the spec's config.md)

export interface OciSpec {
  ociVersion: string;
  process: OciProcess;
  root: { path: string; readonly?: boolean };
  hostname?: string;
  mounts: OciMount[];
  annotations?: Record<string, string>;
  linux: OciLinux;
}

export interface OciProcess {
  terminal: boolean;
  user: { uid: number; gid: number; umask?: number; additionalGids?: number[] };
  args: string[];
  env: string[];
  cwd: string;
  capabilities: OciCapabilities;
  rlimits?: OciRlimit[];
  noNewPrivileges?: boolean;
  oomScoreAdj?: number;
  /** The terminal's size, set by the runtime on the pty before the process starts. */
  consoleSize?: { height: number; width: number };
}

export interface OciCapabilities {
  bounding: string[];
  effective: string[];
  permitted: string[];
  inheritable: string[];
  ambient: string[];
}

/**
 * An rlimit value is a uint64 in the spec. RLIM_INFINITY (2^64-1) cannot be a JS number, so it is
 * the bigint `RLIM_INFINITY`; write the spec with `specToJson`, which prints it exactly.
 */
export type RlimitValue = number | bigint;
export interface OciRlimit {
  type: string;
  hard: RlimitValue;
  soft: RlimitValue;
}

export interface OciMount {
  destination: string;
  type?: string;
  source?: string;
  options?: string[];
}

export interface OciNamespace {
  type: 'pid' | 'network' | 'mount' | 'ipc' | 'uts' | 'user' | 'cgroup';
  path?: string;
}

export interface OciDeviceCgroup {
  allow: boolean;
  type?: 'a' | 'c' | 'b';
  major?: number;
  minor?: number;
  access?: string;
}

export interface OciDevice {
  path: string;
  type: 'c' | 'b' | 'u' | 'p';
  major: number;
  minor: number;
  fileMode?: number;
  uid?: number;
  gid?: number;
}

export interface OciResources {
  devices?: OciDeviceCgroup[];
  memory?: { limit?: number; swap?: number; reservation?: number };
  cpu?: { shares?: number; quota?: number; period?: number; cpus?: string; mems?: string };
  pids?: { limit: number };
}

export interface OciSeccompArg {
  index: number;
  value: number;
  valueTwo?: number;
  op: string;
}
export interface OciSeccompSyscall {
  names: string[];
  action: string;
  errnoRet?: number;
  args?: OciSeccompArg[];
}
export interface OciSeccomp {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures?: string[];
  flags?: string[];
  syscalls?: OciSeccompSyscall[];
}

export interface OciLinux {
  namespaces: OciNamespace[];
  resources: OciResources;
  cgroupsPath: string;
  devices?: OciDevice[];
  seccomp?: OciSeccomp;
  maskedPaths?: string[];
  readonlyPaths?: string[];
  sysctl?: Record<string, string>;
}

// ---------------------------------------------------------------------------------------------
// Input

/** A device to create in the container and allow in its device cgroup (`--device`), already resolved by the caller. */
export interface DeviceInput {
  /** Path inside the container. */
  path: string;
  type: 'c' | 'b';
  major: number;
  minor: number;
  fileMode?: number;
  uid?: number;
  gid?: number;
  /** cgroup access, a combination of r, w, m; default "rwm". */
  access?: string;
}

export interface SpecInput {
  id: string;
  /** Absolute path of the mounted root file system. */
  rootfs: string;
  readonlyRootfs?: boolean;
  args: string[];
  env: string[];
  cwd: string;
  terminal: boolean;
  /** With `terminal`: the pty's size from the process's first instruction (runc sets it before exec). */
  consoleSize?: { rows: number; cols: number };
  user: { uid: number; gid: number; additionalGids: number[]; umask?: number };
  hostname: string;
  capAdd?: string[];
  capDrop?: string[];
  privileged?: boolean;
  noNewPrivileges?: boolean;
  /**
   * The seccomp filter from seccomp.ts (`defaultSeccomp` or `loadSeccompProfile`), or 'unconfined'.
   * Required unless privileged: buildSpec refuses to silently run a container without a filter.
   */
  seccomp?: OciSeccomp | 'unconfined';
  /** Extra mounts (volumes, binds, /etc/hosts, ...); one on a default destination replaces the default. */
  mounts: OciMount[];
  /** `--tmpfs DEST:OPTIONS`: destination -> comma-separated mount options ("" for defaults). */
  tmpfs?: Record<string, string>;
  namespaces: {
    network?: { path?: string } | 'host' | 'new';
    /** `{ path }`: join that namespace (--pid container:NAME). */
    pid?: { path: string } | 'host' | 'new';
    /** `{ path }`: join that namespace (--ipc container:NAME). */
    ipc?: { path: string } | 'host' | 'new';
    uts?: 'host' | 'new';
    /** Default 'host' on cgroup v1 (as Docker), pass 'new' for v2. */
    cgroup?: 'host' | 'new';
  };
  resources: {
    /** Bytes. */
    memory?: number;
    /** Docker's --memory-swap: memory+swap in bytes, -1 unlimited; unset with memory set = 2 x memory. */
    memorySwap?: number;
    memoryReservation?: number;
    cpuShares?: number;
    cpuQuota?: number;
    cpuPeriod?: number;
    cpusetCpus?: string;
    cpusetMems?: string;
    /** > 0 limits; 0, -1 or unset = unlimited. */
    pidsLimit?: number;
  };
  /** From --ulimit; names like "nofile" or "RLIMIT_NOFILE", -1 = unlimited. See `clampRlimits`. */
  rlimits?: { type: string; hard: number; soft: number }[];
  /** e.g. "/berth/<id>" (cgroupfs manager). */
  cgroupsPath: string;
  annotations?: Record<string, string>;
  oomScoreAdj?: number;
  sysctls?: Record<string, string>;
  devices?: DeviceInput[];
  /** Raw device cgroup rules (`--device-cgroup-rule "c 42:* rmw"`). */
  deviceCgroupRules?: string[];
  /** Handled by the caller (args already start with the init); kept for the record. */
  init?: boolean;
}

/** What buildSpec must know about the host. */
export interface HostFacts {
  /** Hard limit of each RLIMIT_* Berth holds (what a container may ask for at most); 'unlimited' = RLIM_INFINITY. */
  rlimitHard: Record<string, number | 'unlimited'>;
  /** Capabilities in Berth's own bounding set: a container can never get more. */
  capBounding: string[];
  /** Whether the memory controller accounts swap (v1 memory.memsw.*); without it memory.swap must not be set. */
  swapAccounting: boolean;
}

// ---------------------------------------------------------------------------------------------
// Capabilities

/** Linux capabilities in bit order (bit n = ALL_CAPABILITIES[n]). */
export const ALL_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL',
  'CAP_SETGID', 'CAP_SETUID', 'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST', 'CAP_NET_ADMIN', 'CAP_NET_RAW', 'CAP_IPC_LOCK', 'CAP_IPC_OWNER', 'CAP_SYS_MODULE',
  'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT', 'CAP_SYS_PTRACE', 'CAP_SYS_PACCT', 'CAP_SYS_ADMIN', 'CAP_SYS_BOOT',
  'CAP_SYS_NICE', 'CAP_SYS_RESOURCE', 'CAP_SYS_TIME', 'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD', 'CAP_LEASE',
  'CAP_AUDIT_WRITE', 'CAP_AUDIT_CONTROL', 'CAP_SETFCAP', 'CAP_MAC_OVERRIDE', 'CAP_MAC_ADMIN', 'CAP_SYSLOG',
  'CAP_WAKE_ALARM', 'CAP_BLOCK_SUSPEND', 'CAP_AUDIT_READ', 'CAP_PERFMON', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE',
];

/** Docker's default capability set (docker 20.10+), in Docker's order. CapEff = 0xa80425fb. */
export const DEFAULT_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID',
  'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL',
  'CAP_AUDIT_WRITE',
];

/**
 * Normalizes a capability name as Docker accepts it ("net_raw", "CAP_NET_RAW", "Net_Raw") to "CAP_NET_RAW";
 * "ALL" stays "ALL". Fails with invalid_argument for an unknown name.
 */
export function normalizeCapability(name: string): string {
  const upper = name.trim().toUpperCase();
  if (upper === 'ALL') return 'ALL';
  const full = upper.startsWith('CAP_') ? upper : `CAP_${upper}`;
  if (!ALL_CAPABILITIES.includes(full)) {
    throw invalidArgument(`unknown capability: "${name}"`, {
      hint: 'use a Linux capability name such as NET_ADMIN or CAP_SYS_PTRACE (see capabilities(7))',
    });
  }
  return full;
}

/** Bit mask (as in /proc/PID/status CapEff) of a set of capability names. */
export function capabilityMask(caps: readonly string[]): bigint {
  let mask = 0n;
  for (const c of caps) {
    const bit = ALL_CAPABILITIES.indexOf(c);
    if (bit >= 0) mask |= 1n << BigInt(bit);
  }
  return mask;
}

/**
 * The capability set of a container, as Docker 20.10+ computes it: with `--cap-add ALL`, every capability
 * but the dropped ones; with `--cap-drop ALL`, exactly the added ones; otherwise the default set minus the
 * dropped ones plus the added ones (an add wins over a drop of the same name). Names are case-insensitive,
 * with or without CAP_.
 * Only capabilities Berth itself holds (host.capBounding) can be granted: ALL and privileged are quietly
 * limited to those (here CAP_SYS_RESOURCE is missing); an explicit add of one Berth lacks fails with
 * permission_denied, an unknown name with invalid_argument.
 */
export function resolveCapabilities(
  opts: { capAdd?: string[]; capDrop?: string[]; privileged?: boolean },
  host: Pick<HostFacts, 'capBounding'>,
): string[] {
  const available = ALL_CAPABILITIES.filter((c) => host.capBounding.includes(c));
  const add = (opts.capAdd ?? []).map(normalizeCapability);
  const drop = (opts.capDrop ?? []).map(normalizeCapability);
  if (opts.privileged) return available;
  for (const c of add) {
    if (c !== 'ALL' && !host.capBounding.includes(c)) {
      throw new BerthError('permission_denied', `capability ${c} cannot be granted: Berth itself does not hold it on this host`, {
        hint: `run Berth with ${c} in its bounding set, or remove --cap-add ${c.slice(4)}`,
      });
    }
  }
  let caps: string[];
  if (add.includes('ALL')) {
    caps = available.filter((c) => !drop.includes(c));
  } else if (drop.includes('ALL')) {
    caps = [];
    for (const c of add) if (!caps.includes(c)) caps.push(c);
  } else {
    caps = DEFAULT_CAPABILITIES.filter((c) => !drop.includes(c));
    for (const c of add) if (!caps.includes(c)) caps.push(c);
  }
  return caps;
}

// ---------------------------------------------------------------------------------------------
// Rlimits

/** RLIM_INFINITY, the uint64 2^64-1. */
export const RLIM_INFINITY = 18446744073709551615n;

const RLIMIT_NAMES = [
  'RLIMIT_AS', 'RLIMIT_CORE', 'RLIMIT_CPU', 'RLIMIT_DATA', 'RLIMIT_FSIZE', 'RLIMIT_LOCKS', 'RLIMIT_MEMLOCK',
  'RLIMIT_MSGQUEUE', 'RLIMIT_NICE', 'RLIMIT_NOFILE', 'RLIMIT_NPROC', 'RLIMIT_RSS', 'RLIMIT_RTPRIO',
  'RLIMIT_RTTIME', 'RLIMIT_SIGPENDING', 'RLIMIT_STACK',
];

/** Row titles of /proc/PID/limits. */
const PROC_LIMITS_ROWS: Record<string, string> = {
  'Max cpu time': 'RLIMIT_CPU',
  'Max file size': 'RLIMIT_FSIZE',
  'Max data size': 'RLIMIT_DATA',
  'Max stack size': 'RLIMIT_STACK',
  'Max core file size': 'RLIMIT_CORE',
  'Max resident set': 'RLIMIT_RSS',
  'Max processes': 'RLIMIT_NPROC',
  'Max open files': 'RLIMIT_NOFILE',
  'Max locked memory': 'RLIMIT_MEMLOCK',
  'Max address space': 'RLIMIT_AS',
  'Max file locks': 'RLIMIT_LOCKS',
  'Max pending signals': 'RLIMIT_SIGPENDING',
  'Max msgqueue size': 'RLIMIT_MSGQUEUE',
  'Max nice priority': 'RLIMIT_NICE',
  'Max realtime priority': 'RLIMIT_RTPRIO',
  'Max realtime timeout': 'RLIMIT_RTTIME',
};

/** Parses the text of /proc/PID/limits into hard limits by RLIMIT_* name. */
export function parseProcLimits(text: string): Record<string, number | 'unlimited'> {
  const out: Record<string, number | 'unlimited'> = {};
  for (const line of text.split('\n')) {
    for (const [title, name] of Object.entries(PROC_LIMITS_ROWS)) {
      if (!line.startsWith(title + ' ')) continue;
      const fields = line.slice(title.length).trim().split(/\s+/);
      const hard = fields[1];
      if (hard === undefined) continue;
      out[name] = hard === 'unlimited' ? 'unlimited' : Number(hard);
    }
  }
  return out;
}

/**
 * Validates `--ulimit` values and clamps them to what Berth itself may grant: without CAP_SYS_RESOURCE
 * nobody can raise a hard limit above their own, and runc would fail the start with
 * "setrlimit: operation not permitted". A value above Berth's hard limit becomes that hard limit (and a
 * warning says so). Fails with invalid_argument for an unknown name, a negative value other than -1,
 * or soft > hard.
 */
export function clampRlimits(
  rlimits: { type: string; hard: number; soft: number }[],
  host: Pick<HostFacts, 'rlimitHard'>,
): { rlimits: OciRlimit[]; warnings: string[] } {
  const warnings: string[] = [];
  const out: OciRlimit[] = [];
  const seen = new Set<string>();
  for (const r of rlimits) {
    const upper = r.type.trim().toUpperCase();
    const type = upper.startsWith('RLIMIT_') ? upper : `RLIMIT_${upper}`;
    if (!RLIMIT_NAMES.includes(type)) throw invalidArgument(`invalid ulimit type: ${r.type}`);
    if (seen.has(type)) throw invalidArgument(`ulimit ${r.type} given twice`);
    seen.add(type);
    const toValue = (v: number): RlimitValue => {
      if (v === -1) return RLIM_INFINITY;
      if (!Number.isSafeInteger(v) || v < 0) throw invalidArgument(`invalid ulimit value for ${r.type}: ${v}`);
      return v;
    };
    let hard = toValue(r.hard);
    let soft = toValue(r.soft);
    if (BigInt(soft) > BigInt(hard)) {
      throw invalidArgument(`ulimit soft limit must be less than or equal to hard limit: ${r.soft} > ${r.hard}`);
    }
    const max = host.rlimitHard[type];
    if (max !== undefined && max !== 'unlimited') {
      if (BigInt(hard) > BigInt(max)) {
        warnings.push(`ulimit ${type.slice(7).toLowerCase()} hard limit lowered from ${r.hard} to ${max}, the most Berth may grant`);
        hard = max;
      }
      if (BigInt(soft) > BigInt(max)) soft = max;
    }
    out.push({ type, hard, soft });
  }
  return { rlimits: out, warnings };
}

// ---------------------------------------------------------------------------------------------
// Host facts

let cachedHost: HostFacts | undefined;

/** Reads Berth's own hard rlimits, bounding capability set and swap accounting, once per process. */
export function hostFacts(): HostFacts {
  if (cachedHost) return cachedHost;
  const status = readFileSync('/proc/self/status', 'utf8');
  const bnd = /^CapBnd:\s*([0-9a-f]+)/m.exec(status)?.[1] ?? '0';
  const mask = BigInt(`0x${bnd}`);
  const capBounding = ALL_CAPABILITIES.filter((_, i) => (mask >> BigInt(i)) & 1n);
  // v1 accounts swap only with swapaccount=1 (memory.memsw.* present); v2 always has memory.swap.max.
  const swapAccounting =
    existsSync('/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes') || existsSync('/sys/fs/cgroup/cgroup.controllers');
  cachedHost = { rlimitHard: parseProcLimits(readFileSync('/proc/self/limits', 'utf8')), capBounding, swapAccounting };
  return cachedHost;
}

// ---------------------------------------------------------------------------------------------
// Docker's defaults

/** moby's default masked paths. */
export const DEFAULT_MASKED_PATHS: readonly string[] = [
  '/proc/asound', '/proc/acpi', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list',
  '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware', '/sys/devices/virtual/powercap',
];

/** moby's default read-only paths. */
export const DEFAULT_READONLY_PATHS: readonly string[] = [
  '/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger',
];

function defaultMounts(opts: { privileged: boolean; ipcHost: boolean }): OciMount[] {
  const sysRo = opts.privileged ? [] : ['ro'];
  const mounts: OciMount[] = [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    {
      destination: '/dev/pts',
      type: 'devpts',
      source: 'devpts',
      options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
    },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', ...sysRo] },
    { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', ...sysRo] },
  ];
  // An mqueue file system shows the queues of the IPC namespace that mounts it: with --ipc host the
  // host's, also where the host has no /dev/mqueue mounted.
  mounts.push({ destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] });
  if (opts.ipcHost) {
    // Docker shares the host's /dev/shm with --ipc host.
    mounts.push({ destination: '/dev/shm', type: 'bind', source: '/dev/shm', options: ['rbind', 'nosuid', 'noexec', 'nodev'] });
  } else {
    mounts.push({ destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=67108864'] });
  }
  return mounts;
}

/** Docker's default device cgroup rules: deny all, mknod of anything, and the standard character devices. */
export const DEFAULT_DEVICE_RULES: readonly OciDeviceCgroup[] = [
  { allow: false, access: 'rwm' },
  { allow: true, type: 'c', access: 'm' },
  { allow: true, type: 'b', access: 'm' },
  { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' }, // null
  { allow: true, type: 'c', major: 1, minor: 5, access: 'rwm' }, // zero
  { allow: true, type: 'c', major: 1, minor: 7, access: 'rwm' }, // full
  { allow: true, type: 'c', major: 1, minor: 8, access: 'rwm' }, // random
  { allow: true, type: 'c', major: 1, minor: 9, access: 'rwm' }, // urandom
  { allow: true, type: 'c', major: 5, minor: 0, access: 'rwm' }, // tty
  { allow: true, type: 'c', major: 5, minor: 1, access: 'rwm' }, // console
  { allow: true, type: 'c', major: 5, minor: 2, access: 'rwm' }, // ptmx
  { allow: true, type: 'c', major: 136, access: 'rwm' }, // pts/*
];

/** Parses a `--device-cgroup-rule` ("c 42:* rmw", "a *:* rwm"). */
export function parseDeviceCgroupRule(rule: string): OciDeviceCgroup {
  const m = /^([acb]) (\d+|\*):(\d+|\*) ([rwm]{1,3})$/.exec(rule.trim());
  if (!m) throw invalidArgument(`invalid device cgroup rule: "${rule}"`, { hint: 'use the form "c 1:3 rwm" (type major:minor access)' });
  const out: OciDeviceCgroup = { allow: true, type: m[1] as 'a' | 'c' | 'b', access: m[4] };
  if (m[2] !== '*') out.major = Number(m[2]);
  if (m[3] !== '*') out.minor = Number(m[3]);
  return out;
}

const IPC_SYSCTLS = new Set([
  'kernel.msgmax', 'kernel.msgmnb', 'kernel.msgmni', 'kernel.sem', 'kernel.shmall', 'kernel.shmmax', 'kernel.shmmni',
  'kernel.shm_rmid_forced',
]);

/** Docker accepts only namespaced sysctls, and not for a namespace shared with the host. */
function validateSysctls(sysctls: Record<string, string>, netHost: boolean, ipcHost: boolean, utsHost: boolean): void {
  for (const key of Object.keys(sysctls)) {
    if (IPC_SYSCTLS.has(key) || key.startsWith('fs.mqueue.')) {
      if (ipcHost) throw invalidArgument(`sysctl "${key}" is not allowed in host IPC namespace`);
    } else if (key.startsWith('net.')) {
      if (netHost) throw invalidArgument(`sysctl "${key}" is not allowed in host network namespace`);
    } else if (key === 'kernel.domainname' || key === 'kernel.hostname') {
      if (utsHost) throw invalidArgument(`sysctl "${key}" is not allowed in host UTS namespace`);
    } else {
      throw invalidArgument(`sysctl "${key}" is not whitelisted`, {
        hint: 'only namespaced sysctls (net.*, kernel.shm*, kernel.msg*, kernel.sem, fs.mqueue.*) can be set per container',
      });
    }
  }
}

/** Docker's --tmpfs options: noexec,nosuid,nodev unless the user says exec, suid or dev. */
function tmpfsMount(destination: string, options: string): OciMount {
  const user = options.split(',').map((o) => o.trim()).filter((o) => o !== '');
  const defaults = ['noexec', 'nosuid', 'nodev'].filter((d) => !user.includes(d.slice(2)) && !user.includes(d));
  return { destination, type: 'tmpfs', source: 'tmpfs', options: [...defaults, ...user] };
}

function cleanDestination(dest: string): string {
  if (!dest.startsWith('/')) throw invalidArgument(`mount destination must be an absolute path: "${dest}"`);
  return path.normalize(dest).replace(/(.)\/+$/, '$1');
}

// ---------------------------------------------------------------------------------------------


/**
 * The cgroup limits (memory, cpu, pids) of `r` as OCI resources: docker's rules (6 MB minimum
 * memory, swap twice the memory unless given, -1 unlimited). `buildSpec` and `docker update` of a
 * running container (`runc update`) use the same rules, so an updated container is limited as if it
 * had been created with the new values. `unlimitedPids`: write an explicit unlimited pids value
 * (update lifts an earlier limit; a new container simply has none).
 */
export function cgroupResources(r: SpecInput['resources'], host: Pick<HostFacts, 'swapAccounting'>, opts: { unlimitedPids?: boolean } = {}): Omit<OciResources, 'devices'> {
  const resources: Omit<OciResources, 'devices'> = {};
  if (r.memory !== undefined || r.memorySwap !== undefined || r.memoryReservation !== undefined) {
    const mem: NonNullable<OciResources['memory']> = {};
    if (r.memory !== undefined && r.memory > 0) {
      if (r.memory < 6 * 1024 * 1024) throw invalidArgument('minimum memory limit allowed is 6MB');
      mem.limit = r.memory;
    }
    if (host.swapAccounting && mem.limit !== undefined) {
      if (r.memorySwap === undefined || r.memorySwap === 0) mem.swap = mem.limit * 2;
      else if (r.memorySwap === -1) mem.swap = -1;
      else if (r.memorySwap < mem.limit) throw invalidArgument('minimum memoryswap limit should be larger than memory limit, see usage');
      else mem.swap = r.memorySwap;
    } else if (r.memorySwap !== undefined && r.memorySwap > 0 && mem.limit === undefined) {
      throw invalidArgument('you should always set the memory limit when using memoryswap limit, see usage');
    }
    if (r.memoryReservation !== undefined && r.memoryReservation > 0) mem.reservation = r.memoryReservation;
    if (Object.keys(mem).length > 0) resources.memory = mem;
  }
  const cpu: NonNullable<OciResources['cpu']> = {};
  if (r.cpuShares !== undefined && r.cpuShares > 0) cpu.shares = r.cpuShares;
  if (r.cpuQuota !== undefined && r.cpuQuota !== 0) cpu.quota = r.cpuQuota;
  if (r.cpuPeriod !== undefined && r.cpuPeriod > 0) cpu.period = r.cpuPeriod;
  if (r.cpusetCpus) cpu.cpus = r.cpusetCpus;
  if (r.cpusetMems) cpu.mems = r.cpusetMems;
  if (Object.keys(cpu).length > 0) resources.cpu = cpu;
  if (r.pidsLimit !== undefined && r.pidsLimit > 0) resources.pids = { limit: r.pidsLimit };
  else if (opts.unlimitedPids) resources.pids = { limit: -1 };
  return resources;
}

/**
 * The OCI config.json of a container, with Docker's defaults for everything the input leaves out.
 * Pure: no I/O (the default `host` reads /proc once per process; pass your own to avoid it).
 * Fails with invalid_argument for unknown capabilities, bad ulimits, sysctls or mount destinations, a
 * missing seccomp filter on an unprivileged container, or a hostname with a shared UTS namespace;
 * with permission_denied for a capability Berth itself lacks.
 */
export function buildSpec(input: SpecInput, host: HostFacts = hostFacts()): OciSpec {
  if (!path.isAbsolute(input.rootfs)) throw invalidArgument(`rootfs must be an absolute path: "${input.rootfs}"`);
  if (input.args.length === 0) throw invalidArgument('no command specified', { hint: 'give a command or use an image with an entrypoint or cmd' });
  const privileged = input.privileged === true;
  const ns = input.namespaces;
  const netHost = ns.network === 'host';
  const ipcHost = ns.ipc === 'host';
  const utsHost = ns.uts === 'host';

  const caps = resolveCapabilities(input, host);
  const process: OciProcess = {
    terminal: input.terminal,
    user: {
      uid: input.user.uid,
      gid: input.user.gid,
      ...(input.user.umask !== undefined ? { umask: input.user.umask } : {}),
      ...(input.user.additionalGids.length > 0 ? { additionalGids: [...input.user.additionalGids] } : {}),
    },
    args: [...input.args],
    env: [...input.env],
    cwd: input.cwd === '' ? '/' : input.cwd,
    capabilities: { bounding: caps, effective: [...caps], permitted: [...caps], inheritable: [], ambient: [] },
  };
  if (input.terminal && input.consoleSize) process.consoleSize = { height: input.consoleSize.rows, width: input.consoleSize.cols };
  if (input.noNewPrivileges) process.noNewPrivileges = true;
  if (input.oomScoreAdj !== undefined) process.oomScoreAdj = input.oomScoreAdj;
  if (input.rlimits && input.rlimits.length > 0) process.rlimits = clampRlimits(input.rlimits, host).rlimits;

  // Mounts: defaults, then tmpfs and user mounts sorted by depth so a parent is mounted before its children;
  // a user mount on a default destination takes the default's place.
  const extra: OciMount[] = [];
  for (const [dest, opts] of Object.entries(input.tmpfs ?? {})) extra.push(tmpfsMount(cleanDestination(dest), opts));
  for (const m of input.mounts) extra.push({ ...m, destination: cleanDestination(m.destination) });
  const extraDests = new Set<string>();
  for (const m of extra) {
    if (extraDests.has(m.destination)) throw invalidArgument(`duplicate mount point: ${m.destination}`);
    extraDests.add(m.destination);
  }
  const depth = (p: string) => (p === '/' ? 0 : p.split('/').length - 1);
  const sortedExtra = extra.map((m, i) => ({ m, i })).sort((a, b) => depth(a.m.destination) - depth(b.m.destination) || a.i - b.i).map((x) => x.m);
  const mounts = [...defaultMounts({ privileged, ipcHost }).filter((m) => !extraDests.has(m.destination)), ...sortedExtra];

  const namespaces: OciNamespace[] = [{ type: 'mount' }];
  if (typeof ns.pid === 'object') namespaces.push({ type: 'pid', path: ns.pid.path });
  else if (ns.pid !== 'host') namespaces.push({ type: 'pid' });
  if (ns.network === undefined || ns.network === 'new') namespaces.push({ type: 'network' });
  else if (ns.network !== 'host') namespaces.push(ns.network.path ? { type: 'network', path: ns.network.path } : { type: 'network' });
  if (typeof ns.ipc === 'object') namespaces.push({ type: 'ipc', path: ns.ipc.path });
  else if (!ipcHost) namespaces.push({ type: 'ipc' });
  if (!utsHost) namespaces.push({ type: 'uts' });
  if (ns.cgroup === 'new') namespaces.push({ type: 'cgroup' });

  const resources: OciResources = {};
  const r = input.resources;
  if (privileged) {
    resources.devices = [{ allow: true, access: 'rwm' }];
  } else {
    resources.devices = DEFAULT_DEVICE_RULES.map((d) => ({ ...d }));
    for (const d of input.devices ?? []) resources.devices.push({ allow: true, type: d.type, major: d.major, minor: d.minor, access: d.access ?? 'rwm' });
    for (const rule of input.deviceCgroupRules ?? []) resources.devices.push(parseDeviceCgroupRule(rule));
  }
  Object.assign(resources, cgroupResources(r, host));

  const linux: OciLinux = { namespaces, resources, cgroupsPath: input.cgroupsPath };
  const devices = (input.devices ?? []).map((d): OciDevice => {
    const dev: OciDevice = { path: d.path, type: d.type, major: d.major, minor: d.minor };
    if (d.fileMode !== undefined) dev.fileMode = d.fileMode;
    if (d.uid !== undefined) dev.uid = d.uid;
    if (d.gid !== undefined) dev.gid = d.gid;
    return dev;
  });
  if (devices.length > 0) linux.devices = devices;
  if (!privileged) {
    if (input.seccomp === undefined) {
      throw invalidArgument('no seccomp profile given', { hint: 'pass defaultSeccomp(...) from runtime/seccomp.ts, or "unconfined"' });
    }
    if (input.seccomp !== 'unconfined') linux.seccomp = input.seccomp;
    linux.maskedPaths = [...DEFAULT_MASKED_PATHS];
    linux.readonlyPaths = [...DEFAULT_READONLY_PATHS];
  }
  if (input.sysctls && Object.keys(input.sysctls).length > 0) {
    validateSysctls(input.sysctls, netHost, ipcHost, utsHost);
    linux.sysctl = { ...input.sysctls };
  }

  const spec: OciSpec = {
    ociVersion: '1.0.2',
    process,
    root: { path: input.rootfs, ...(input.readonlyRootfs ? { readonly: true } : {}) },
    mounts,
    linux,
  };
  // runc cannot set a hostname without its own UTS namespace.
  if (!utsHost && input.hostname !== '') spec.hostname = input.hostname;
  if (input.annotations && Object.keys(input.annotations).length > 0) spec.annotations = { ...input.annotations };
  return spec;
}

/**
 * Serializes a spec for config.json. Unlike JSON.stringify it writes RLIM_INFINITY (a bigint) as the exact
 * uint64 18446744073709551615 that the runtime expects.
 */
export function specToJson(spec: OciSpec): string {
  const marker = '__berth_u64__';
  const text = JSON.stringify(spec, (_k, v: unknown) => (typeof v === 'bigint' ? `${marker}${v.toString()}` : v));
  return text.replace(new RegExp(`"${marker}(\\d+)"`, 'g'), '$1');
}
