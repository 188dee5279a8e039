/** What the remote command modules share: the handler shape, per-argument loops, filters, query strings. */
import type { ParsedArgs } from '../../cli/args.js';
import type { CliContext } from '../../cli/context.js';
import { BerthError, invalidArgument } from '../../errors.js';
import type { ApiClient } from '../client.js';

/** A command run through the Engine API: the same flags and output as its local handler. */
export interface RemoteCommand {
  run: (c: ApiClient, ctx: CliContext, p: ParsedArgs) => Promise<number>;
  /** Flags the API cannot carry: setting one is refused (exit 125) with the reason. */
  localOnly?: Record<string, string>;
  /** Other uses it cannot carry (a flag's value, an argument): the reason, refused like localOnly. */
  refuse?: (p: ParsedArgs) => { what: string; why: string } | undefined;
}

export type RemoteTable = Record<string, RemoteCommand>;

export const enc = encodeURIComponent;

/** A query string from the defined values ('' when none). */
export function qs(o: Record<string, string | number | boolean | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(o)) if (v !== undefined) q.set(k, typeof v === 'boolean' ? (v ? '1' : '0') : String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

/** `--filter k=v` flags as the API's `filters` JSON (undefined when none). */
export function filtersParam(flags: string[], extra: Record<string, string[]> = {}): string | undefined {
  const out: Record<string, string[]> = { ...extra };
  for (const f of flags) {
    const eq = f.indexOf('=');
    if (eq <= 0) throw invalidArgument('bad format of filter (expected name=value)');
    (out[f.slice(0, eq).toLowerCase()] ??= []).push(f.slice(eq + 1));
  }
  return Object.keys(out).length ? JSON.stringify(out) : undefined;
}

/**
 * Runs `fn` for each argument like the local handlers: docker's per-item error line, exit 1 if any
 * failed. `echo` prints the argument after each success.
 */
export async function eachArg(ctx: CliContext, args: string[], fn: (a: string) => Promise<void>, echo = true): Promise<number> {
  let failed = 0;
  for (const a of args) {
    try {
      await fn(a);
      if (echo) ctx.out(a);
    } catch (e) {
      if (!(e instanceof BerthError)) throw e;
      ctx.err(`Error response from daemon: ${e.message}`);
      failed++;
    }
  }
  return failed ? 1 : 0;
}

/**
 * `X-Registry-Auth` for a registry from this client's own login (config.json, as `berth login` and
 * `docker login` keep it), as the docker CLI sends it; `{}` without one (the service then uses its own).
 */
export async function registryAuthHeader(domain: string): Promise<Record<string, string>> {
  const { CredentialStore, credentialKey } = await import('../../registry/credentials.js');
  const { encodeRegistryAuth } = await import('../registry-auth.js');
  return { 'X-Registry-Auth': encodeRegistryAuth(await new CredentialStore().get(domain), credentialKey(domain)) };
}

/** `X-Registry-Config` with every login of this client, for the base images a build pulls (as the docker CLI sends). */
export async function registryConfigHeader(): Promise<Record<string, string>> {
  const { CredentialStore } = await import('../../registry/credentials.js');
  const { encodeRegistryConfig } = await import('../registry-auth.js');
  const store = new CredentialStore();
  const logins: Record<string, import('../../registry/client.js').RegistryCredentials> = {};
  for (const host of store.hosts()) {
    const c = await store.get(host);
    if (c) logins[host] = c;
  }
  return { 'X-Registry-Config': encodeRegistryConfig(logins) };
}

export { keyValues } from '../../cli/args.js';
