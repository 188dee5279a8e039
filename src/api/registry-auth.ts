/**
 * Docker's registry credential headers: `X-Registry-Auth` on pull and push (one AuthConfig) and
 * `X-Registry-Config` on build (a map of registry -> AuthConfig), both base64url of JSON, as dockerd
 * reads them and as the docker CLI (and `berth --host`) writes them. An AuthConfig carries
 * {username, password} (or `auth`, base64 of "user:password") or {identitytoken}; one with neither
 * (`{}`, or the bare {serveraddress} the docker CLI sends when it has no login) means "no
 * credentials from the client", and the service then uses its own stored logins.
 */
import { invalidArgument } from '../errors.js';
import type { RegistryCredentials } from '../registry/client.js';
import { normalizeHost } from '../registry/credentials.js';

type AuthConfig = Record<string, unknown>;

/** base64url (or standard base64, which some clients send) of a JSON object. */
function decodeHeader(name: string, value: string): AuthConfig {
  let j: unknown;
  try {
    j = JSON.parse(Buffer.from(value.trim(), 'base64').toString('utf8'));
  } catch {
    // Not the parser's message: it would quote the decoded text, which may hold a password.
    throw invalidArgument(`invalid ${name} header: not base64url-encoded JSON`);
  }
  if (typeof j !== 'object' || j === null || Array.isArray(j)) throw invalidArgument(`invalid ${name} header: expected a base64url-encoded JSON object`);
  return j as AuthConfig;
}

function credentialsOf(a: AuthConfig, where: string): RegistryCredentials | undefined {
  const s = (k: string) => {
    const v = a[k];
    if (v === undefined || v === null) return '';
    if (typeof v !== 'string') throw invalidArgument(`invalid ${where}: "${k}" must be a string`);
    return v;
  };
  // The credential store's convention for identity tokens (and docker-credential helpers').
  if (s('identitytoken')) return { username: '<token>', password: s('identitytoken') };
  if (s('username')) return { username: s('username'), password: s('password') };
  if (s('auth')) {
    const plain = Buffer.from(s('auth'), 'base64').toString('utf8');
    const i = plain.indexOf(':');
    if (i <= 0) throw invalidArgument(`invalid ${where}: "auth" is not base64 of user:password`);
    return { username: plain.slice(0, i), password: plain.slice(i + 1) };
  }
  return undefined;
}

/**
 * The client's credentials from an `X-Registry-Auth` value; undefined when the header is absent or
 * names no credentials. @throws invalid_argument (400) for a value that is not base64 JSON.
 */
export function decodeRegistryAuth(header: string | string[] | undefined): RegistryCredentials | undefined {
  const v = Array.isArray(header) ? header[0] : header;
  if (!v?.trim()) return undefined;
  return credentialsOf(decodeHeader('X-Registry-Auth', v), 'X-Registry-Auth');
}

/**
 * The client's credentials per registry host ("docker.io", "127.0.0.1:5000") from an
 * `X-Registry-Config` value (keys may be URLs: "https://index.docker.io/v1/").
 * @throws invalid_argument (400) for a value that is not base64 JSON of AuthConfigs.
 */
export function decodeRegistryConfig(header: string | string[] | undefined): Record<string, RegistryCredentials> {
  const v = Array.isArray(header) ? header[0] : header;
  const out: Record<string, RegistryCredentials> = {};
  if (!v?.trim()) return out;
  for (const [key, a] of Object.entries(decodeHeader('X-Registry-Config', v))) {
    if (typeof a !== 'object' || a === null || Array.isArray(a)) throw invalidArgument(`invalid X-Registry-Config header: the entry for "${key}" is not an object`);
    const c = credentialsOf(a as AuthConfig, `X-Registry-Config entry for "${key}"`);
    if (c) out[normalizeHost(key)] = c;
  }
  return out;
}

/** An AuthConfig as JSON for a header: identity tokens travel as such, `{}` when there are no credentials. */
function authConfig(c: RegistryCredentials | undefined, serverAddress: string): AuthConfig {
  if (!c) return {};
  return c.username === '<token>' ? { identitytoken: c.password, serveraddress: serverAddress } : { username: c.username, password: c.password, serveraddress: serverAddress };
}

const b64url = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');

/** The `X-Registry-Auth` value for `c` (the client's login for `serverAddress`), `{}` without one. */
export function encodeRegistryAuth(c: RegistryCredentials | undefined, serverAddress: string): string {
  return b64url(authConfig(c, serverAddress));
}

/** The `X-Registry-Config` value for the client's logins, keyed by registry host. */
export function encodeRegistryConfig(logins: Record<string, RegistryCredentials>): string {
  return b64url(Object.fromEntries(Object.entries(logins).map(([host, c]) => [host, authConfig(c, host)])));
}
