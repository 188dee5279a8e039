/** Runs the helper programs of the network module (CNI plugins, iptables) synchronously. */
import { spawnSync } from 'node:child_process';
import { BerthError } from '../errors.js';

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function execSync(cmd: string, args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv } = {}): ExecResult {
  const r = spawnSync(cmd, args, { input: opts.input, env: opts.env ?? process.env, maxBuffer: 64 * 1024 * 1024 });
  if (r.error) {
    const missing = (r.error as NodeJS.ErrnoException).code === 'ENOENT';
    throw new BerthError('failed_precondition', `cannot run ${cmd}: ${r.error.message}`, {
      cause: r.error,
      hint: missing ? 'install the network tools: apt-get install iptables iproute2 containernetworking-plugins' : undefined,
    });
  }
  return { code: r.status ?? -1, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}
