/**
 * Peers for side-by-side runs: `--setup` installs docker.io, podman, buildah, skopeo and
 * docker-registry from Debian, starts a private dockerd (own data root, exec root, socket and bridge
 * `berthbench0`) and gives podman/buildah their own storage and containers.conf; `--teardown` undoes
 * all of it. Both are idempotent. What is running is recorded in /var/tmp/berth-bench/state.json, so
 * a later run without --setup finds the peers again.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { type BenchEngine, dockerEngine, exec, have, podmanEngine } from './engines.js';

export const STATE_DIR = '/var/tmp/berth-bench';
const STATE_FILE = path.join(STATE_DIR, 'state.json');
const DOCKER_DIR = path.join(STATE_DIR, 'docker');
const PODMAN_ROOT = path.join(STATE_DIR, 'podman', 'root');
const PODMAN_RUNROOT = '/run/berth-bench/podman';
/** Podman and buildah read only this file (CONTAINERS_CONF), whatever /etc says. */
const PODMAN_CONF = path.join(STATE_DIR, 'podman', 'containers.conf');
const ETC_CONF = '/etc/containers/containers.conf';
const MARK = '# written by berth bench --setup; removed by --teardown';
export const BRIDGE = 'berthbench0';
/** A subnet unlikely to collide with docker0 (172.17/16), podman (10.88/16) or Berth's own networks. */
const BRIDGE_CIDR = '172.30.254.1/24';
const PODMAN_SUBNET = '172.30.253.0/24';

const PACKAGES = ['docker.io', 'podman', 'buildah', 'skopeo', 'docker-registry', 'strace', 'runc', 'conmon', 'busybox-static'];

interface State {
  docker?: { host: string; pidfile: string };
  podman?: { root: string; runroot: string; conf: string };
}

function readState(): State {
  try {
    return JSON.parse(fs.readFileSync(STATE_FILE, 'utf8')) as State;
  } catch {
    return {};
  }
}

function writeState(s: State): void {
  fs.mkdirSync(STATE_DIR, { recursive: true });
  fs.writeFileSync(`${STATE_FILE}.tmp`, `${JSON.stringify(s, null, 2)}\n`);
  fs.renameSync(`${STATE_FILE}.tmp`, STATE_FILE);
}

const CONF = [
  MARK,
  '[containers]',
  '# CAP_SYS_RESOURCE is missing here: podman\'s default nofile=1048576 fails in setrlimit.',
  'default_ulimits = ["nofile=1024:1024", "nproc=1000:1000"]',
  '',
  '[network]',
  `default_subnet = "${PODMAN_SUBNET}"`,
  '',
  '[engine]',
  '# crun fails on this hybrid cgroup v1 host.',
  'runtime = "runc"',
  'cgroup_manager = "cgroupfs"',
  'events_logger = "file"',
  '',
].join('\n');

function pidAlive(pidfile: string): number | undefined {
  try {
    const pid = Number(fs.readFileSync(pidfile, 'utf8').trim());
    process.kill(pid, 0);
    return pid;
  } catch {
    return undefined;
  }
}

