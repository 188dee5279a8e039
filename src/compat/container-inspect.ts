/** Docker's `container inspect` and `ps` shapes from the engine's records (shared by CLI and API). */
import path from 'node:path';
import type { ContainerService } from '../container/service.js';
import type { ContainerRecord } from '../container/types.js';
import { driverlessEndpointId, driverlessNetworkId } from '../network/store.js';
import { rfc3339 } from './image-inspect.js';

const ZERO_TIME = '0001-01-01T00:00:00Z';

export function dockerStateString(s: ContainerRecord['state']): string {
  return s.status;
}

export function portMap(rec: ContainerRecord): Record<string, { HostIp: string; HostPort: string }[] | null> {
  const m: Record<string, { HostIp: string; HostPort: string }[] | null> = {};
  for (const e of rec.config.exposedPorts) m[e] = null;
  const actual = (rec.state.network?.ports as { hostIp: string; hostPort: number; containerPort: number; protocol: string }[] | undefined) ?? [];
  if (rec.state.status === 'running')
    for (const p of actual) {
      const k = `${p.containerPort}/${p.protocol}`;
      m[k] = [...(m[k] ?? []), { HostIp: p.hostIp || '0.0.0.0', HostPort: String(p.hostPort) }];
    }
  return m;
}

/** A link as docker shows it: `/<linked container's name>:/<this container's name>/<alias>`. */
function linkForInspect(svc: ContainerService, link: string, self: string): string {
  const [id, alias] = link.split(':') as [string, string];
  const target = svc.store.get(id)?.config.name ?? id.slice(0, 12);
  return `/${target}:/${self}/${alias}`;
}

export function dockerContainerInspect(svc: ContainerService, rec: ContainerRecord, opts: { size?: boolean } = {}): Record<string, unknown> {
  const c = rec.config;
  const s = rec.state;
  const d = svc.dirs(c.id);
  const img = svc.engine.images.get(c.imageId);
  const lower = img ? svc.engine.layers.lowerChain(img.topLayer).map((l) => svc.engine.layers.layerDir(l.chainId)) : [];
  const doc: Record<string, unknown> = {
    Id: c.id,
    Created: new Date(c.created).toISOString(),
    Path: [...c.entrypoint, ...c.cmd][0] ?? '',
    Args: [...c.entrypoint, ...c.cmd].slice(1),
    State: {
      Status: s.status,
      Running: s.status === 'running' || s.status === 'paused',
      Paused: s.status === 'paused',
      Restarting: s.status === 'restarting',
      OOMKilled: s.oomKilled,
      Dead: s.status === 'dead',
      Pid: s.pid,
      ExitCode: s.exitCode,
      Error: s.error,
      StartedAt: s.startedAt ? rfc3339(s.startedAt) : ZERO_TIME,
      FinishedAt: s.finishedAt ? rfc3339(s.finishedAt) : ZERO_TIME,
      ...(s.health
        ? {
            Health: {
              Status: s.health.status,
              FailingStreak: s.health.failingStreak,
              Log: s.health.log.map((l) => ({ Start: rfc3339(l.start), End: rfc3339(l.end), ExitCode: l.exitCode, Output: l.output })),
            },
          }
        : {}),
    },
    Image: c.imageId,
    ResolvConfPath: d.resolv,
    HostnamePath: d.hostname,
    HostsPath: d.hosts,
    LogPath: d.log,
    Name: `/${c.name}`,
    RestartCount: s.restartCount,
    Driver: 'overlay2',
    Platform: 'linux',
    MountLabel: '',
    ProcessLabel: '',
    AppArmorProfile: '',
    ExecIDs: null,
    HostConfig: {
      Binds: c.mounts.filter((m) => m.type === 'bind' || (m.type === 'volume' && !m.anonymous)).map((m) => `${m.name ?? m.source}:${m.destination}${m.readonly ? ':ro' : ''}`),
      ContainerIDFile: '',
      ConsoleSize: c.consoleSize ? [c.consoleSize.rows, c.consoleSize.cols] : [0, 0],
      LogConfig: c.log.driver === 'none' ? { Type: 'none', Config: {} } : { Type: 'k8s-file', Config: { 'max-size': String(c.log.maxSize), 'max-file': String(c.log.maxFile) } },
      NetworkMode: c.network.mode,
      PortBindings: Object.fromEntries(
        c.ports.map((p) => [`${p.containerPort}/${p.protocol}`, [{ HostIp: p.hostIp, HostPort: p.hostPort ? String(p.hostPort) : '' }]]),
      ),
      RestartPolicy: { Name: c.restartPolicy.name, MaximumRetryCount: c.restartPolicy.maximumRetryCount },
      AutoRemove: c.autoRemove,
      VolumesFrom: c.volumesFrom.length ? c.volumesFrom : null,
      CapAdd: c.security.capAdd.length ? c.security.capAdd : null,
      CapDrop: c.security.capDrop.length ? c.security.capDrop : null,
      Dns: c.network.dns,
      DnsOptions: c.network.dnsOptions,
      DnsSearch: c.network.dnsSearch,
      ExtraHosts: c.network.extraHosts.length ? c.network.extraHosts : null,
      // docker's form: /<linked name>:/<this name>/<alias>.
      Links: c.network.links?.length ? c.network.links.map((l) => linkForInspect(svc, l, c.name)) : null,
      Privileged: c.security.privileged,
      PublishAllPorts: false,
      ReadonlyRootfs: c.readOnly,
      SecurityOpt: c.security.noNewPrivileges ? ['no-new-privileges'] : null,
      Tmpfs: Object.keys(c.tmpfs).length ? c.tmpfs : undefined,
      ShmSize: c.shmSize ?? 67108864,
      Runtime: c.runtime,
      Memory: c.resources.memory ?? 0,
      MemorySwap: c.resources.memorySwap ?? 0,
      MemoryReservation: c.resources.memoryReservation ?? 0,
      NanoCpus: c.resources.nanoCpus ?? 0,
      CpuShares: c.resources.cpuShares ?? 0,
      CpuPeriod: c.resources.cpuPeriod ?? 0,
      CpuQuota: c.resources.cpuQuota ?? 0,
      CpusetCpus: c.resources.cpusetCpus ?? '',
      CpusetMems: c.resources.cpusetMems ?? '',
      PidsLimit: c.resources.pidsLimit ?? null,
      Devices: (c.devices ?? []).map((d) => ({ PathOnHost: d.pathOnHost, PathInContainer: d.pathInContainer, CgroupPermissions: d.permissions })),
      DeviceCgroupRules: c.deviceCgroupRules ?? null,
      PidMode: c.pidMode ?? '',
      IpcMode: c.ipcMode || 'private',
      UTSMode: c.utsMode ?? '',
      OomScoreAdj: c.oomScoreAdj ?? 0,
      Ulimits: c.ulimits.map((u) => ({ Name: u.name, Soft: u.soft, Hard: u.hard })),
      Init: c.init,
      Sysctls: Object.keys(c.sysctls).length ? c.sysctls : undefined,
      Mounts: undefined,
    },
    GraphDriver: {
      Name: 'overlay2',
      Data: { LowerDir: lower.join(':'), UpperDir: d.upper, WorkDir: d.work, MergedDir: d.merged },
    },
    Mounts: c.mounts.map((m) => ({
      Type: m.type,
      Name: m.type === 'volume' ? (m.name ?? m.source) : undefined,
      Source: m.source,
      Destination: m.destination,
      Driver: m.type === 'volume' ? 'local' : undefined,
      Mode: m.readonly ? 'ro' : '',
      RW: !m.readonly,
      Propagation: m.type === 'bind' ? 'rprivate' : '',
    })),
    Config: {
      Hostname: c.hostname,
      Domainname: c.domainname,
      User: c.user,
      AttachStdin: c.openStdin,
      AttachStdout: true,
      AttachStderr: true,
      ExposedPorts: c.exposedPorts.length ? Object.fromEntries(c.exposedPorts.map((p) => [p, {}])) : undefined,
      Tty: c.tty,
      OpenStdin: c.openStdin,
      StdinOnce: c.stdinOnce,
      Env: c.env,
      Cmd: c.cmd.length ? c.cmd : null,
      Healthcheck: c.healthcheck,
      Image: c.image,
      Volumes: null,
      WorkingDir: c.workingDir,
      Entrypoint: c.entrypoint.length ? c.entrypoint : null,
      OnBuild: null,
      Labels: c.labels,
      StopSignal: c.stopSignal,
      StopTimeout: c.stopTimeout,
    },
    NetworkSettings: {
      Bridge: '',
      SandboxID: '',
      HairpinMode: false,
      Ports: portMap(rec),
      SandboxKey: s.network?.netns ?? '',
      IPAddress: (s.network?.ipAddress as string | undefined) ?? '',
      Gateway: (s.network?.gateway as string | undefined) ?? '',
      MacAddress: (s.network?.macAddress as string | undefined) ?? '',
      GlobalIPv6Address: (s.network?.globalIPv6Address as string | undefined) ?? '',
      GlobalIPv6PrefixLen: (s.network?.globalIPv6PrefixLen as number | undefined) ?? 0,
      IPv6Gateway: (s.network?.ipv6Gateway as string | undefined) ?? '',
      Networks: (s.network?.networks as Record<string, unknown> | undefined) ?? driverlessEndpoint(rec, svc.engine.paths.root),
    },
  };
  if (opts.size) {
    const u = svc.writableLayerUsage(c.id);
    doc.SizeRw = u.bytes;
    doc.SizeRootFs = u.bytes + (img?.size ?? 0);
  }
  void path;
  return doc;
}

