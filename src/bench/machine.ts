/**
 * What machine and which tool versions a benchmark ran on, for the report's header.
 */
import fs from 'node:fs';
import os from 'node:os';
import { type BenchEngine, exec, have } from './engines.js';
import type { MachineInfo } from './types.js';

function firstLine(argv: string[]): string | undefined {
  if (!have(argv[0] as string)) return undefined;
  const r = exec(argv, { allowFail: true, timeoutMs: 20_000 });
  if (r.code !== 0) return undefined;
  return r.stdout.split('\n').find((l) => l.trim())?.trim();
}

function read(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/** Machine facts plus the versions of runc, conmon and of each peer engine that is in use. */
export function machineInfo(engines: BenchEngine[]): MachineInfo {
  const cpu = /^model name\s*:\s*(.+)$/m.exec(read('/proc/cpuinfo'))?.[1]?.trim() ?? os.cpus()[0]?.model ?? 'unknown';
  const osName = /^PRETTY_NAME="?([^"\n]+)"?/m.exec(read('/etc/os-release'))?.[1] ?? os.type();
  const versions: Record<string, string> = {};
  const add = (k: string, v: string | undefined) => {
    if (v) versions[k] = v.replace(/^(runc|conmon|podman|buildah|skopeo) version /i, '');
  };
  add('runc', firstLine(['runc', '--version']));
  add('conmon', firstLine(['conmon', '--version']));
  for (const e of engines) {
    if (e.name === 'berth') add('berth', firstLine(e.argv(['--version']))?.replace(/^Berth version /, ''));
    if (e.name === 'docker') {
      add('dockerd', firstLine(e.argv(['version', '--format', '{{.Server.Version}}'])));
      add('docker CLI', firstLine(e.argv(['version', '--format', '{{.Client.Version}}'])));
    }
    if (e.name === 'podman') {
      add('podman', firstLine(['podman', '--version']));
      add('buildah', firstLine(['buildah', '--version'])?.split(' (')[0]);
    }
  }
  add('docker-registry', firstLine(['docker-registry', '--version'])?.split(' ').slice(-1)[0]);
  return {
    cpu,
    cores: os.cpus().length,
    memGiB: Math.round(os.totalmem() / 2 ** 30),
    kernel: os.release(),
    os: osName,
    node: process.version,
    versions,
  };
}
