/**
 * Docker's container-create body (Config + HostConfig + NetworkingConfig) -> the engine's
 * CreateOptions. Unknown fields are ignored like dockerd does; a known field of the wrong type is a
 * 400 naming the field.
 */
import net from 'node:net';
import path from 'node:path';
import type { CreateOptions } from '../container/service.js';
import type { MountSpec, PortBinding } from '../container/types.js';
import { invalidArgument } from '../errors.js';
import { parseVolume } from '../cli/run-options.js';
import { formatIp6, parseIp6 } from '../network/subnet6.js';

type Obj = Record<string, unknown>;

function typeError(field: string, want: string, v: unknown): never {
  throw invalidArgument(`json: cannot unmarshal ${Array.isArray(v) ? 'array' : v === null ? 'null' : typeof v} into Go struct field ${field} of type ${want}`);
}

export function optStr(o: Obj, k: string, field = k): string | undefined {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') typeError(field, 'string', v);
  return v;
}
export function optNum(o: Obj, k: string, field = k): number | undefined {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) typeError(field, 'int64', v);
  return v;
}
export function optBool(o: Obj, k: string, field = k): boolean | undefined {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') typeError(field, 'bool', v);
  return v;
}
/** Docker's StrSlice: a string or a list of strings. */
export function optStrList(o: Obj, k: string, field = k, strSlice = false): string[] | undefined {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  if (strSlice && typeof v === 'string') return [v];
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) typeError(field, '[]string', v);
  return v as string[];
}
export function optObj(o: Obj, k: string, field = k): Obj | undefined {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v)) typeError(field, 'object', v);
  return v as Obj;
}
function strMap(o: Obj, k: string, field: string): Record<string, string> | undefined {
  const m = optObj(o, k, field);
  if (!m) return undefined;
  for (const [kk, v] of Object.entries(m)) if (typeof v !== 'string') typeError(`${field}.${kk}`, 'string', v);
  return m as Record<string, string>;
}

