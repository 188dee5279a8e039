/**
 * Container part of `system check`: leftovers of crashed operations (mounts, runtime state,
 * bundles, monitors, cgroups without a container) and records whose files are gone.
 */
import fs from 'node:fs';
import path from 'node:path';
import { registerCheck } from '../engine/check.js';
import { cgroupPaths, removeCgroup } from '../runtime/cgroups.js';
import { isMounted, unmountRootfs } from '../snapshot/overlay.js';
import { pidAlive } from '../util/process.js';
import { ContainerService } from './service.js';
// Network leftovers (namespaces, reservations, port rules) are checked by the network module.
import '../network/check.js';

registerCheck(async (engine, repair, add) => {
  const svc = new ContainerService(engine);
  const recs = svc.list();
  const ids = new Set(recs.map((r) => r.config.id));
  const report = (kind: string, detail: string, fix: () => void) => {
    if (repair) {
      try {
        fix();
      } catch {
        add(kind, `${detail} (repair failed)`, false);
        return;
      }
    }
    add(kind, detail, repair);
  };
  for (const r of recs) {
    const d = svc.dirs(r.config.id);
    if (!fs.existsSync(d.upper)) add('container', `container ${r.config.name} has lost its writable layer`, false);
    if (!engine.images.get(r.config.imageId)) add('container', `container ${r.config.name} refers to a missing image ${r.config.imageId}`, false);
    const live = r.state.status === 'running' || r.state.status === 'paused';
    if (!live && isMounted(d.merged)) report('mount', `stopped container ${r.config.name} still has its root file system mounted`, () => unmountRootfs(d.merged));
  }
  // Run-time directories of containers that no longer exist.
  const runDir = engine.paths.runContainers;
  for (const n of fs.existsSync(runDir) ? fs.readdirSync(runDir) : []) {
    if (ids.has(n)) continue;
    const merged = path.join(runDir, n, 'merged');
    report('bundle', `run directory of unknown container ${n.slice(0, 12)}`, () => {
      const pidFile = path.join(runDir, n, 'conmon.pid');
      try {
        const pid = Number(fs.readFileSync(pidFile, 'utf8'));
        if (pidAlive(pid)) process.kill(pid, 'SIGKILL');
      } catch {
        /* no monitor */
      }
      unmountRootfs(merged);
      fs.rmSync(path.join(runDir, n), { recursive: true, force: true });
    });
  }
  const persistent = engine.paths.containers;
  for (const n of fs.existsSync(persistent) ? fs.readdirSync(persistent) : []) {
    if (ids.has(n)) continue;
    report('container', `writable layer of unknown container ${n.replace('.trash-', '').slice(0, 12)}`, () =>
      fs.rmSync(path.join(persistent, n), { recursive: true, force: true }),
    );
  }
  // Runtime state of unknown containers.
  const rtRoot = engine.paths.runtimeState;
  for (const rtName of fs.existsSync(rtRoot) ? fs.readdirSync(rtRoot) : []) {
    // RUN containers of builds: build/check.ts removes those of dead builders and keeps running ones.
    if (rtName === 'build') continue;
    for (const n of fs.readdirSync(path.join(rtRoot, rtName))) {
      if (ids.has(n)) continue;
      report('runtime', `${rtName} state of unknown container ${n.slice(0, 12)}`, () => svc.runtime(rtName).deleteSync(n, { force: true }));
    }
  }
  // cgroups under /berth of unknown containers.
  const seen = new Set<string>();
  for (const p of cgroupPaths(engine.paths.cgroupParent)) {
    for (const n of fs.existsSync(p) ? fs.readdirSync(p, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name) : []) {
      if (ids.has(n) || seen.has(n) || !/^[0-9a-f]{64}$/.test(n)) continue;
      seen.add(n);
      report('cgroup', `cgroup of unknown container ${n.slice(0, 12)}`, () => {
        removeCgroup(`${engine.paths.cgroupParent}/${n}`);
      });
    }
  }
  for (const f of fs.existsSync(engine.paths.exits) ? fs.readdirSync(engine.paths.exits) : []) {
    if (!ids.has(f)) report('exit', `exit file of unknown container ${f.slice(0, 12)}`, () => fs.rmSync(path.join(engine.paths.exits, f), { force: true }));
  }
});
