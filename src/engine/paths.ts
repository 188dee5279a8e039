import path from 'node:path';
import { sha256Hex } from '../util/random.js';

/** Where everything lives. `root` persists (images, containers' writable layers, volumes); `runroot` is per boot. */
export interface StorePaths {
  root: string;
  runroot: string;
  db: string;
  content: string;
  containers: string;
  volumes: string;
  runtimeState: string;
  runContainers: string;
  exits: string;
  sockets: string;
  cache: string;
  /** The init layer every container shares (empty mount points; see snapshot/overlay.ts). */
  initLayer: string;
  /** cgroup parent of this store's containers: /berth for the default root, /berth-<hash> for others. */
  cgroupParent: string;
}

export function storePaths(root: string, runroot: string): StorePaths {
  return {
    root,
    runroot,
    db: path.join(root, 'berth.db'),
    content: path.join(root, 'content'),
    containers: path.join(root, 'containers'),
    volumes: path.join(root, 'volumes'),
    runtimeState: path.join(runroot, 'runtime'),
    runContainers: path.join(runroot, 'containers'),
    exits: path.join(runroot, 'exits'),
    sockets: path.join(runroot, 's'),
    cache: path.join(root, 'cache'),
    initLayer: path.join(root, 'init-layer'),
    cgroupParent: path.resolve(root) === DEFAULT_ROOT ? '/berth' : `/berth-${sha256Hex(path.resolve(root)).slice(0, 10)}`,
  };
}

export const DEFAULT_ROOT = '/var/lib/berth';
export const DEFAULT_RUNROOT = '/run/berth';
