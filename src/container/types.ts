/** The engine's own container records (Docker's vocabulary lives in compat/ and api/). */
import type { Digest } from '../content/digest.js';
import type { HealthConfig } from '../image/oci.js';

export type ContainerStatus = 'created' | 'running' | 'paused' | 'restarting' | 'exited' | 'removing' | 'dead';

export interface RestartPolicy {
  name: 'no' | 'always' | 'on-failure' | 'unless-stopped';
  maximumRetryCount: number;
}

export interface MountSpec {
  type: 'bind' | 'volume' | 'tmpfs';
  source: string;
  destination: string;
  readonly: boolean;
  options?: string[];
  /** volume name for type volume */
  name?: string;
  anonymous?: boolean;
  /**
   * `--mount ...,volume-opt=K=V,volume-label=K=V` (API: VolumeOptions.DriverConfig.Options, Labels):
   * what the volume is created with when it does not exist yet; an existing volume keeps its own
   * (docker ignores them too).
   */
  volumeOptions?: Record<string, string>;
  volumeLabels?: Record<string, string>;
}

export interface PortBinding {
  hostIp: string;
  hostPort: number;
  containerPort: number;
  protocol: 'tcp' | 'udp';
}

export interface DeviceMapping {
  pathOnHost: string;
  pathInContainer: string;
  /** cgroup access: a combination of r, w, m. */
  permissions: string;
}

export interface ContainerConfig {
  id: string;
  name: string;
  image: string;
  imageId: Digest;
  created: number;
  /** Entrypoint and Cmd as resolved at create time. */
  entrypoint: string[];
  cmd: string[];
  env: string[];
  workingDir: string;
  user: string;
  hostname: string;
  domainname: string;
  tty: boolean;
  /** The TTY's size [rows, cols] from the process's first instruction (docker's HostConfig.ConsoleSize); later sizes come by resize. */
  consoleSize?: { rows: number; cols: number };
  openStdin: boolean;
  stdinOnce: boolean;
  labels: Record<string, string>;
  stopSignal: string;
  stopTimeout: number;
  init: boolean;
  readOnly: boolean;
  autoRemove: boolean;
  restartPolicy: RestartPolicy;
  healthcheck?: HealthConfig;
  /** driver 'none' (--log-driver none): nothing is kept, `logs` has nothing to read. */
  log: { maxSize: number; maxFile: number; driver?: 'none' };
  runtime: string;
  /** --device: a host device node made in the container and allowed in its device cgroup. */
  devices?: DeviceMapping[];
  /** --device-cgroup-rule: "c|b|a MAJOR|*:MINOR|* [rwm]". */
  deviceCgroupRules?: string[];
  /** --pid: '' (its own namespace), 'host' or 'container:<name|id>'. */
  pidMode?: string;
  /** --ipc: '' / 'private' / 'shareable' (its own namespace) or 'host'. */
  ipcMode?: string;
  /** --uts: '' (its own namespace) or 'host'. */
  utsMode?: string;
  /** --oom-score-adj, -1000..1000. */
  oomScoreAdj?: number;
  resources: {
    memory?: number;
    memorySwap?: number;
    /** --memory-reservation: the soft limit, bytes. */
    memoryReservation?: number;
    nanoCpus?: number;
    cpuShares?: number;
    cpuQuota?: number;
    cpuPeriod?: number;
    cpusetCpus?: string;
    cpusetMems?: string;
    /** > 0 limits; -1 (or 0 from the API) is unlimited. */
    pidsLimit?: number;
  };
  ulimits: { name: string; soft: number; hard: number }[];
  security: { capAdd: string[]; capDrop: string[]; privileged: boolean; noNewPrivileges: boolean; seccomp?: string; };
  network: {
    mode: string;
    aliases: string[];
    ip?: string;
    /** --ip6: fixed IPv6 address on the primary network (which must have an IPv6 subnet). */
    ip6?: string;
    /** Fixed addresses asked for by `network connect --ip/--ip6` on networks joined later, by network name. */
    staticAddresses?: Record<string, { ip?: string; ip6?: string }>;
    dns: string[]; dnsSearch: string[]; dnsOptions: string[]; extraHosts: string[];
    /** --link: "<container id>:<alias>"; the linked container's address goes into /etc/hosts at start. */
    links?: string[] };
  ports: PortBinding[];
  exposedPorts: string[];
  mounts: MountSpec[];
  tmpfs: Record<string, string>;
  volumesFrom: string[];
  shmSize?: number;
  sysctls: Record<string, string>;
}

export interface HealthState {
  status: 'starting' | 'healthy' | 'unhealthy';
  failingStreak: number;
  log: { start: number; end: number; exitCode: number; output: string }[];
}

export interface ContainerState {
  status: ContainerStatus;
  pid: number;
  monitorPid: number;
  exitCode: number;
  startedAt: number;
  finishedAt: number;
  oomKilled: boolean;
  error: string;
  restartCount: number;
  /** Set by stop/kill from the user: restart policies (except always) do not apply. */
  stoppedByUser: boolean;
  /**
   * pid of an attached `run --rm` client that will remove the container itself after the exit;
   * the exit command leaves removal to it while that process lives.
   */
  removerPid?: number;
  health?: HealthState;
  /** Where the root file system is mounted while running. */
  rootfs?: string;
  network?: Record<string, unknown>;
}

export interface ContainerRecord {
  config: ContainerConfig;
  state: ContainerState;
}

export function initialState(): ContainerState {
  return {
    status: 'created',
    pid: 0,
    monitorPid: 0,
    exitCode: 0,
    startedAt: 0,
    finishedAt: 0,
    oomKilled: false,
    error: '',
    restartCount: 0,
    stoppedByUser: false,
  };
}