/** A host or none mode container's entry in NetworkSettings.Networks, as docker shows it (ids only while it runs). */
function driverlessEndpoint(rec: ContainerRecord, root: string): Record<string, unknown> {
  const mode = rec.config.network.mode;
  if (mode !== 'host' && mode !== 'none') return {};
  const running = rec.state.status === 'running' || rec.state.status === 'paused';
  return {
    [mode]: {
      IPAMConfig: null,
      Links: null,
      Aliases: null,
      MacAddress: '',
      DriverOpts: null,
      NetworkID: driverlessNetworkId(root, mode),
      EndpointID: running ? driverlessEndpointId(rec.config.id, mode) : '',
      Gateway: '',
      IPAddress: '',
      IPPrefixLen: 0,
      IPv6Gateway: '',
      GlobalIPv6Address: '',
      GlobalIPv6PrefixLen: 0,
      DNSNames: null,
    },
  };
}

/** docker ps COMMAND column: the command quoted, truncated to 20 characters unless --no-trunc. */
export function commandColumn(rec: ContainerRecord, noTrunc: boolean): string {
  const cmd = [...rec.config.entrypoint, ...rec.config.cmd].join(' ');
  const shown = noTrunc || cmd.length <= 20 ? cmd : `${cmd.slice(0, 19)}…`;
  return `"${shown}"`;
}

export function portsColumn(rec: ContainerRecord): string {
  const m = portMap(rec);
  const parts: string[] = [];
  for (const [k, v] of Object.entries(m)) {
    if (!v) parts.push(k);
    else for (const b of v) parts.push(`${b.HostIp.includes(':') ? `[${b.HostIp}]` : b.HostIp}:${b.HostPort}->${k}`);
  }
  return parts.join(', ');
}
