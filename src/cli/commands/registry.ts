/**
 * Registry commands: pull, push, login, logout, registry serve; and the pull that run/create do
 * for a missing image. Parsing and printing only: the work is in engine/pull.ts, engine/push.ts,
 * engine/registries.ts and registry/.
 */
import { BerthError, invalidArgument } from '../../errors.js';
import { familiarString, parseReference } from '../../image/reference.js';
import { humanSize } from '../../util/human.js';
import { type ParsedArgs, bool, str } from '../args.js';
import type { RegistryCredentials } from '../../registry/client.js';
import type { CliContext } from '../context.js';
import { progressRenderer } from '../progress.js';

export async function pull(ctx: CliContext, p: ParsedArgs): Promise<number> {
  const name = p.args[0] as string;
  const quiet = bool(p, 'quiet');
  const allTags = bool(p, 'all-tags');
  const ref = parseReference(name);
  if (!allTags && ref.tag === undefined && ref.digest === undefined && !quiet) ctx.out('Using default tag: latest');
  const { pullImage } = await import('../../engine/pull.js');
  const engine = await ctx.engine();
  const r = quiet ? undefined : progressRenderer(ctx.stdout);
  const started = Date.now();
  const platform = str(p, 'platform');
  const report = await interruptible((signal) =>
    pullImage(engine, name, {
      allTags,
      signal,
      ...(platform ? { platform } : {}),
      ...(r ? { onProgress: r.sink } : {}),
    }),
  );
  r?.done();
  debugSpeed(ctx, 'pulled', report.images.reduce((a, i) => a + i.bytes, 0), started);
  ctx.out(allTags ? `${ref.domain}/${ref.path}` : (report.images[0]?.reference ?? name));
  return 0;
}

export async function push(ctx: CliContext, p: ParsedArgs): Promise<number> {
  const name = p.args[0] as string;
  const quiet = bool(p, 'quiet');
  const { pushImage } = await import('../../engine/push.js');
  const engine = await ctx.engine();
  const r = quiet ? undefined : progressRenderer(ctx.stdout);
  const started = Date.now();
  const report = await interruptible((signal) =>
    pushImage(engine, name, { allTags: bool(p, 'all-tags'), signal, ...(r ? { onProgress: r.sink } : {}) }),
  );
  r?.done();
  debugSpeed(ctx, 'pushed', report.pushed.reduce((a, t) => a + t.bytes, 0), started);
  if (quiet) for (const t of report.pushed) ctx.out(`${familiarString(parseReference(report.repository))}:${t.tag}`);
  return 0;
}

/**
 * Runs `fn` with a signal that SIGINT/SIGTERM abort, so an interrupted pull or push removes what it
 * wrote before exiting. A second signal exits at once (system check --repair collects leftovers).
 */
