/**
 * `run` / `create` flags -> the engine's CreateOptions. Docker's flag grammar lives here (the API
 * translates HostConfig into the same CreateOptions in its own edge).
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { CreateOptions } from '../container/service.js';
import type { DeviceMapping, MountSpec, PortBinding, RestartPolicy } from '../container/types.js';
import { BerthError, invalidArgument } from '../errors.js';
import { formatIp6, parseIp6 } from '../network/subnet6.js';
import { parseBytes, parseDuration } from '../util/human.js';
import { type ParsedArgs, bool, int, list, str } from './args.js';

export function readEnvFile(file: string): string[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    throw invalidArgument(`open ${file}: no such file or directory`);
  }
  const out: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/^\s+/, '');
    if (!line || line.startsWith('#')) continue;
    if (line.includes('=')) out.push(line);
    else if (process.env[line.trim()] !== undefined) out.push(`${line.trim()}=${process.env[line.trim()]}`);
  }
  return out;
}

/** `-e NAME` takes the value from the caller's environment; unset names are dropped (docker's rule). */
function envFlags(values: string[]): string[] {
  const out: string[] = [];
  for (const v of values) {
    if (v.includes('=')) {
      if (v.startsWith('=')) throw invalidArgument(`invalid environment variable: ${v}`);
      out.push(v);
    } else if (process.env[v] !== undefined) out.push(`${v}=${process.env[v]}`);
  }
  return out;
}

export function parseRestart(v: string): RestartPolicy {
  const [name, count] = v.split(':', 2) as [string, string | undefined];
  if (!['no', 'always', 'on-failure', 'unless-stopped'].includes(name)) throw invalidArgument(`invalid restart policy '${v}'`);
  if (count !== undefined && name !== 'on-failure') throw invalidArgument(`invalid restart policy format: maximum retry count cannot be used with restart policy '${name}'`);
  if (count !== undefined && !/^\d+$/.test(count)) throw invalidArgument(`invalid restart policy format: maximum retry count must be an integer`);
  return { name: name as RestartPolicy['name'], maximumRetryCount: count ? Number(count) : 0 };
}

export function parsePublish(spec: string): PortBinding[] {
  const [main, protoRaw] = spec.split('/', 2) as [string, string | undefined];
  const protocol = (protoRaw ?? 'tcp') as 'tcp' | 'udp';
  if (protocol !== 'tcp' && protocol !== 'udp') throw invalidArgument(`invalid proto: ${protoRaw}`);
  // Docker's split: the last two fields are host and container port, everything before them the
  // host IP, so an IPv6 address works bare (::1:8080:80) or in brackets ([::1]:8080:80).
  const parts = main.split(':');
  const ctrPart = parts[parts.length - 1] as string;
  const hostPart = parts.length >= 2 ? (parts[parts.length - 2] as string) : '';
  let hostIp = parts.length >= 3 ? parts.slice(0, -2).join(':') : '';
  if (hostIp.startsWith('[')) {
    if (!hostIp.endsWith(']')) throw invalidArgument(`Invalid ip address ${hostIp}: missing ']' in address`);
    hostIp = hostIp.slice(1, -1);
  }
  if (hostIp && !net.isIP(hostIp)) throw invalidArgument(`invalid IP address: ${hostIp}`);
  if (net.isIPv6(hostIp)) hostIp = formatIp6(parseIp6(hostIp));
  const range = (s: string): number[] => {
    if (s === '') return [];
    const m = /^(\d+)(?:-(\d+))?$/.exec(s);
    if (!m) throw invalidArgument(`invalid containerPort: ${s}`);
    const a = Number(m[1]);
    const b = m[2] ? Number(m[2]) : a;
    if (a < 1 || b > 65535 || b < a) throw invalidArgument(`invalid port range: ${s}`);
    return Array.from({ length: b - a + 1 }, (_, i) => a + i);
  };
  const ctr = range(ctrPart);
  if (ctr.length === 0) throw invalidArgument(`no port specified: ${spec}<empty>`);
  const host = range(hostPart);
  if (host.length && host.length !== ctr.length && host.length !== 1) throw invalidArgument(`invalid ranges specified for container and host Ports: ${spec}`);
  return ctr.map((c, i) => ({ hostIp, hostPort: host.length === ctr.length ? (host[i] as number) : host.length === 1 ? (host[0] as number) : 0, containerPort: c, protocol }));
}

