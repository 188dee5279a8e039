/** Resource usage of containers from their cgroups, in docker stats' columns. */
import { humanSize } from '../util/human.js';
import { type CgroupStats, readStats } from '../runtime/cgroups.js';
import type { ContainerRecord } from './types.js';
import os from 'node:os';

export interface StatsSample {
  rec: ContainerRecord;
  at: number;
  stats: CgroupStats | undefined;
}

export async function collectStats(recs: ContainerRecord[], cgroupParent: string): Promise<StatsSample[]> {
  return Promise.all(
    recs.map(async (rec) => ({
      rec,
      at: Date.now(),
      stats: rec.state.status === 'running' || rec.state.status === 'paused' ? await Promise.resolve().then(() => readStats(`${cgroupParent}/${rec.config.id}`)).catch(() => undefined) : undefined,
    })),
  );
}

function binSize(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(i === 0 ? 0 : 2).replace(/\.?0+$/, '') || '0'}${units[i]}`;
}

export function formatStatsRows(prev: StatsSample[], cur: StatsSample[], noTrunc: boolean): Record<string, string>[] {
  const total = os.totalmem();
  return cur.map((c) => {
    const p = prev.find((x) => x.rec.config.id === c.rec.config.id);
    const s = c.stats;
    let cpu = '0.00%';
    if (s && p?.stats && c.at > p.at) {
      const pct = ((s.cpuTotalNs - p.stats.cpuTotalNs) / ((c.at - p.at) * 1e6)) * 100;
      cpu = `${Math.max(0, pct).toFixed(2)}%`;
    }
    const used = s ? Math.max(0, s.memoryUsage - (s.memoryInactiveFile ?? 0)) : 0;
    const limit = s?.memoryLimit && s.memoryLimit < total ? s.memoryLimit : total;
    return {
      ID: noTrunc ? c.rec.config.id : c.rec.config.id.slice(0, 12),
      Container: noTrunc ? c.rec.config.id : c.rec.config.id.slice(0, 12),
      Name: c.rec.config.name,
      CPUPerc: s ? cpu : '--',
      MemUsage: s ? `${binSize(used)} / ${binSize(limit)}` : '-- / --',
      MemPerc: s ? `${((used / limit) * 100).toFixed(2)}%` : '--',
      NetIO: '0B / 0B',
      BlockIO: '0B / 0B',
      PIDs: s ? String(s.pidsCurrent) : '0',
      _human: humanSize(used),
    };
  });
}
