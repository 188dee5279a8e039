/**
 * How a registry client reaches its registry over TLS.
 *
 * The global fetch verifies certificates against Node's root store and takes no TLS options
 * (Node 20 bundles undici but does not expose its Agent, and undici is not a dependency). For the
 * registries that need other TLS settings, `tlsFetch` is a small fetch on node:https with its own
 * keep-alive agent:
 * - registries configured as insecure, and loopback ones: https without verifying the certificate
 *   (docker's behaviour; the caller then falls back to plain http);
 * - registries with a certificate directory (docker's /etc/docker/certs.d/<host:port>/ or Berth's
 *   /etc/berth/certs.d/<host:port>/): `*.crt` files are extra trusted CAs, a `*.cert` + `*.key` pair
 *   is a client certificate.
 * It returns real `Response` objects, follows redirects like fetch (dropping Authorization across
 * origins) and reports network failures as fetch does (TypeError "fetch failed" with the cause).
 */
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { Readable } from 'node:stream';
import tls from 'node:tls';

export type FetchFn = (url: string | URL, init?: RequestInit) => Promise<Response>;

export interface TlsSettings {
  /** false for insecure registries: the certificate is not checked at all. */
  verify: boolean;
  /** Extra trusted CAs (PEM), added to Node's root store. */
  ca?: string[];
  /** A client certificate and its key (PEM). */
  cert?: string;
  key?: string;
}

/** Directories searched for per-registry certificates, Berth's first (as docker's certs.d). */
export const DEFAULT_CERTS_DIRS: readonly string[] = ['/etc/berth/certs.d', '/etc/docker/certs.d'];

/**
 * The certificates docker's certs.d layout gives `host` (e.g. "myreg:5000"): `*.crt` are CAs,
 * `<name>.cert` with `<name>.key` a client certificate. Undefined when no directory has any.
 * Unreadable files are skipped, as docker skips what it cannot use.
 */
export function certsFor(host: string, dirs: readonly string[] = DEFAULT_CERTS_DIRS): Omit<TlsSettings, 'verify'> | undefined {
  if (!/^[A-Za-z0-9.:[\]_-]+$/.test(host) || host.includes('..')) return undefined;
  const ca: string[] = [];
  let cert: string | undefined;
  let key: string | undefined;
  for (const dir of dirs) {
    const d = path.join(dir, host);
    let names: string[];
    try {
      names = fs.readdirSync(d).sort();
    } catch {
      continue;
    }
    for (const n of names) {
      try {
        if (n.endsWith('.crt')) ca.push(fs.readFileSync(path.join(d, n), 'utf8'));
        else if (n.endsWith('.cert') && !cert) {
          const k = path.join(d, `${n.slice(0, -5)}.key`);
          const pair = [fs.readFileSync(path.join(d, n), 'utf8'), fs.readFileSync(k, 'utf8')];
          [cert, key] = pair;
        }
      } catch {
        /* unreadable or unpaired: skipped */
      }
    }
  }
  if (!ca.length && !cert) return undefined;
  return { ...(ca.length ? { ca } : {}), ...(cert && key ? { cert, key } : {}) };
}

/** OpenSSL's codes (node:tls) for a certificate that does not verify. */
const CERT_ERROR = /^(CERT_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_|ERR_TLS_CERT_ALTNAME_INVALID|INVALID_CA|INVALID_PURPOSE|HOSTNAME_MISMATCH)/;

/**
 * When a fetch failed because the server's certificate did not verify: the reason
 * ("self-signed certificate; DEPTH_ZERO_SELF_SIGNED_CERT"), else undefined.
 */
export function certificateProblem(e: unknown): string | undefined {
  let c: unknown = e;
  for (let i = 0; i < 4 && c; i++) {
    const code = (c as { code?: unknown }).code;
    if (typeof code === 'string') return CERT_ERROR.test(code) ? `${(c as Error).message}; ${code}` : undefined;
    c = (c as { cause?: unknown }).cause;
  }
  return undefined;
}