/** `-v` grammar: name|/host:/ctr[:opts], /ctr (anonymous). */
export function parseVolume(spec: string): MountSpec {
  const parts = spec.split(':');
  if (parts.length === 1) {
    if (!path.isAbsolute(spec)) throw invalidArgument(`invalid volume specification: '${spec}': destination must be an absolute path`);
    return { type: 'volume', source: '', destination: spec, readonly: false, anonymous: true };
  }
  if (parts.length > 3) throw invalidArgument(`invalid volume specification: '${spec}'`);
  const [src, dst, opts = ''] = parts as [string, string, string?];
  if (!path.isAbsolute(dst)) throw invalidArgument(`invalid volume specification: '${spec}': invalid mount config: destination must be an absolute path`);
  const o = opts.split(',').filter(Boolean);
  for (const x of o) if (!['ro', 'rw', 'z', 'Z', 'rprivate', 'private', 'rshared', 'shared', 'rslave', 'slave', 'nocopy'].includes(x)) throw invalidArgument(`invalid mode: ${x}`);
  const readonly = o.includes('ro');
  if (src.startsWith('/') || src.startsWith('.')) return { type: 'bind', source: path.resolve(src), destination: dst, readonly };
  if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/.test(src)) throw invalidArgument(`"${src}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`);
  return { type: 'volume', source: src, name: src, destination: dst, readonly, options: o.includes('nocopy') ? ['nocopy'] : [] };
}

/**
 * Splits a --mount value as docker's CLI does (a CSV record): a field in double quotes may hold
 * commas (`"volume-opt=o=size=1m,uid=1000"`), and "" inside quotes is a quote.
 */