async function interruptible<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ac = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    if (ac.signal.aborted) process.exit(sig === 'SIGINT' ? 130 : 143);
    ac.abort(new BerthError('canceled', `interrupted by ${sig}`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await fn(ac.signal);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** With --debug, how fast the layer bytes went (informational). */
function debugSpeed(ctx: CliContext, what: string, bytes: number, started: number): void {
  if (!ctx.globals.debug) return;
  const s = Math.max(Date.now() - started, 1) / 1000;
  ctx.err(`${what} ${humanSize(bytes)} of layers in ${s.toFixed(2)}s (${humanSize(bytes / s)}/s)`);
}

/**
 * `run`/`create`: pull the image first when the --pull policy asks for it. Docker's wording goes to
 * stderr ("Unable to find image 'busybox:latest' locally", then the pull's progress).
 */
export async function pullForRun(ctx: CliContext, p: ParsedArgs, image: string): Promise<void> {
  const engine = await ctx.engine();
  // The common case costs one lookup: the engine's pull code loads only when a pull may happen.
  if ((str(p, 'pull') ?? 'missing') === 'missing' && engine.images.tryResolve(image)) return;
  const { ensureImage, parsePullPolicy } = await import('../../engine/pull.js');
  const policy = parsePullPolicy(str(p, 'pull'));
  const quiet = bool(p, 'quiet');
  const r = quiet ? undefined : progressRenderer(ctx.stderr);
  const platform = str(p, 'platform');
  await interruptible((signal) =>
    ensureImage(engine, image, {
      signal,
      policy,
      ...(platform ? { platform } : {}),
      ...(r ? { onProgress: r.sink } : {}),
      onMissing: (n) => ctx.err(`Unable to find image '${n}' locally`),
    }),
  );
  r?.done();
}

/** "https://index.docker.io/v1/" -> "docker.io"; "http://h:5000/" -> "h:5000"; "" -> docker.io. */
export function serverHost(arg: string | undefined): string {
  if (!arg) return 'docker.io';
  const h = arg
    .replace(/^[a-z]+:\/\//i, '')
    .replace(/\/.*$/, '')
    .toLowerCase();
  if (!h || /\s/.test(h)) throw invalidArgument(`invalid registry address "${arg}"`);
  return h === 'index.docker.io' || h === 'registry-1.docker.io' ? 'docker.io' : h;
}

export async function login(ctx: CliContext, p: ParsedArgs): Promise<number> {
  const { verifyLogin } = await import('../../engine/registries.js');
  return loginWith(ctx, p, (host, creds) => verifyLogin(host, creds));
}

/**
 * `login` with the credential check supplied: here the registry itself (`verifyLogin`), in remote
 * mode the service's POST /auth (the docker CLI's way with DOCKER_HOST). Either way the credentials
 * are kept by this client, in its config.json. `verify` throws unauthenticated for a wrong password.
 */
export async function loginWith(ctx: CliContext, p: ParsedArgs, verify: (host: string, creds: RegistryCredentials) => Promise<void>): Promise<number> {
  const host = serverHost(p.args[0]);
  const { CredentialStore } = await import('../../registry/credentials.js');
  const store = new CredentialStore();
  let username = str(p, 'username');
  let password = str(p, 'password');
  const fromStdin = bool(p, 'password-stdin');
  if (password !== undefined && fromStdin) throw invalidArgument('--password and --password-stdin are mutually exclusive');
  if (password !== undefined) ctx.err('WARNING! Using --password via the CLI is insecure. Use --password-stdin.');
  if (fromStdin) {
    if (!username) throw invalidArgument('Must provide --username with --password-stdin');
    password = (await readAll(ctx.stdin)).replace(/\r?\n$/, '');
  }
  if (username === undefined && password === undefined) {
    const stored = await store.get(host);
    if (stored) {
      ctx.out('Authenticating with existing credentials...');
      try {
        await verify(host, stored);
        ctx.out('Login Succeeded');
        return 0;
      } catch (e) {
        if (!(e instanceof BerthError && e.code === 'unauthenticated')) throw e;
        ctx.err(`Login did not succeed, error: ${e.message}`);
      }
    }
  }
  if (!username || password === undefined) {
    if (!ctx.stdin.isTTY) throw invalidArgument('Cannot perform an interactive login from a non TTY device');
    if (!username) username = (await prompt(ctx, 'Username: ', false)).trim();
    if (!username) throw invalidArgument('Username is required');
    if (password === undefined) password = await prompt(ctx, 'Password: ', true);
  }
  if (!password) throw invalidArgument('Password is required');
  await verify(host, { username, password });
  await store.store(host, username, password);
  ctx.err(`WARNING! Your credentials are stored unencrypted in '${store.file}'.`);
  ctx.out('Login Succeeded');
  return 0;
}

export async function logout(ctx: CliContext, p: ParsedArgs): Promise<number> {
  const host = serverHost(p.args[0]);
  const { CredentialStore } = await import('../../registry/credentials.js');
  const found = await new CredentialStore().erase(host);
  ctx.out(found ? `Removing login credentials for ${host}` : `Not logged in to ${host}`);
  return 0;
}

export async function registryServe(ctx: CliContext, p: ParsedArgs): Promise<number> {
  const root = str(p, 'root');
  if (!root) throw invalidArgument('--root is required: the directory that holds the registry\'s content');
  const cert = str(p, 'tls-cert');
  const key = str(p, 'tls-key');
  if ((cert === undefined) !== (key === undefined)) throw invalidArgument('--tls-cert and --tls-key go together');
  const htpasswd = str(p, 'htpasswd');
  const { startRegistryServer } = await import('../../registry/server.js');
  const server = await startRegistryServer({
    addr: str(p, 'addr') ?? '127.0.0.1:5000',
    root,
    ...(htpasswd ? { htpasswd } : {}),
    ...(cert && key ? { tls: { cert, key } } : {}),
  });
  ctx.out(`Registry listening on ${server.url} (storage ${root})`);
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      resolve();
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
  await server.close();
  return 0;
}

async function readAll(s: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c as string));
  return Buffer.concat(chunks).toString('utf8');
}

/** Reads one line from the terminal; `hidden` turns echo off (passwords). */
function prompt(ctx: CliContext, question: string, hidden: boolean): Promise<string> {
  const stdin = ctx.stdin;
  ctx.stderr.write(question);
  return new Promise((resolve, reject) => {
    let line = '';
    stdin.setRawMode(true);
    stdin.resume();
    const finish = (err?: Error) => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.off('data', onData);
      ctx.stderr.write('\n');
      if (err) reject(err);
      else resolve(line);
    };
    const onData = (b: Buffer) => {
      for (const ch of b.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return finish();
        if (ch === '\u0003' || ch === '\u0004') return finish(new BerthError('canceled', 'login canceled'));
        if (ch === '\u007f' || ch === '\b') {
          if (line.length) {
            line = line.slice(0, -1);
            if (!hidden) ctx.stderr.write('\b \b');
          }
          continue;
        }
        line += ch;
        if (!hidden) ctx.stderr.write(ch);
      }
    };
    stdin.on('data', onData);
  });
}