/** The hint for a registry whose certificate does not verify. */
export function certificateHint(host: string, insecureConfig: string | undefined): string {
  const where = insecureConfig ? `under "insecure" in ${insecureConfig}` : 'as insecure';
  return `trust the CA that signed it (put it in /etc/berth/certs.d/${host}/ca.crt or /etc/docker/certs.d/${host}/ca.crt), or list "${host}" ${where} to connect without verifying`;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const NULL_BODY = new Set([101, 103, 204, 205, 304]);

/**
 * The fetch for a registry: unverified https for an insecure one, its certificates when it has
 * some, else the global fetch (Node's root store).
 */
export function registryFetch(insecure: boolean, certs: Omit<TlsSettings, 'verify'> | undefined): FetchFn {
  if (insecure) return tlsFetch({ ...certs, verify: false });
  return certs ? tlsFetch({ ...certs, verify: true }) : publicFetch();
}

/**
 * The environment variable holding the extra CA file the user gave Node. bin/berth moves
 * NODE_EXTRA_CA_CERTS here before Node starts: Node parses every certificate in that file while it
 * starts (about 70 ms for Debian's whole bundle, on every command, TLS or not), Berth only when it
 * first verifies a server.
 */
export const EXTRA_CA_ENV = 'BERTH_EXTRA_CA_CERTS';

let extraCa: string[] | undefined;

/**
 * The certificates of `$BERTH_EXTRA_CA_CERTS` (PEM), read once. As Node does for
 * NODE_EXTRA_CA_CERTS, a file that cannot be read is reported on stderr and otherwise ignored.
 */
export function extraCaCertificates(env: NodeJS.ProcessEnv = process.env): string[] {
  if (extraCa) return extraCa;
  const file = env[EXTRA_CA_ENV];
  extraCa = [];
  if (!file) return extraCa;
  try {
    extraCa = fs.readFileSync(file, 'utf8').match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  } catch (e) {
    process.stderr.write(`Warning: ignoring extra certs from ${file} (${EXTRA_CA_ENV}, from NODE_EXTRA_CA_CERTS): ${(e as Error).message}\n`);
  }
  return extraCa;
}

let publicTls: FetchFn | undefined;

/**
 * The fetch for servers verified against the public roots (registries without settings of their
 * own, ADD <url>): the global fetch, or, when there are deferred extra CAs, node:https trusting
 * Node's roots and those.
 */
export function publicFetch(): FetchFn {
  if (!extraCaCertificates().length) return fetch;
  publicTls ??= tlsFetch({ verify: true });
  return publicTls;
}

/**
 * The fetch for requests that stream a body to a registry (blob uploads). Node 20's fetch keeps
 * about as much memory as the body it sent (a 200 MiB upload peaked at 288 MiB RSS, node:http at
 * 89 MiB), so uploads go through node:http(s) whatever the registry's TLS settings.
 */
export function uploadFetch(insecure: boolean, certs: Omit<TlsSettings, 'verify'> | undefined): FetchFn {
  return tlsFetch({ ...certs, verify: !insecure }, true);
}

/**
 * A fetch on node:https with `settings`; plain http goes to the global fetch, or to node:http with
 * `plainToo`.
 */
export function tlsFetch(settings: TlsSettings, plainToo = false): FetchFn {
  const extra = [...(settings.verify ? extraCaCertificates() : []), ...(settings.ca ?? [])];
  const agent = new https.Agent({
    keepAlive: true,
    rejectUnauthorized: settings.verify,
    ...(extra.length ? { ca: [...tls.rootCertificates, ...extra] } : {}),
    ...(settings.cert && settings.key ? { cert: settings.cert, key: settings.key } : {}),
  });
  const plainAgent = new http.Agent({ keepAlive: true });
  const go = async (url: URL, init: RequestInit, hops: number): Promise<Response> => {
    const secure = url.protocol === 'https:';
    if (!secure && (url.protocol !== 'http:' || !plainToo)) return fetch(url, init);
    const method = (init.method ?? 'GET').toUpperCase();
    const headers: Record<string, string> = {};
    new Headers(init.headers).forEach((v, k) => {
      headers[k] = v;
    });
    const body = init.body as unknown;
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const options = { method, headers, ...(init.signal ? { signal: init.signal } : {}) };
      const req = secure ? https.request(url, { ...options, agent }, resolve) : http.request(url, { ...options, agent: plainAgent }, resolve);
      req.on('error', (e) => reject(Object.assign(new TypeError('fetch failed'), { cause: e })));
      if (body instanceof Readable) {
        body.on('error', (e) => req.destroy(e));
        body.pipe(req);
      } else if (body === undefined || body === null) req.end();
      else if (typeof body === 'string' || body instanceof Uint8Array) req.end(body);
      else reject(new TypeError('tlsFetch: unsupported body type'));
    });
    const status = res.statusCode ?? 0;
    const location = res.headers.location;
    if (REDIRECTS.has(status) && location && init.redirect !== 'manual') {
      res.resume();
      if (hops >= 20) throw new TypeError('fetch failed', { cause: new Error('redirect count exceeded') });
      const next = new URL(location, url);
      const toGet = status === 303 || ((status === 301 || status === 302) && method === 'POST');
      if (!toGet && body instanceof Readable) throw new TypeError('fetch failed', { cause: new Error('cannot follow a redirect with a streamed body') });
      const h = { ...headers };
      if (next.origin !== url.origin) delete h.authorization;
      if (toGet) {
        delete h['content-length'];
        delete h['content-type'];
      }
      const nextInit: RequestInit = { ...init, headers: h, ...(toGet ? { method: 'GET', body: null } : {}) };
      return go(next, nextInit, hops + 1);
    }
    const out = new Headers();
    for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) out.append(res.rawHeaders[i], res.rawHeaders[i + 1]);
    const empty = method === 'HEAD' || NULL_BODY.has(status);
    if (empty) res.resume();
    const webBody = empty ? null : (Readable.toWeb(res) as unknown as ReadableStream<Uint8Array>);
    return new Response(webBody, { status, statusText: res.statusMessage ?? '', headers: out });
  };
  return (url, init = {}) => go(new URL(url), init, 0);
}