export function splitCsvFields(spec: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < spec.length; i++) {
    const ch = spec[i] as string;
    if (quoted) {
      if (ch === '"' && spec[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cur += ch;
    } else if (ch === '"' && cur === '') quoted = true;
    else if (ch === ',') {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  if (quoted) throw invalidArgument(`invalid argument "${spec}" for "--mount" flag: parse error: extraneous or missing " in quoted-field`);
  out.push(cur);
  return out;
}

/** `--mount type=...,source=...,target=...,readonly,volume-opt=K=V,volume-label=K=V,volume-driver=local,volume-nocopy` */
export function parseMount(spec: string): MountSpec {
  const kv = new Map<string, string>();
  const volumeOptions: Record<string, string> = {};
  const volumeLabels: Record<string, string> = {};
  let volumeKeys = false;
  for (const part of splitCsvFields(spec)) {
    const eq = part.indexOf('=');
    const key = (eq < 0 ? part : part.slice(0, eq)).toLowerCase();
    const value = eq < 0 ? 'true' : part.slice(eq + 1);
    if (key.startsWith('volume-')) volumeKeys = true;
    if (key === 'volume-opt' || key === 'volume-label') {
      const e = value.indexOf('=');
      if (eq < 0 || e <= 0) throw invalidArgument(`invalid argument "${spec}" for "--mount" flag: invalid ${key} "${value}": expected KEY=VALUE`);
      (key === 'volume-opt' ? volumeOptions : volumeLabels)[value.slice(0, e)] = value.slice(e + 1);
    } else kv.set(key, value);
  }
  const type = (kv.get('type') ?? 'volume') as MountSpec['type'];
  if (!['bind', 'volume', 'tmpfs'].includes(type)) throw invalidArgument(`invalid mount type "${type}": use bind, volume or tmpfs`);
  if (volumeKeys && type !== 'volume') throw invalidArgument(`invalid argument "${spec}" for "--mount" flag: cannot mix 'volume-*' options with mount type '${type}'`);
  const dst = kv.get('target') ?? kv.get('destination') ?? kv.get('dst');
  if (!dst) throw invalidArgument(`invalid argument "${spec}" for "--mount" flag: target is required`);
  const src = kv.get('source') ?? kv.get('src') ?? '';
  const ro = ['true', '1'].includes(kv.get('readonly') ?? kv.get('ro') ?? 'false');
  if (type === 'bind') {
    if (!src) throw invalidArgument('invalid mount config for type "bind": field Source must not be empty');
    return { type, source: path.resolve(src), destination: dst, readonly: ro };
  }
  if (type === 'tmpfs') {
    const o: string[] = [];
    if (kv.get('tmpfs-size')) o.push(`size=${parseBytes(kv.get('tmpfs-size') as string)}`);
    if (kv.get('tmpfs-mode')) o.push(`mode=${kv.get('tmpfs-mode')}`);
    return { type, source: 'tmpfs', destination: dst, readonly: ro, options: o };
  }
  const driver = kv.get('volume-driver');
  if (driver !== undefined && driver !== 'local')
    throw invalidArgument(`error looking up volume plugin ${driver}: plugin "${driver}" not found`, { hint: 'berth has the local volume driver only: volume-driver=local or leave it out' });
  const nocopy = kv.get('volume-nocopy');
  if (nocopy !== undefined && !['true', '1', 'false', '0'].includes(nocopy)) throw invalidArgument(`invalid value for volume-nocopy: ${nocopy}`);
  const extra = {
    ...(Object.keys(volumeOptions).length ? { volumeOptions } : {}),
    ...(Object.keys(volumeLabels).length ? { volumeLabels } : {}),
  };
  if (!src) return { type, source: '', destination: dst, readonly: ro, anonymous: true, ...extra };
  return { type, source: src, name: src, destination: dst, readonly: ro, options: nocopy === 'true' || nocopy === '1' ? ['nocopy'] : [], ...extra };
}

function parseUlimit(v: string): { name: string; soft: number; hard: number } {
  const m = /^([a-z]+)=(-?\d+)(?::(-?\d+))?$/.exec(v);
  if (!m) throw invalidArgument(`invalid ulimit argument: ${v}`);
  const soft = Number(m[2]);
  const hard = m[3] !== undefined ? Number(m[3]) : soft;
  if (soft > hard && hard !== -1) throw invalidArgument(`ulimit soft limit must be less than or equal to hard limit: ${soft} > ${hard}`);
  return { name: m[1] as string, soft, hard };
}

function durationNs(v: string | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined;
  try {
    return Math.round(parseDuration(v) * 1e6);
  } catch {
    throw invalidArgument(`invalid argument "${v}" for "--${flag}" flag: time: invalid duration "${v}"`);
  }
}

/**
 * `run -t` from a terminal: the terminal's size goes into the container's process spec (docker's
 * HostConfig.ConsoleSize), so the command sees it from its first instruction, not after a resize.
 */
/** -t with a terminal on stdout: the container's terminal starts at its size. `out` is asked for only then (building it costs). */
export function withConsoleSize(o: CreateOptions, out: () => NodeJS.WriteStream): CreateOptions {
  if (!o.tty) return o;
  const s = out();
  if (s.isTTY && s.rows && s.columns) o.consoleSize = { rows: s.rows, cols: s.columns };
  return o;
}

export function createOptionsFromFlags(p: ParsedArgs): CreateOptions {
  const [image, ...cmd] = p.args as [string, ...string[]];
  const o: CreateOptions = { image };
  if (cmd.length) o.cmd = cmd;
  const name = str(p, 'name');
  if (name !== undefined) o.name = name;
  o.env = [...list(p, 'env-file').flatMap(readEnvFile), ...envFlags(list(p, 'env'))];
  const ep = str(p, 'entrypoint');
  if (ep !== undefined) o.entrypoint = ep === '' ? [] : [ep];
  const wd = str(p, 'workdir');
  if (wd !== undefined) {
    if (!path.isAbsolute(wd)) throw invalidArgument(`the working directory '${wd}' is invalid, it needs to be an absolute path`);
    o.workingDir = wd;
  }
  const user = str(p, 'user');
  if (user !== undefined) o.user = user;
  const hn = str(p, 'hostname');
  if (hn !== undefined) o.hostname = hn;
  const dn = str(p, 'domainname');
  if (dn !== undefined) o.domainname = dn;
  o.tty = bool(p, 'tty');
  o.openStdin = bool(p, 'interactive');
  o.stdinOnce = o.openStdin && !bool(p, 'detach');
  const labels: Record<string, string> = {};
  for (const f of list(p, 'label-file')) for (const l of readEnvFile(f)) labels[l.slice(0, l.indexOf('='))] = l.slice(l.indexOf('=') + 1);
  for (const l of list(p, 'label')) {
    const eq = l.indexOf('=');
    labels[eq < 0 ? l : l.slice(0, eq)] = eq < 0 ? '' : l.slice(eq + 1);
  }
  o.labels = labels;
  const ss = str(p, 'stop-signal');
  if (ss !== undefined) o.stopSignal = ss;
  const st = int(p, 'stop-timeout');
  if (st !== undefined) o.stopTimeout = st;
  o.init = bool(p, 'init');
  o.readOnly = bool(p, 'read-only');
  o.autoRemove = bool(p, 'rm');
  o.restartPolicy = parseRestart(str(p, 'restart') ?? 'no');
  if (o.autoRemove && o.restartPolicy.name !== 'no') throw invalidArgument('Conflicting options: --restart and --rm');
  if (bool(p, 'no-healthcheck')) o.healthcheck = { Test: ['NONE'] };
  else if (str(p, 'health-cmd') !== undefined) {
    o.healthcheck = { Test: ['CMD-SHELL', str(p, 'health-cmd') as string] };
    const hi = durationNs(str(p, 'health-interval'), 'health-interval');
    if (hi !== undefined) o.healthcheck.Interval = hi;
    const ht = durationNs(str(p, 'health-timeout'), 'health-timeout');
    if (ht !== undefined) o.healthcheck.Timeout = ht;
    const hs = durationNs(str(p, 'health-start-period'), 'health-start-period');
    if (hs !== undefined) o.healthcheck.StartPeriod = hs;
    const hsi = durationNs(str(p, 'health-start-interval'), 'health-start-interval');
    if (hsi !== undefined) o.healthcheck.StartInterval = hsi;
    const hr = int(p, 'health-retries');
    if (hr !== undefined) o.healthcheck.Retries = hr;
  }
  const ld = str(p, 'log-driver');
  if (ld !== undefined && !['k8s-file', 'json-file', 'local', 'none'].includes(ld)) throw invalidArgument(`logging driver "${ld}" is not supported: use k8s-file (json-file and local are accepted as aliases) or none`);
  if (ld === 'none') o.logDriver = 'none';
  for (const lo of list(p, 'log-opt')) {
    const [k, v = ''] = lo.split('=', 2) as [string, string?];
    if (k === 'max-size') o.logMaxSize = parseBytes(v);
    else if (k === 'max-file') {
      if (!/^\d+$/.test(v) || Number(v) < 1) throw invalidArgument(`invalid value for max-file: ${v}`);
      o.logMaxFile = Number(v);
    } else throw invalidArgument(`unknown log opt '${k}' for k8s-file log driver`);
  }
  const rt = str(p, 'runtime');
  if (rt !== undefined) o.runtime = rt;
  o.resources = resourcesFromFlags(p);
  o.ulimits = list(p, 'ulimit').map(parseUlimit);
  const shm = str(p, 'shm-size');
  if (shm !== undefined) o.shmSize = parseBytes(shm);
  o.capAdd = list(p, 'cap-add');
  o.capDrop = list(p, 'cap-drop');
  o.privileged = bool(p, 'privileged');
  o.securityOpt = list(p, 'security-opt');
  const sysctls: Record<string, string> = {};
  for (const s of list(p, 'sysctl')) {
    const eq = s.indexOf('=');
    if (eq <= 0) throw invalidArgument(`sysctl '${s}' is not allowed: use key=value`);
    sysctls[s.slice(0, eq)] = s.slice(eq + 1);
  }
  o.sysctls = sysctls;
  o.devices = list(p, 'device').map(parseDevice);
  o.deviceCgroupRules = list(p, 'device-cgroup-rule');
  for (const [flag, key] of [['pid', 'pidMode'], ['ipc', 'ipcMode'], ['uts', 'utsMode']] as const) {
    const v = str(p, flag);
    if (v !== undefined) o[key] = v;
  }
  const oom = int(p, 'oom-score-adj');
  if (oom !== undefined) o.oomScoreAdj = oom;
  const net = str(p, 'network') ?? str(p, 'net');
  o.network = {
    aliases: list(p, 'network-alias'),
    dns: list(p, 'dns'),
    dnsSearch: list(p, 'dns-search'),
    dnsOptions: list(p, 'dns-option'),
    extraHosts: list(p, 'add-host').map((h) => {
      const i = h.indexOf(':');
      const j = h.indexOf('=');
      const k = j > 0 && (i < 0 || j < i) ? j : i;
      if (k <= 0) throw invalidArgument(`invalid argument "${h}" for "--add-host" flag: bad format for add-host: "${h}"`);
      return `${h.slice(0, k)}:${h.slice(k + 1)}`;
    }),
  };
  const links = list(p, 'link');
  if (links.length) o.network.links = links;
  if (net !== undefined) o.network.mode = net === 'default' ? 'bridge' : net;
  const ip = str(p, 'ip');
  if (ip !== undefined) o.network.ip = ip;
  const ip6 = str(p, 'ip6');
  if (ip6 !== undefined) o.network.ip6 = ip6;
  o.ports = list(p, 'publish').flatMap(parsePublish);
  o.publishAll = bool(p, 'publish-all');
  o.exposedPorts = list(p, 'expose');
  o.mounts = [...list(p, 'volume').map(parseVolume), ...list(p, 'mount').map(parseMount)];
  const tmpfs: Record<string, string> = {};
  for (const t of list(p, 'tmpfs')) {
    const i = t.indexOf(':');
    tmpfs[i < 0 ? t : t.slice(0, i)] = i < 0 ? '' : t.slice(i + 1);
  }
  o.tmpfs = tmpfs;
  o.volumesFrom = list(p, 'volumes-from');
  return o;
}

/**
 * The cgroup limits given as flags (run, create and update share them). `update`: a swap limit may
 * come alone, the container's recorded memory limit counts (the engine checks the merged values).
 */
export function resourcesFromFlags(p: ParsedArgs, opts: { update?: boolean } = {}): NonNullable<CreateOptions['resources']> {
  const res: NonNullable<CreateOptions['resources']> = {};
  const mem = str(p, 'memory');
  if (mem !== undefined) {
    res.memory = parseBytes(mem);
    if ((res.memory ?? 0) < 6 * 1024 * 1024) throw invalidArgument('Minimum memory limit allowed is 6MB');
  }
  const swap = str(p, 'memory-swap');
  if (swap !== undefined) {
    const sw = swap === '-1' ? -1 : parseBytes(swap);
    res.memorySwap = sw;
    if (res.memory === undefined && !opts.update) throw invalidArgument('You should always set the Memory limit when using Memoryswap limit, see usage');
    if (sw !== -1 && res.memory !== undefined && sw < res.memory) throw invalidArgument('Minimum memoryswap limit should be larger than memory limit, see usage');
  }
  const reservation = str(p, 'memory-reservation');
  if (reservation !== undefined) {
    res.memoryReservation = parseBytes(reservation);
    if (res.memory !== undefined && res.memory < res.memoryReservation) throw invalidArgument('Minimum memory limit can not be less than memory reservation limit, see usage');
  }
  const cpus = str(p, 'cpus');
  if (cpus !== undefined) {
    const n = Number(cpus);
    if (!Number.isFinite(n) || n <= 0) throw invalidArgument(`invalid argument "${cpus}" for "--cpus" flag: failed to parse ${cpus} as a rational number`);
    res.nanoCpus = Math.round(n * 1e9);
  }
  const sh = int(p, 'cpu-shares');
  if (sh !== undefined) res.cpuShares = sh;
  const cq = int(p, 'cpu-quota');
  if (cq !== undefined) res.cpuQuota = cq;
  const cp = int(p, 'cpu-period');
  if (cp !== undefined) res.cpuPeriod = cp;
  const cs = str(p, 'cpuset-cpus');
  if (cs !== undefined) {
    if (!/^\d+(-\d+)?(,\d+(-\d+)?)*$/.test(cs)) throw invalidArgument(`invalid value ${cs} for cpuset cpus`);
    res.cpusetCpus = cs;
  }
  const mems = str(p, 'cpuset-mems');
  if (mems !== undefined) {
    if (!/^\d+(-\d+)?(,\d+(-\d+)?)*$/.test(mems)) throw invalidArgument(`invalid value ${mems} for cpuset mems`);
    res.cpusetMems = mems;
  }
  const pl = int(p, 'pids-limit');
  if (pl !== undefined) res.pidsLimit = pl;
  return res;
}

/**
 * `update`'s changes: the limits given and the restart policy when --restart is. Nothing given is
 * an error, as in docker ("you must provide one or more flags").
 */
export function updateOptionsFromFlags(p: ParsedArgs): { resources: NonNullable<CreateOptions['resources']>; restartPolicy?: RestartPolicy } {
  const resources = resourcesFromFlags(p, { update: true });
  const restart = str(p, 'restart');
  if (Object.keys(resources).length === 0 && restart === undefined) throw invalidArgument('you must provide one or more flags when using this command');
  return restart === undefined ? { resources } : { resources, restartPolicy: parseRestart(restart) };
}

/** `--device HOST[:CONTAINER][:PERMISSIONS]` (docker's forms; the container path defaults to the host's). */
export function parseDevice(v: string): DeviceMapping {
  const parts = v.split(':');
  if (parts.length > 3 || !parts[0]) throw invalidArgument(`invalid device specification: ${v}`);
  const [host, second, third] = parts as [string, string | undefined, string | undefined];
  let inContainer = host;
  let permissions = 'rwm';
  if (third !== undefined) {
    inContainer = second || host;
    permissions = third;
  } else if (second !== undefined) {
    if (/^[rwm]{1,3}$/.test(second)) permissions = second;
    else inContainer = second;
  }
  if (!/^[rwm]{1,3}$/.test(permissions)) throw invalidArgument(`invalid device mode: ${permissions}`);
  if (!host.startsWith('/') || !inContainer.startsWith('/')) throw invalidArgument(`invalid device specification: ${v}: paths must be absolute`);
  return { pathOnHost: host, pathInContainer: inContainer, permissions };
}

/** `--cidfile`: refused when the file exists, as docker does (another container may own it). */
export function checkCidfile(p: ParsedArgs): string | undefined {
  const f = str(p, 'cidfile');
  if (f && fs.existsSync(f)) throw invalidArgument(`Container ID file found, make sure the other container isn't running or delete ${f}`);
  return f || undefined;
}

export function writeCidfile(file: string, id: string): void {
  try {
    fs.writeFileSync(file, id, { flag: 'wx' });
  } catch (e) {
    throw new BerthError('internal', `failed to write the container ID to ${file}: ${(e as Error).message}`, { cause: e });
  }
}