/** Translates a create body; `name` is the `?name=` query value. */
export function createOptionsFromBody(body: Obj, name: string | undefined): CreateOptions {
  const image = optStr(body, 'Image', 'Config.Image');
  if (!image) throw invalidArgument('No image specified: the create body needs "Image"');
  const o: CreateOptions = { image };
  if (name) o.name = name.replace(/^\//, '');
  const cmd = optStrList(body, 'Cmd', 'Config.Cmd', true);
  if (cmd) o.cmd = cmd;
  const ep = optStrList(body, 'Entrypoint', 'Config.Entrypoint', true);
  if (ep) o.entrypoint = ep.length === 1 && ep[0] === '' ? [] : ep;
  const env = optStrList(body, 'Env', 'Config.Env');
  if (env) o.env = env;
  const set = <K extends keyof CreateOptions>(k: K, v: CreateOptions[K] | undefined) => {
    if (v !== undefined && v !== '') o[k] = v;
  };
  set('workingDir', optStr(body, 'WorkingDir', 'Config.WorkingDir'));
  set('user', optStr(body, 'User', 'Config.User'));
  set('hostname', optStr(body, 'Hostname', 'Config.Hostname'));
  set('domainname', optStr(body, 'Domainname', 'Config.Domainname'));
  set('tty', optBool(body, 'Tty', 'Config.Tty'));
  set('openStdin', optBool(body, 'OpenStdin', 'Config.OpenStdin'));
  set('stdinOnce', optBool(body, 'StdinOnce', 'Config.StdinOnce'));
  set('labels', strMap(body, 'Labels', 'Config.Labels'));
  set('stopSignal', optStr(body, 'StopSignal', 'Config.StopSignal'));
  set('stopTimeout', optNum(body, 'StopTimeout', 'Config.StopTimeout'));
  const exposed = optObj(body, 'ExposedPorts', 'Config.ExposedPorts');
  if (exposed) o.exposedPorts = Object.keys(exposed);
  const hc = optObj(body, 'Healthcheck', 'Config.Healthcheck');
  if (hc) {
    const t = optStrList(hc, 'Test', 'Config.Healthcheck.Test');
    const h: NonNullable<CreateOptions['healthcheck']> = {};
    if (t) h.Test = t;
    for (const k of ['Interval', 'Timeout', 'StartPeriod', 'StartInterval', 'Retries'] as const) {
      const v = optNum(hc, k, `Config.Healthcheck.${k}`);
      if (v) h[k] = v;
    }
    o.healthcheck = h;
  }
  const hostConfig = optObj(body, 'HostConfig') ?? {};
  applyHostConfig(o, hostConfig);
  // NetworkingConfig.EndpointsConfig.<net>.Aliases / IPAMConfig.IPv4Address / IPAMConfig.IPv6Address
  const nc = optObj(optObj(body, 'NetworkingConfig') ?? {}, 'EndpointsConfig', 'NetworkingConfig.EndpointsConfig');
  if (nc) {
    const [first] = Object.entries(nc);
    if (first) {
      const ep = (first[1] ?? {}) as Obj;
      o.network ??= {};
      if (!o.network.mode || o.network.mode === 'default') o.network.mode = first[0];
      const aliases = optStrList(ep, 'Aliases', 'EndpointSettings.Aliases');
      if (aliases) o.network.aliases = aliases;
      const ipam = optObj(ep, 'IPAMConfig', 'EndpointSettings.IPAMConfig') ?? {};
      const ip = optStr(ipam, 'IPv4Address', 'EndpointSettings.IPAMConfig.IPv4Address');
      if (ip) o.network.ip = ip;
      const ip6 = optStr(ipam, 'IPv6Address', 'EndpointSettings.IPAMConfig.IPv6Address');
      if (ip6) o.network.ip6 = ip6;
    }
  }
  return o;
}

/** HostConfig fields shared by create and (the resource part) update. */
export function resourcesFromHostConfig(h: Obj): NonNullable<CreateOptions['resources']> {
  const r: NonNullable<CreateOptions['resources']> = {};
  const n = (k: string) => optNum(h, k, `HostConfig.${k}`);
  const memory = n('Memory');
  if (memory) r.memory = memory;
  const swap = n('MemorySwap');
  if (swap) r.memorySwap = swap;
  const reservation = n('MemoryReservation');
  if (reservation) r.memoryReservation = reservation;
  const nano = n('NanoCpus');
  if (nano) r.nanoCpus = nano;
  const shares = n('CpuShares');
  if (shares) r.cpuShares = shares;
  const quota = n('CpuQuota');
  if (quota) r.cpuQuota = quota;
  const period = n('CpuPeriod');
  if (period) r.cpuPeriod = period;
  const cpuset = optStr(h, 'CpusetCpus', 'HostConfig.CpusetCpus');
  if (cpuset) r.cpusetCpus = cpuset;
  const mems = optStr(h, 'CpusetMems', 'HostConfig.CpusetMems');
  if (mems) r.cpusetMems = mems;
  const pids = n('PidsLimit');
  if (pids) r.pidsLimit = pids;
  return r;
}

function applyHostConfig(o: CreateOptions, h: Obj): void {
  const f = (k: string) => `HostConfig.${k}`;
  const resources = resourcesFromHostConfig(h);
  if (Object.keys(resources).length) o.resources = resources;
  const mounts: MountSpec[] = [];
  for (const b of optStrList(h, 'Binds', f('Binds')) ?? []) mounts.push(parseVolume(b));
  const ms = h.Mounts;
  if (ms !== undefined && ms !== null) {
    if (!Array.isArray(ms)) typeError(f('Mounts'), '[]mount.Mount', ms);
    for (const m of ms as Obj[]) mounts.push(mountFromApi(m));
  }
  if (mounts.length) o.mounts = mounts;
  const pb = optObj(h, 'PortBindings', f('PortBindings'));
  if (pb) {
    const ports: PortBinding[] = [];
    for (const [key, list] of Object.entries(pb)) {
      const [port, proto = 'tcp'] = key.split('/') as [string, string?];
      if (!/^\d+$/.test(port) || (proto !== 'tcp' && proto !== 'udp')) throw invalidArgument(`invalid port specification: "${key}"`);
      for (const b of (Array.isArray(list) ? list : [{}]) as Obj[]) {
        const hp = optStr(b ?? {}, 'HostPort', f('PortBindings.HostPort')) ?? '';
        if (hp && !/^\d+$/.test(hp)) throw invalidArgument(`invalid port specification: "${hp}"`);
        let hostIp = optStr(b ?? {}, 'HostIp', f('PortBindings.HostIp')) ?? '';
        if (hostIp && !net.isIP(hostIp)) throw invalidArgument(`invalid IP address: ${hostIp}`);
        if (net.isIPv6(hostIp)) hostIp = formatIp6(parseIp6(hostIp));
        ports.push({ hostIp, hostPort: hp ? Number(hp) : 0, containerPort: Number(port), protocol: proto });
      }
    }
    o.ports = ports;
  }
  const set = <K extends keyof CreateOptions>(k: K, v: CreateOptions[K] | undefined) => {
    if (v !== undefined) o[k] = v;
  };
  set('publishAll', optBool(h, 'PublishAllPorts', f('PublishAllPorts')));
  // [height, width]; docker's [0, 0] means "not given".
  const cs = h.ConsoleSize;
  if (cs !== undefined && cs !== null) {
    if (!Array.isArray(cs) || cs.length !== 2 || !cs.every((n) => Number.isInteger(n) && n >= 0 && n <= 0xffff)) typeError(f('ConsoleSize'), '[2]uint', cs);
    const [rows, cols] = cs as [number, number];
    if (rows > 0 && cols > 0) o.consoleSize = { rows, cols };
  }
  const mode = optStr(h, 'NetworkMode', f('NetworkMode'));
  const network: NonNullable<CreateOptions['network']> = {};
  if (mode && mode !== 'default') network.mode = mode;
  const dns = optStrList(h, 'Dns', f('Dns'));
  if (dns) network.dns = dns;
  const dnsSearch = optStrList(h, 'DnsSearch', f('DnsSearch'));
  if (dnsSearch) network.dnsSearch = dnsSearch;
  const dnsOptions = optStrList(h, 'DnsOptions', f('DnsOptions'));
  if (dnsOptions) network.dnsOptions = dnsOptions;
  const extra = optStrList(h, 'ExtraHosts', f('ExtraHosts'));
  if (extra) network.extraHosts = extra;
  const links = optStrList(h, 'Links', f('Links'));
  if (links?.length) network.links = links;
  if (Object.keys(network).length) o.network = network;
  const rp = optObj(h, 'RestartPolicy', f('RestartPolicy'));
  if (rp) {
    const name = optStr(rp, 'Name', f('RestartPolicy.Name')) || 'no';
    if (!['no', 'always', 'on-failure', 'unless-stopped'].includes(name)) throw invalidArgument(`invalid restart policy '${name}'`);
    o.restartPolicy = { name: name as 'no', maximumRetryCount: optNum(rp, 'MaximumRetryCount', f('RestartPolicy.MaximumRetryCount')) ?? 0 };
  }
  set('autoRemove', optBool(h, 'AutoRemove', f('AutoRemove')));
  const ul = h.Ulimits;
  if (Array.isArray(ul))
    o.ulimits = (ul as Obj[]).map((u) => ({ name: optStr(u, 'Name', f('Ulimits.Name')) ?? '', soft: optNum(u, 'Soft', f('Ulimits.Soft')) ?? 0, hard: optNum(u, 'Hard', f('Ulimits.Hard')) ?? 0 }));
  else if (ul !== undefined && ul !== null) typeError(f('Ulimits'), '[]*units.Ulimit', ul);
  const devs = h.Devices;
  if (devs !== undefined && devs !== null) {
    if (!Array.isArray(devs)) typeError(f('Devices'), '[]container.DeviceMapping', devs);
    o.devices = (devs as Obj[]).map((d) => {
      const onHost = optStr(d, 'PathOnHost', f('Devices.PathOnHost')) ?? '';
      return { pathOnHost: onHost, pathInContainer: optStr(d, 'PathInContainer', f('Devices.PathInContainer')) || onHost, permissions: optStr(d, 'CgroupPermissions', f('Devices.CgroupPermissions')) || 'rwm' };
    });
  }
  set('deviceCgroupRules', optStrList(h, 'DeviceCgroupRules', f('DeviceCgroupRules')));
  set('pidMode', optStr(h, 'PidMode', f('PidMode')) || undefined);
  set('ipcMode', optStr(h, 'IpcMode', f('IpcMode')) || undefined);
  set('utsMode', optStr(h, 'UTSMode', f('UTSMode')) || undefined);
  const oom = optNum(h, 'OomScoreAdj', f('OomScoreAdj'));
  if (oom) o.oomScoreAdj = oom;
  set('capAdd', optStrList(h, 'CapAdd', f('CapAdd')));
  set('capDrop', optStrList(h, 'CapDrop', f('CapDrop')));
  set('privileged', optBool(h, 'Privileged', f('Privileged')));
  set('securityOpt', optStrList(h, 'SecurityOpt', f('SecurityOpt')));
  set('readOnly', optBool(h, 'ReadonlyRootfs', f('ReadonlyRootfs')));
  set('init', optBool(h, 'Init', f('Init')));
  set('tmpfs', strMap(h, 'Tmpfs', f('Tmpfs')));
  set('volumesFrom', optStrList(h, 'VolumesFrom', f('VolumesFrom')));
  set('sysctls', strMap(h, 'Sysctls', f('Sysctls')));
  const shm = optNum(h, 'ShmSize', f('ShmSize'));
  if (shm) o.shmSize = shm;
  const rt = optStr(h, 'Runtime', f('Runtime'));
  if (rt) o.runtime = rt;
  const lc = optObj(h, 'LogConfig', f('LogConfig'));
  if (lc) {
    const type = optStr(lc, 'Type', f('LogConfig.Type'));
    if (type && !['json-file', 'k8s-file', 'local', 'none'].includes(type)) throw invalidArgument(`logging driver "${type}" is not supported; use json-file (Berth keeps k8s-file logs) or none`);
    if (type === 'none') o.logDriver = 'none';
    const cfg = strMap(lc, 'Config', f('LogConfig.Config')) ?? {};
    if (cfg['max-size']) o.logMaxSize = parseSize(cfg['max-size']);
    if (cfg['max-file']) o.logMaxFile = Number(cfg['max-file']);
  }
}

function parseSize(s: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)b?$/i.exec(s.trim());
  if (!m) throw invalidArgument(`invalid size: '${s}'`);
  return Math.round(Number(m[1]) * 1024 ** ' kmgt'.indexOf(((m[2] as string) || ' ').toLowerCase()));
}

