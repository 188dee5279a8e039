/**
 * Which registries Berth talks to and how: the registries configuration (plain-http registries and
 * pull mirrors), registry clients with the user's stored credentials, and login verification.
 *
 * Configuration file: $BERTH_REGISTRIES_CONF, else /etc/berth/registries.json:
 *   {"insecure": ["myreg.lan:5000"], "mirrors": {"docker.io": ["127.0.0.1:5001"]},
 *    "certsDirs": ["/etc/berth/certs.d", "/etc/docker/certs.d"]}
 * Loopback hosts and the hosts listed under "insecure" are reached by https without verifying the
 * certificate, else plain http (docker's rule); every other registry needs a certificate that
 * verifies against the system's roots or a CA in <certs dir>/<host:port>/*.crt.
 * Mirrors are tried, in order, before the registry itself for pulls (never for pushes).
 */
import fs from 'node:fs';
import { BerthError, corrupt } from '../errors.js';
import { RegistryClient, type RegistryCredentials, parseChallenge } from '../registry/client.js';
import { CredentialStore } from '../registry/credentials.js';
import { DEFAULT_CERTS_DIRS, certificateHint, certificateProblem, certsFor, registryFetch } from '../registry/transport.js';

export interface RegistriesConfig {
  insecure: string[];
  mirrors: Record<string, string[]>;
  /** Registries never contacted (air-gapped machines, test suites): pulls use only their mirrors. */
  blocked: string[];
  /** Directories of per-registry certificates (docker's certs.d layout). */
  certsDirs?: string[];
}

export const DEFAULT_REGISTRIES_CONF = '/etc/berth/registries.json';

export function registriesConfPath(): string {
  return process.env.BERTH_REGISTRIES_CONF || DEFAULT_REGISTRIES_CONF;
}

/**
 * Reads the registries configuration; a missing file means no insecure registries and no mirrors.
 * @throws corrupt when the file is not of the documented shape.
 */
export function loadRegistriesConfig(file = registriesConfPath()): RegistriesConfig {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { insecure: [], mirrors: {}, blocked: [] };
    throw new BerthError('permission_denied', `cannot read ${file}: ${(e as Error).message}`, { cause: e });
  }
  const bad = (why: string) =>
    corrupt(`${file}: ${why}`, { hint: 'expected {"insecure": ["host:port"], "mirrors": {"docker.io": ["host:port"]}, "certsDirs": ["/etc/berth/certs.d"]}' });
  let j: unknown;
  try {
    j = JSON.parse(text);
  } catch (e) {
    throw bad(`not valid JSON (${(e as Error).message})`);
  }
  if (typeof j !== 'object' || j === null || Array.isArray(j)) throw bad('not a JSON object');
  const o = j as { insecure?: unknown; mirrors?: unknown; blocked?: unknown; certsDirs?: unknown };
  const strings = (v: unknown, where: string): string[] => {
    if (v === undefined) return [];
    if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) throw bad(`${where} must be an array of strings`);
    return v as string[];
  };
  const insecure = strings(o.insecure, '"insecure"');
  const mirrors: Record<string, string[]> = {};
  if (o.mirrors !== undefined) {
    if (typeof o.mirrors !== 'object' || o.mirrors === null || Array.isArray(o.mirrors)) throw bad('"mirrors" must be an object');
    for (const [k, v] of Object.entries(o.mirrors)) mirrors[k] = strings(v, `"mirrors.${k}"`);
  }
  const out: RegistriesConfig = { insecure, mirrors, blocked: strings(o.blocked, '"blocked"') };
  if (o.certsDirs !== undefined) out.certsDirs = strings(o.certsDirs, '"certsDirs"');
  return out;
}

export interface ClientOptions {
  /** Directory of the docker config.json holding credentials (default $DOCKER_CONFIG or ~/.docker). */
  configDir?: string;
  config?: RegistriesConfig;
  /** Explicit credentials instead of the stored ones (login). */
  credentials?: RegistryCredentials;
}