function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Installs and starts the peers, logging each step it takes. Throws naming the step that failed. */
export function setup(log: (m: string) => void, opts: { dockerIptables?: boolean } = {}): void {
  // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's own format syntax
  const missing = PACKAGES.filter((p) => exec(['dpkg-query', '-W', '-f=${Status}', p], { allowFail: true }).stdout.indexOf('install ok installed') < 0);
  if (missing.length) {
    log(`setup: apt-get install ${missing.join(' ')}`);
    exec(['apt-get', 'update', '-qq'], { timeoutMs: 600_000 });
    exec(['apt-get', 'install', '-y', '-qq', '--no-install-recommends', ...missing], {
      env: { DEBIAN_FRONTEND: 'noninteractive' },
      timeoutMs: 1_200_000,
    });
  }
  const state = readState();

  // podman / buildah: own storage and configuration.
  fs.mkdirSync(path.dirname(PODMAN_CONF), { recursive: true });
  fs.mkdirSync(PODMAN_ROOT, { recursive: true });
  fs.mkdirSync(PODMAN_RUNROOT, { recursive: true });
  fs.writeFileSync(PODMAN_CONF, CONF);
  if (!fs.existsSync(ETC_CONF)) {
    fs.mkdirSync(path.dirname(ETC_CONF), { recursive: true });
    fs.writeFileSync(ETC_CONF, CONF);
    log(`setup: wrote ${ETC_CONF} (runc, low ulimits) for podman used by hand`);
  } else if (!fs.readFileSync(ETC_CONF, 'utf8').includes(MARK)) {
    log(`setup: ${ETC_CONF} exists and is not ours: left alone (the bench uses ${PODMAN_CONF})`);
  }
  state.podman = { root: PODMAN_ROOT, runroot: PODMAN_RUNROOT, conf: PODMAN_CONF };
  writeState(state);

  // dockerd: private everything, its own bridge (never --bridge none: it would delete docker0).
  if (exec(['ip', 'link', 'show', BRIDGE], { allowFail: true }).code !== 0) {
    exec(['ip', 'link', 'add', BRIDGE, 'type', 'bridge']);
    exec(['ip', 'addr', 'add', BRIDGE_CIDR, 'dev', BRIDGE]);
    exec(['ip', 'link', 'set', BRIDGE, 'up']);
    log(`setup: bridge ${BRIDGE} ${BRIDGE_CIDR}`);
  }
  const host = `unix://${DOCKER_DIR}/docker.sock`;
  const pidfile = path.join(DOCKER_DIR, 'docker.pid');
  if (!pidAlive(pidfile)) {
    fs.mkdirSync(DOCKER_DIR, { recursive: true });
    const logfd = fs.openSync(path.join(DOCKER_DIR, 'dockerd.log'), 'a');
    const args = [
      '--data-root', path.join(DOCKER_DIR, 'data'),
      '--exec-root', path.join(DOCKER_DIR, 'exec'),
      '-H', host,
      '--pidfile', pidfile,
      '--bridge', BRIDGE,
      // Other engineers' networks share this host's firewall: leave it alone unless asked.
      `--iptables=${opts.dockerIptables ? 'true' : 'false'}`,
      '--log-level', 'error',
    ];
    const child = spawn('dockerd', args, { detached: true, stdio: ['ignore', logfd, logfd] });
    child.unref();
    fs.closeSync(logfd);
    log(`setup: dockerd ${args.join(' ')}`);
  }
  const docker = dockerEngine(host);
  const end = Date.now() + 60_000;
  while (docker.cli(['version', '--format', '{{.Server.Version}}'], { allowFail: true }).code !== 0) {
    if (Date.now() > end) throw new Error(`dockerd did not answer on ${host} within 60 s: see ${DOCKER_DIR}/dockerd.log`);
    sleepMs(250);
  }
  state.docker = { host, pidfile };
  writeState(state);
  log(`setup: docker on ${host}, podman storage ${PODMAN_ROOT}`);
}

/** The peers that a previous --setup left running and that answer now. */
export function reachablePeers(log: (m: string) => void): BenchEngine[] {
  const state = readState();
  const out: BenchEngine[] = [];
  if (state.docker && have('docker')) {
    const d = dockerEngine(state.docker.host);
    if (d.cli(['version', '--format', '{{.Server.Version}}'], { allowFail: true, timeoutMs: 20_000 }).code === 0) out.push(d);
    else log(`docker: no answer on ${state.docker.host} (npm run bench -- --setup starts it)`);
  }
  if (state.podman && have('podman')) {
    fs.mkdirSync(state.podman.runroot, { recursive: true });
    const p = podmanEngine(state.podman.root, state.podman.runroot);
    p.env.CONTAINERS_CONF = state.podman.conf;
    out.push(p);
  }
  return out;
}

function mountsUnder(dir: string): string[] {
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((m) => m.startsWith(`${dir}/`))
    .reverse();
}

/** Stops dockerd, removes the peers' containers, storage, bridge and our containers.conf. */
export function teardown(log: (m: string) => void): void {
  const state = readState();
  for (const peer of reachablePeers(() => {})) {
    peer.removeAllContainers();
    log(`teardown: removed ${peer.name} containers`);
  }
  const pid = pidAlive(state.docker?.pidfile ?? path.join(DOCKER_DIR, 'docker.pid'));
  if (pid) {
    process.kill(pid, 'SIGTERM');
    const end = Date.now() + 30_000;
    while (Date.now() < end && pidAlive(path.join(DOCKER_DIR, 'docker.pid'))) sleepMs(200);
    try {
      process.kill(pid, 0);
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
    log('teardown: stopped dockerd');
  }
  for (const dir of [DOCKER_DIR, path.join(STATE_DIR, 'podman'), PODMAN_RUNROOT]) {
    for (const m of mountsUnder(dir)) exec(['umount', '-l', m], { allowFail: true });
    fs.rmSync(dir, { recursive: true, force: true });
  }
  if (exec(['ip', 'link', 'show', BRIDGE], { allowFail: true }).code === 0) {
    exec(['ip', 'link', 'del', BRIDGE], { allowFail: true });
    log(`teardown: deleted bridge ${BRIDGE}`);
  }
  if (fs.existsSync(ETC_CONF) && fs.readFileSync(ETC_CONF, 'utf8').includes(MARK)) {
    fs.rmSync(ETC_CONF);
    log(`teardown: removed ${ETC_CONF}`);
  }
  fs.rmSync(STATE_FILE, { force: true });
}
