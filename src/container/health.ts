/**
 * Health checks without a daemon: a small detached berth process per container with a HEALTHCHECK
 * runs the check through the runtime's exec at the configured interval and records the result,
 * exiting when the container stops.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { execProcessSpec } from './exec.js';
import { type ContainerService, sleep } from './service.js';

const NS = 1e6;

export async function runHealthMonitor(svc: ContainerService, id: string): Promise<void> {
  let rec = svc.store.resolve(id);
  const hc = rec.config.healthcheck;
  if (!hc?.Test?.length || hc.Test[0] === 'NONE') return;
  const interval = (hc.Interval || 30_000 * NS) / NS;
  const timeout = (hc.Timeout || 30_000 * NS) / NS;
  const startPeriod = (hc.StartPeriod || 0) / NS;
  const startInterval = (hc.StartInterval || 5_000 * NS) / NS;
  const retries = hc.Retries || 3;
  const cmd = hc.Test[0] === 'CMD-SHELL' ? ['/bin/sh', '-c', hc.Test.slice(1).join(' ')] : hc.Test.slice(1);
  const startedAt = rec.state.startedAt;
  for (;;) {
    const inStart = Date.now() - startedAt < startPeriod;
    await sleep(inStart ? startInterval : interval);
    const cur = svc.store.get(rec.config.id);
    if (!cur || cur.state.startedAt !== startedAt || (cur.state.status !== 'running' && cur.state.status !== 'paused')) return;
    if (cur.state.status === 'paused') continue;
    rec = cur;
    const started = Date.now();
    const { code, output } = await runCheck(svc, rec, cmd, timeout);
    const end = Date.now();
    svc.store.updateState(rec.config.id, (s) => {
      if (!s.health || s.startedAt !== startedAt) return s;
      const log = [...s.health.log, { start: started, end, exitCode: code, output: output.slice(0, 4096) }].slice(-5);
      const ok = code === 0;
      const streak = ok ? 0 : s.health.failingStreak + 1;
      let status = s.health.status;
      if (ok) status = 'healthy';
      else if (!(Date.now() - startedAt < startPeriod) && streak >= retries) status = 'unhealthy';
      return { ...s, health: { status, failingStreak: inStart && !ok ? s.health.failingStreak : streak, log } };
    });
  }
}

function runCheck(svc: ContainerService, rec: import('./types.js').ContainerRecord, cmd: string[], timeoutMs: number): Promise<{ code: number; output: string }> {
  let file: string;
  try {
    file = execProcessSpec(svc, rec, { cmd, env: [], tty: false });
  } catch (e) {
    return Promise.resolve({ code: -1, output: (e as Error).message });
  }
  const rt = svc.runtime(rec.config.runtime);
  return new Promise((resolve) => {
    const child = spawn(rt.binary, ['--root', rt.root, 'exec', '--process', file, rec.config.id], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      output += `\nHealth check exceeded timeout (${timeoutMs}ms)`;
    }, timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      fs.rmSync(file, { force: true });
      resolve({ code: code ?? -1, output });
    });
    child.on('error', (e) => {
      clearTimeout(timer);
      resolve({ code: -1, output: e.message });
    });
  });
}
