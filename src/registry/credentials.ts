/**
 * Registry credentials in Docker's config.json format, so `berth login` and `docker login` share them.
 *
 * The file is `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`. Credentials live either
 * inline (`auths[key].auth` = base64 "user:password") or in a credential helper
 * (`credHelpers[host]`, else `credsStore`): the program `docker-credential-<name>` with the verb
 * `get`, `store` or `erase` as its argument and the server URL or a JSON record on stdin, never argv.
 * Docker Hub's key is "https://index.docker.io/v1/"; other registries are keyed by host[:port].
 * Unknown fields of the file are kept; it is rewritten atomically with mode 0600.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BerthError, corrupt } from '../errors.js';
import type { RegistryCredentials } from './client.js';

export const DOCKER_HUB_KEY = 'https://index.docker.io/v1/';

export interface CredentialStoreOptions {
  /** Directory holding config.json (default: $DOCKER_CONFIG or ~/.docker). */
  configDir?: string;
  /** Runs a credential helper (tests inject a fake). Default: spawn docker-credential-<helper>. */
  runHelper?: (helper: string, verb: 'get' | 'store' | 'erase', input: string) => Promise<HelperResult>;
}

export interface HelperResult {
  code: number;
  stdout: string;
}

interface AuthEntry {
  auth?: string;
  username?: string;
  password?: string;
  identitytoken?: string;
  [k: string]: unknown;
}

interface DockerConfig {
  auths?: Record<string, AuthEntry>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
  [k: string]: unknown;
}

/** The config.json key for a registry host: Docker Hub's legacy URL, else the bare host[:port]. */
export function credentialKey(host: string): string {
  const h = normalizeHost(host);
  return h === 'docker.io' ? DOCKER_HUB_KEY : h;
}

/** "https://index.docker.io/v1/" -> "docker.io"; "http://r:5000/v2/" -> "r:5000". */
export function normalizeHost(keyOrHost: string): string {
  const h = keyOrHost
    .replace(/^[a-z]+:\/\//i, '')
    .replace(/\/.*$/, '')
    .toLowerCase();
  return h === 'index.docker.io' || h === 'registry-1.docker.io' ? 'docker.io' : h;
}

export function defaultConfigDir(): string {
  return process.env.DOCKER_CONFIG || path.join(os.homedir(), '.docker');
}

const helperProgram = (helper: string) => {
  if (!/^[A-Za-z0-9._-]+$/.test(helper)) throw corrupt(`invalid credential helper name "${helper}" in docker config`);
  return `docker-credential-${helper}`;
};

function spawnHelper(helper: string, verb: 'get' | 'store' | 'erase', input: string): Promise<HelperResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(helperProgram(helper), [verb], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.on('error', (e) =>
      reject(new BerthError('unavailable', `credential helper ${helperProgram(helper)} cannot be run: ${e.message}`, { cause: e })),
    );
    child.on('close', (code) => resolve({ code: code ?? 1, stdout: stdout || stderr }));
    child.stdin.end(input);
  });
}

/** Reads and writes registry credentials; one instance per config directory. */
export class CredentialStore {
  readonly file: string;
  private readonly runHelper: NonNullable<CredentialStoreOptions['runHelper']>;

  constructor(opts: CredentialStoreOptions = {}) {
    this.file = path.join(opts.configDir ?? defaultConfigDir(), 'config.json');
    this.runHelper = opts.runHelper ?? spawnHelper;
  }

