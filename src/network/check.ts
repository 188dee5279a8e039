/**
 * Network part of `system check`: namespaces, address reservations and port rules left by a berth
 * that was killed mid-way, or by containers whose exit was never recorded.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ContainerStore } from '../container/store.js';
import { registerCheck } from '../engine/check.js';
import { cniReleaseAddress } from './cni.js';
import { containersWithPortRules, removePortRules } from './firewall.js';
import { releaseNetwork, teardownContainerNetwork, type ContainerNetworkState } from './service.js';
import { NetworkStore, ipamDataDir, netnsDir } from './store.js';
import { BUILD_CONTAINER_PREFIX, liveBuildStep } from '../util/owner-pid.js';

registerCheck((engine, repair, add) => {
  const report = (kind: string, detail: string, fix: () => void) => {
    if (repair) {
      try {
        fix();
      } catch (e) {
        add(kind, `${detail} (repair failed: ${(e as Error).message})`, false);
        return;
      }
    }
    add(kind, detail, repair);
  };
  const containers = new ContainerStore(engine.db).list();
  const live = new Map<string, ContainerNetworkState>();
  for (const c of containers) {
    const st = c.state.network as ContainerNetworkState | undefined;
    const running = c.state.status === 'running' || c.state.status === 'paused' || c.state.status === 'restarting';
    if (st && running) live.set(c.config.id, st);
    else if (st) report('network', `stopped container ${c.config.name} still holds its network`, () => teardownContainerNetwork(engine, c.config.id));
  }
  const nsDir = netnsDir(engine);
  for (const id of fs.existsSync(nsDir) ? fs.readdirSync(nsDir) : []) {
    if (live.get(id)?.netns === path.join(nsDir, id) || liveBuildStep(id)) continue;
    const whose = id.startsWith(BUILD_CONTAINER_PREFIX) ? `build step ${id} of a build that died` : `${containers.some((c) => c.config.id === id) ? 'stopped' : 'unknown'} container ${id.slice(0, 12)}`;
    report('network', `network namespace of ${whose}`, () => {
      const errors = releaseNetwork(engine, id, { netns: path.join(nsDir, id) });
      if (errors.length) throw new Error(errors.join('; '));
    });
  }
  const nets = new NetworkStore(engine).list();
  const dataDir = ipamDataDir(engine);
  for (const n of nets) {
    const dir = path.join(dataDir, n.name);
    for (const f of fs.existsSync(dir) ? fs.readdirSync(dir) : []) {
      // Reservation files are named by address (IPv4, or IPv6 on an --ipv6 network).
      if (!/^\d+\.\d+\.\d+\.\d+$/.test(f) && !/^[0-9a-f:]+$/.test(f)) continue;
      let owner = '';
      let ifname = 'eth0';
      try {
        [owner = '', ifname = 'eth0'] = fs.readFileSync(path.join(dir, f), 'utf8').split(/\r?\n/).map((x) => x.trim());
      } catch {
        continue;
      }
      if (liveBuildStep(owner)) continue;
      const st = live.get(owner);
      if (st && Object.values(st.networks).some((e) => e.IPAddress === f || e.GlobalIPv6Address === f)) continue;
      report('network', `address ${f} on network ${n.name} reserved for a container that is not running (${owner.slice(0, 12)})`, () =>
        cniReleaseAddress(n, dataDir, { id: owner, ifname }),
      );
    }
  }
  // Port chains are shared by all stores on the host: only this store's stopped containers are ours to judge.
  for (const family of ['ip', 'ip6'] as const) {
    const withRules = new Set(containersWithPortRules(family));
    for (const c of containers) {
      const short = c.config.id.slice(0, 12);
      if (withRules.has(short) && !live.get(c.config.id)?.ports.length)
        report('network', `${family === 'ip6' ? 'IPv6 ' : ''}port rules of stopped container ${c.config.name}`, () => removePortRules(c.config.id, family));
    }
  }
});
