/**
 * Names that carry the pid of the process that owns the thing: a build's RUN containers, cgroups and
 * network namespaces are `berth-build-<pid>-<random>`, so `system check` tells a running build's
 * from a dead one's.
 */
import { pidAlive } from './process.js';

export const BUILD_CONTAINER_PREFIX = 'berth-build-';

/** The owner pid encoded at the start of `name` (after `prefix`), or undefined. */
export function ownerPid(name: string, prefix = ''): number | undefined {
  if (!name.startsWith(prefix)) return undefined;
  const m = /^(\d+)-/.exec(name.slice(prefix.length));
  const pid = m ? Number(m[1]) : undefined;
  // Older names started with a timestamp: not a pid (Linux's pid_max is at most 2^22).
  return pid !== undefined && pid > 0 && pid <= 4_194_304 ? pid : undefined;
}

/** A build step's name whose builder still runs. */
export function liveBuildStep(name: string): boolean {
  const pid = ownerPid(name, BUILD_CONTAINER_PREFIX);
  return pid !== undefined && pidAlive(pid);
}