  private read(): DockerConfig {
    let text: string;
    try {
      text = fs.readFileSync(this.file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return {};
      throw new BerthError('permission_denied', `cannot read ${this.file}: ${(e as Error).message}`, { cause: e });
    }
    if (!text.trim()) return {};
    try {
      const j = JSON.parse(text) as unknown;
      if (typeof j !== 'object' || j === null || Array.isArray(j)) throw new Error('not an object');
      return j as DockerConfig;
    } catch (e) {
      throw corrupt(`${this.file} is not valid JSON: ${(e as Error).message}`, { hint: 'fix or remove the file and log in again' });
    }
  }

  private write(cfg: DockerConfig): void {
    const dir = path.dirname(this.file);
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const tmp = path.join(dir, `.config.json.${randomBytes(6).toString('hex')}`);
    const fd = fs.openSync(tmp, 'wx', 0o600);
    try {
      fs.writeFileSync(fd, `${JSON.stringify(cfg, null, '\t')}\n`);
      fs.fsyncSync(fd);
    } catch (e) {
      fs.closeSync(fd);
      fs.rmSync(tmp, { force: true });
      throw e;
    }
    fs.closeSync(fd);
    fs.chmodSync(tmp, 0o600);
    fs.renameSync(tmp, this.file);
  }

  private helperFor(cfg: DockerConfig, host: string): string | undefined {
    const h = normalizeHost(host);
    for (const [k, v] of Object.entries(cfg.credHelpers ?? {})) if (normalizeHost(k) === h && v) return v;
    return cfg.credsStore || undefined;
  }

  /** The auths entry for a host, matching keys written with scheme or path ("https://host/v1/"). */
  private entryFor(cfg: DockerConfig, host: string): [string, AuthEntry] | undefined {
    const auths = cfg.auths ?? {};
    const key = credentialKey(host);
    if (auths[key]) return [key, auths[key]];
    const h = normalizeHost(host);
    return Object.entries(auths).find(([k]) => normalizeHost(k) === h);
  }

  /**
   * Credentials for a registry host, or undefined when none are stored.
   * An identity token is returned as `{username: '<token>', password: token}`, as helpers do.
   * @throws corrupt for an unreadable entry, unavailable when the helper cannot run.
   */
  async get(host: string): Promise<RegistryCredentials | undefined> {
    const cfg = this.read();
    const helper = this.helperFor(cfg, host);
    if (helper) {
      const r = await this.runHelper(helper, 'get', credentialKey(host));
      if (r.code !== 0) {
        if (/credentials not found/i.test(r.stdout)) return undefined;
        throw new BerthError('unavailable', `credential helper ${helperProgram(helper)} failed to get credentials for ${host}: ${r.stdout.trim().slice(0, 200)}`);
      }
      let j: { Username?: unknown; Secret?: unknown };
      try {
        j = JSON.parse(r.stdout) as typeof j;
      } catch {
        throw corrupt(`credential helper ${helperProgram(helper)} printed invalid JSON for ${host}`);
      }
      if (typeof j.Username !== 'string' || typeof j.Secret !== 'string') throw corrupt(`credential helper ${helperProgram(helper)} returned no Username/Secret for ${host}`);
      if (!j.Secret) return undefined;
      return { username: j.Username, password: j.Secret };
    }
    const found = this.entryFor(cfg, host);
    if (!found) return undefined;
    const [key, e] = found;
    if (typeof e.identitytoken === 'string' && e.identitytoken) return { username: '<token>', password: e.identitytoken };
    if (typeof e.auth === 'string' && e.auth) {
      const decoded = Buffer.from(e.auth, 'base64').toString('utf8');
      const i = decoded.indexOf(':');
      if (i <= 0) throw corrupt(`the auth entry for ${key} in ${this.file} is not base64 of user:password`, { hint: `log in to ${host} again` });
      return { username: decoded.slice(0, i), password: decoded.slice(i + 1) };
    }
    if (typeof e.username === 'string' && typeof e.password === 'string' && e.username) return { username: e.username, password: e.password };
    return undefined;
  }

  /**
   * The registry hosts config.json names (in `auths`, including the empty entries docker writes for
   * logins kept by a credential store, and in `credHelpers`), each once.
   */
  hosts(): string[] {
    const cfg = this.read();
    return [...new Set([...Object.keys(cfg.auths ?? {}), ...Object.keys(cfg.credHelpers ?? {})].map(normalizeHost))];
  }

  /** Stores credentials in the host's helper, else inline in config.json. */
  async store(host: string, username: string, password: string): Promise<void> {
    const cfg = this.read();
    const key = credentialKey(host);
    const helper = this.helperFor(cfg, host);
    if (helper) {
      const r = await this.runHelper(helper, 'store', JSON.stringify({ ServerURL: key, Username: username, Secret: password }));
      if (r.code !== 0) throw new BerthError('unavailable', `credential helper ${helperProgram(helper)} failed to store credentials for ${host}: ${r.stdout.trim().slice(0, 200)}`);
      // Docker records an empty entry, so that `docker info` and friends list the login.
      cfg.auths = { ...(cfg.auths ?? {}), [key]: {} };
    } else {
      const auths = { ...(cfg.auths ?? {}) };
      for (const k of Object.keys(auths)) if (k !== key && normalizeHost(k) === normalizeHost(host)) delete auths[k];
      auths[key] = { auth: Buffer.from(`${username}:${password}`).toString('base64') };
      cfg.auths = auths;
    }
    this.write(cfg);
  }

  /** Removes stored credentials for a host. Resolves false when there were none. */
  async erase(host: string): Promise<boolean> {
    const cfg = this.read();
    const key = credentialKey(host);
    let found = false;
    const helper = this.helperFor(cfg, host);
    if (helper) {
      const r = await this.runHelper(helper, 'erase', key);
      if (r.code === 0) found = true;
      else if (!/credentials not found/i.test(r.stdout)) {
        throw new BerthError('unavailable', `credential helper ${helperProgram(helper)} failed to erase credentials for ${host}: ${r.stdout.trim().slice(0, 200)}`);
      }
    }
    const auths = { ...(cfg.auths ?? {}) };
    for (const k of Object.keys(auths)) {
      if (normalizeHost(k) === normalizeHost(host)) {
        delete auths[k];
        found = true;
      }
    }
    if (cfg.auths) {
      cfg.auths = auths;
      this.write(cfg);
    }
    return found;
  }
}

/** Credentials for `registryHost` from the default docker config (see {@link CredentialStore.get}). */
export function getCredentials(registryHost: string, opts?: CredentialStoreOptions): Promise<RegistryCredentials | undefined> {
  return new CredentialStore(opts).get(registryHost);
}

/** Stores credentials in the default docker config (see {@link CredentialStore.store}). */
export function storeCredentials(registryHost: string, username: string, password: string, opts?: CredentialStoreOptions): Promise<void> {
  return new CredentialStore(opts).store(registryHost, username, password);
}

/** Erases credentials from the default docker config (see {@link CredentialStore.erase}). */
export function eraseCredentials(registryHost: string, opts?: CredentialStoreOptions): Promise<boolean> {
  return new CredentialStore(opts).erase(registryHost);
}