/** A client for `host` (a reference domain: "docker.io", "127.0.0.1:5000") with stored credentials. */
export function registryClient(host: string, opts: ClientOptions = {}): RegistryClient {
  const cfg = opts.config ?? loadRegistriesConfig();
  if (cfg.blocked.includes(host))
    throw new BerthError('unavailable', `registry ${host} is blocked by ${registriesConfPath()}`, {
      hint: `remove it from "blocked" there, or pull through a mirror`,
    });
  const store = new CredentialStore(opts.configDir ? { configDir: opts.configDir } : {});
  const explicit = opts.credentials;
  const certs = certsFor(host, cfg.certsDirs ?? DEFAULT_CERTS_DIRS);
  return new RegistryClient({
    host,
    insecure: cfg.insecure.includes(host),
    insecureConfig: registriesConfPath(),
    ...(certs ? { tls: certs } : {}),
    credentials: explicit ? async () => explicit : () => store.get(host),
  });
}

/** Hosts to try for a pull from `domain`: its mirrors first, then the registry itself. */
export function pullHosts(domain: string, cfg: RegistriesConfig): string[] {
  const hosts = [...(cfg.mirrors[domain] ?? []), domain].filter((h) => !cfg.blocked.includes(h));
  if (hosts.length === 0)
    throw new BerthError('unavailable', `registry ${domain} is blocked by ${registriesConfPath()} and has no mirror`, {
      hint: `build or load the image locally, or add a mirror for ${domain}`,
    });
  return hosts;
}

/** Wrong credentials at a login check; `endpoint` is the URL that refused them (docker's messages name it). */
export class LoginDenied extends BerthError {
  constructor(
    host: string,
    readonly endpoint: string,
    /** basic: the registry itself refused Basic auth; token: its token server did. */
    readonly via: 'basic' | 'token',
  ) {
    super('unauthenticated', `login to ${host} failed: unauthorized: incorrect username or password`, { hint: 'check the username and password' });
  }
}

const LOOPBACK = /^(localhost|127\.\d+\.\d+\.\d+|\[::1\]|::1)(:\d+)?$/;

/**
 * Checks credentials against a registry the way `docker login` does: GET /v2/ with Basic auth, or,
 * when the registry answers with a Bearer challenge, a token request to its realm with Basic auth.
 * @throws unauthenticated (wrong username or password), unavailable (registry unreachable).
 */
export async function verifyLogin(host: string, creds: RegistryCredentials, cfg: RegistriesConfig = loadRegistriesConfig()): Promise<void> {
  const apiHost = host === 'docker.io' ? 'registry-1.docker.io' : host;
  const plain = LOOPBACK.test(apiHost) || cfg.insecure.includes(host);
  const fetch = registryFetch(plain, certsFor(host, cfg.certsDirs ?? DEFAULT_CERTS_DIRS));
  const basic = `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
  const denied = (endpoint: string, via: 'basic' | 'token') => new LoginDenied(host, endpoint, via);
  let lastError: unknown;
  for (const scheme of plain ? ['https', 'http'] : ['https']) {
    let res: Response;
    try {
      res = await fetch(`${scheme}://${apiHost}/v2/`, { headers: { authorization: basic } });
    } catch (e) {
      lastError = e;
      continue;
    }
    await res.body?.cancel().catch(() => undefined);
    if (res.ok) return;
    if (res.status !== 401) throw new BerthError('unavailable', `login to ${host} failed: the registry answered ${res.status} ${res.statusText} to GET /v2/`);
    const ch = parseChallenge(res.headers.get('www-authenticate'));
    if (ch?.scheme !== 'bearer' || !ch.realm) throw denied(`${scheme}://${apiHost}/v2/`, 'basic');
    const url = new URL(ch.realm);
    if (ch.service) url.searchParams.set('service', ch.service);
    const tok = await fetch(url, { headers: { authorization: basic } });
    await tok.body?.cancel().catch(() => undefined);
    if (tok.ok) return;
    if (tok.status === 401 || tok.status === 403) throw denied(`${scheme}://${apiHost}/v2/`, 'token');
    throw new BerthError('unavailable', `login to ${host} failed: its token server answered ${tok.status} ${tok.statusText}`);
  }
  const bad = certificateProblem(lastError);
  if (bad)
    throw new BerthError('unavailable', `registry ${host} presented a TLS certificate that cannot be verified (${bad})`, {
      cause: lastError,
      hint: certificateHint(host, registriesConfPath()),
    });
  const why = (lastError as { cause?: { message?: string } })?.cause?.message ?? (lastError as Error)?.message ?? 'connection failed';
  throw new BerthError('unavailable', `cannot reach registry ${host}: ${why}`, {
    cause: lastError,
    hint: plain ? undefined : `if ${host} serves plain http, list it under "insecure" in ${registriesConfPath()}`,
  });
}