function mountFromApi(m: Obj): MountSpec {
  const type = optStr(m, 'Type', 'Mount.Type') ?? 'volume';
  const target = optStr(m, 'Target', 'Mount.Target') ?? '';
  if (!path.isAbsolute(target)) throw invalidArgument(`invalid mount config: Target "${target}" must be an absolute path`);
  const source = optStr(m, 'Source', 'Mount.Source') ?? '';
  const readonly = optBool(m, 'ReadOnly', 'Mount.ReadOnly') ?? false;
  if (type === 'bind') {
    if (!path.isAbsolute(source)) throw invalidArgument(`invalid mount config for type "bind": invalid mount path: '${source}' mount path must be absolute`);
    return { type: 'bind', source, destination: target, readonly };
  }
  if (type === 'tmpfs') {
    const t = optObj(m, 'TmpfsOptions') ?? {};
    const opts: string[] = [];
    const size = optNum(t, 'SizeBytes', 'Mount.TmpfsOptions.SizeBytes');
    if (size) opts.push(`size=${size}`);
    const mode = optNum(t, 'Mode', 'Mount.TmpfsOptions.Mode');
    if (mode) opts.push(`mode=${mode.toString(8)}`);
    return { type: 'tmpfs', source: 'tmpfs', destination: target, readonly, options: opts };
  }
  if (type !== 'volume') throw invalidArgument(`mount type "${type}" is not supported (bind, volume, tmpfs)`);
  const vo = optObj(m, 'VolumeOptions', 'Mount.VolumeOptions') ?? {};
  const noCopy = optBool(vo, 'NoCopy', 'Mount.VolumeOptions.NoCopy') === true;
  const dc = optObj(vo, 'DriverConfig', 'Mount.VolumeOptions.DriverConfig') ?? {};
  const driver = optStr(dc, 'Name', 'Mount.VolumeOptions.DriverConfig.Name');
  if (driver && driver !== 'local') throw invalidArgument(`error looking up volume plugin ${driver}: plugin "${driver}" not found`);
  const options = strMap(dc, 'Options', 'Mount.VolumeOptions.DriverConfig.Options');
  const labels = strMap(vo, 'Labels', 'Mount.VolumeOptions.Labels');
  const extra = { ...(options && Object.keys(options).length ? { volumeOptions: options } : {}), ...(labels && Object.keys(labels).length ? { volumeLabels: labels } : {}) };
  if (!source) return { type: 'volume', source: '', destination: target, readonly, anonymous: true, ...extra };
  return { type: 'volume', source, name: source, destination: target, readonly, options: noCopy ? ['nocopy'] : [], ...extra };
}

