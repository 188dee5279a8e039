/**
 * `--log-opt max-file=N`: keeping N files of max-size each, without a daemon.
 *
 * conmon (2.1.6) only truncates: at --log-size-max it replaces the log with an empty file. It does
 * reopen its log on request (message "2" on the container's ctl fifo), which is what logrotate-style
 * rotation needs. A container that asks for more than one file therefore gets a small sh loop beside
 * its conmon (about 1 MiB; none for the default of one file): once a second it compares the log's
 * size with max-size and, when reached, shifts `ctr.log.1..N-2` up, renames `ctr.log` to
 * `ctr.log.1` and asks conmon to reopen. conmon's own cap stays as the bound for a container that
 * writes faster than the loop looks (monitorLogCap). The loop ends with conmon.
 * Readers (`logs`, the API) read the rotated files oldest first; see logFiles() and followLog().
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const SCRIPT = [
  'log=$1 ctl=$2 max=$3 keep=$4 mon=$5',
  'while kill -0 "$mon" 2>/dev/null; do',
  '  sleep 1',
  '  size=$(stat -c %s -- "$log" 2>/dev/null) || continue',
  '  [ "$size" -ge "$max" ] || continue',
  '  n=$((keep - 1))',
  '  rm -f -- "$log.$n"',
  '  while [ "$n" -gt 1 ]; do p=$((n - 1)); if [ -e "$log.$p" ]; then mv -f -- "$log.$p" "$log.$n"; fi; n=$p; done',
  // dd opens the fifo without blocking: a conmon that just exited leaves no reader (ENXIO).
  '  mv -f -- "$log" "$log.1" && printf \'2 0 0\\n\' | dd of="$ctl" oflag=nonblock status=none 2>/dev/null',
  'done',
].join('\n');

export interface RotationOptions {
  log: string;
  ctl: string;
  maxSize: number;
  maxFile: number;
  monitorPid: number;
}

/**
 * conmon's --log-size-max for a container: its max-size, or, when a rotator runs, max-size plus
 * max(max-size, 8 MiB): the rotator looks once a second, and conmon's cap (which empties the file)
 * must only catch a container that writes more than that within one second.
 */
export function monitorLogCap(maxSize: number, maxFile: number): number {
  return maxSize > 0 && maxFile > 1 ? maxSize + Math.max(maxSize, 8 * 1024 * 1024) : maxSize;
}

/** Starts the rotator for a container whose conmon is `monitorPid` (only when max-file > 1). */
export function startLogRotation(o: RotationOptions): void {
  if (o.maxFile <= 1 || o.maxSize <= 0 || o.monitorPid <= 0) return;
  const child = spawn('/bin/sh', ['-c', SCRIPT, 'berth-logrotate', o.log, o.ctl, String(o.maxSize), String(o.maxFile), String(o.monitorPid)], {
    detached: true,
    stdio: 'ignore',
    cwd: '/',
  });
  child.on('error', () => undefined);
  child.unref();
}

/** The log's files oldest first: `ctr.log.N` ... `ctr.log.1`, then `ctr.log` (those that exist). */
export function logFiles(file: string): string[] {
  const dir = path.dirname(file);
  const base = path.basename(file);
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [file];
  }
  const rotated = names
    .map((n) => (n.startsWith(`${base}.`) && /^\d+$/.test(n.slice(base.length + 1)) ? Number(n.slice(base.length + 1)) : 0))
    .filter((k) => k > 0)
    .sort((a, b) => b - a)
    .map((k) => `${file}.${k}`);
  return [...rotated, file];
}