/**
 * The inverse of createOptionsFromBody: CreateOptions (from the CLI's run/create flags) as Docker's
 * create body and `?name=`, so `berth --host` sends exactly what a local create would use.
 * createOptionsFromBody(createBodyFromOptions(o)) gives `o` back (tested).
 */
export function createBodyFromOptions(o: CreateOptions): { body: Obj; name: string | undefined } {
  const put = (t: Obj, k: string, v: unknown) => {
    if (v !== undefined) t[k] = v;
  };
  const body: Obj = { Image: o.image };
  put(body, 'Cmd', o.cmd);
  // An explicit empty entrypoint (--entrypoint '') resets the image's: docker sends [""].
  put(body, 'Entrypoint', o.entrypoint && (o.entrypoint.length ? o.entrypoint : ['']));
  put(body, 'Env', o.env);
  put(body, 'WorkingDir', o.workingDir);
  put(body, 'User', o.user);
  put(body, 'Hostname', o.hostname);
  put(body, 'Domainname', o.domainname);
  put(body, 'Tty', o.tty);
  put(body, 'OpenStdin', o.openStdin);
  put(body, 'StdinOnce', o.stdinOnce);
  put(body, 'Labels', o.labels);
  put(body, 'StopSignal', o.stopSignal);
  put(body, 'StopTimeout', o.stopTimeout);
  if (o.exposedPorts) body.ExposedPorts = Object.fromEntries(o.exposedPorts.map((p) => [p, {}]));
  put(body, 'Healthcheck', o.healthcheck);
  const h: Obj = {};
  const r = o.resources ?? {};
  put(h, 'Memory', r.memory);
  put(h, 'MemorySwap', r.memorySwap);
  put(h, 'NanoCpus', r.nanoCpus);
  put(h, 'CpuShares', r.cpuShares);
  put(h, 'CpuQuota', r.cpuQuota);
  put(h, 'CpuPeriod', r.cpuPeriod);
  put(h, 'CpusetCpus', r.cpusetCpus);
  put(h, 'CpusetMems', r.cpusetMems);
  put(h, 'MemoryReservation', r.memoryReservation);
  put(h, 'PidsLimit', r.pidsLimit);
  if (o.devices?.length) h.Devices = o.devices.map((d) => ({ PathOnHost: d.pathOnHost, PathInContainer: d.pathInContainer, CgroupPermissions: d.permissions }));
  put(h, 'DeviceCgroupRules', o.deviceCgroupRules);
  put(h, 'PidMode', o.pidMode);
  put(h, 'IpcMode', o.ipcMode);
  put(h, 'UTSMode', o.utsMode);
  put(h, 'OomScoreAdj', o.oomScoreAdj);
  if (o.mounts) h.Mounts = o.mounts.map(mountToApi);
  if (o.ports) {
    const pb: Record<string, { HostIp: string; HostPort: string }[]> = {};
    for (const p of o.ports) (pb[`${p.containerPort}/${p.protocol}`] ??= []).push({ HostIp: p.hostIp, HostPort: p.hostPort ? String(p.hostPort) : '' });
    h.PortBindings = pb;
  }
  put(h, 'PublishAllPorts', o.publishAll);
  if (o.consoleSize) h.ConsoleSize = [o.consoleSize.rows, o.consoleSize.cols];
  const n = o.network ?? {};
  put(h, 'NetworkMode', n.mode);
  put(h, 'Dns', n.dns);
  put(h, 'DnsSearch', n.dnsSearch);
  put(h, 'DnsOptions', n.dnsOptions);
  put(h, 'ExtraHosts', n.extraHosts);
  put(h, 'Links', n.links);
  if (o.restartPolicy) h.RestartPolicy = { Name: o.restartPolicy.name, MaximumRetryCount: o.restartPolicy.maximumRetryCount };
  put(h, 'AutoRemove', o.autoRemove);
  if (o.ulimits) h.Ulimits = o.ulimits.map((u) => ({ Name: u.name, Soft: u.soft, Hard: u.hard }));
  put(h, 'CapAdd', o.capAdd);
  put(h, 'CapDrop', o.capDrop);
  put(h, 'Privileged', o.privileged);
  put(h, 'SecurityOpt', o.securityOpt);
  put(h, 'ReadonlyRootfs', o.readOnly);
  put(h, 'Init', o.init);
  put(h, 'Tmpfs', o.tmpfs);
  put(h, 'VolumesFrom', o.volumesFrom);
  put(h, 'Sysctls', o.sysctls);
  put(h, 'ShmSize', o.shmSize);
  put(h, 'Runtime', o.runtime);
  if (o.logMaxSize !== undefined || o.logMaxFile !== undefined) {
    const cfg: Record<string, string> = {};
    if (o.logMaxSize !== undefined) cfg['max-size'] = String(o.logMaxSize);
    if (o.logMaxFile !== undefined) cfg['max-file'] = String(o.logMaxFile);
    h.LogConfig = { Type: 'json-file', Config: cfg };
  }
  if (o.logDriver === 'none') h.LogConfig = { Type: 'none', Config: {} };
  body.HostConfig = h;
  if (n.aliases?.length || n.ip || n.ip6) {
    const ep: Obj = {};
    if (n.aliases?.length) ep.Aliases = n.aliases;
    if (n.ip || n.ip6) ep.IPAMConfig = { ...(n.ip ? { IPv4Address: n.ip } : {}), ...(n.ip6 ? { IPv6Address: n.ip6 } : {}) };
    body.NetworkingConfig = { EndpointsConfig: { [n.mode ?? 'default']: ep } };
  }
  return { body, name: o.name };
}

function mountToApi(m: MountSpec): Obj {
  if (m.type === 'bind') return { Type: 'bind', Source: m.source, Target: m.destination, ReadOnly: m.readonly };
  if (m.type === 'tmpfs') {
    const t: Obj = {};
    for (const opt of m.options ?? []) {
      const [k, v = ''] = opt.split('=');
      if (k === 'size') t.SizeBytes = Number(v);
      else if (k === 'mode') t.Mode = Number.parseInt(v, 8);
    }
    return { Type: 'tmpfs', Target: m.destination, ReadOnly: m.readonly, TmpfsOptions: t };
  }
  const vo: Obj = { NoCopy: (m.options ?? []).includes('nocopy') };
  if (m.volumeLabels) vo.Labels = m.volumeLabels;
  if (m.volumeOptions) vo.DriverConfig = { Name: 'local', Options: m.volumeOptions };
  return { Type: 'volume', Source: m.anonymous ? '' : (m.name ?? m.source), Target: m.destination, ReadOnly: m.readonly, VolumeOptions: vo };
}
