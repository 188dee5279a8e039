/**
 * `berth build`: parses flags, prepares the context (directory, tar or Dockerfile on stdin), runs the
 * builder and renders its events BuildKit-style: `#N [stage k/n] RUN ...`, `#N CACHED`, output lines
 * with their time offset, `#N DONE 0.3s`. Plain lines when stderr is not a terminal; on a terminal the
 * live view BuildKit-style (`[+] Building 1.2s (4/8)`, one line per step with its time, the last lines
 * of output of running steps), redrawn in place (`--progress=plain` forces plain, `quiet` prints nothing).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { BuildEvent, BuildOptions } from '../../build/builder.js';
import { BuildContext, type NamedContext, StatCache, namedContextsFromFlags } from '../../build/context.js';
import { parseSshFlags } from '../../build/ssh-agent.js';
import { BerthError, invalidArgument } from '../../errors.js';
import { familiarString, parseReference, withDefaultTag } from '../../image/reference.js';
import { type ParsedArgs, bool, list, str } from '../args.js';
import type { CliContext } from '../context.js';

/** `--build-arg` / `--label` values (a bare build-arg NAME takes its value from the environment, as docker). */
export function buildKeyValues(items: string[], what: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const it of items) {
    const i = it.indexOf('=');
    if (i <= 0) {
      // docker: `--build-arg NAME` takes the value from the environment.
      if (what === 'build-arg' && process.env[it] !== undefined) out[it] = process.env[it] as string;
      else if (what !== 'build-arg') throw invalidArgument(`invalid --${what} "${it}": use KEY=VALUE`);
      continue;
    }
    out[it.slice(0, i)] = it.slice(i + 1);
  }
  return out;
}

function parseSecrets(items: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const it of items) {
    const f: Record<string, string> = {};
    for (const part of it.split(',')) {
      const i = part.indexOf('=');
      if (i > 0) f[part.slice(0, i)] = part.slice(i + 1);
    }
    const id = f.id;
    let src = f.src ?? f.source;
    if (!id) throw invalidArgument(`invalid --secret "${it}": use id=NAME,src=FILE`);
    if (!src && f.env !== undefined) {
      const tmp = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'berth-secret-')), 'v');
      fs.writeFileSync(tmp, process.env[f.env] ?? '', { mode: 0o600 });
      src = tmp;
    }
    if (!src) src = path.join(os.homedir(), '.secrets', id);
    if (!fs.existsSync(src)) throw invalidArgument(`secret ${id}: file ${src} not found`);
    out[id] = path.resolve(src);
  }
  return out;
}

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c as string));
  return Buffer.concat(chunks);
}

function looksLikeArchive(b: Buffer): boolean {
  if (b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b) return true;
  if (b.length >= 4 && b.readUInt32LE(0) === 0xfd2fb528) return true;
  return b.length >= 262 && b.toString('latin1', 257, 262) === 'ustar';
}

export async function build(ctx: CliContext, p: ParsedArgs): Promise<number> {
  const engine = await ctx.engine();
  const src = p.args[0] as string;
  const file = str(p, 'file');
  const quiet = bool(p, 'quiet') || str(p, 'progress') === 'quiet';
  const progress = str(p, 'progress') ?? 'auto';
  if (!['auto', 'plain', 'tty', 'quiet', 'rawjson'].includes(progress)) throw invalidArgument(`invalid --progress "${progress}": use auto, plain, tty or quiet`);
  if (/^(https?|git):\/\/|^git@/.test(src)) {
    throw invalidArgument(`building from a remote context (${src}) is not supported`, { hint: 'clone or download it and build the directory' });
  }
  const statCache = new StatCache(path.join(engine.paths.cache, 'build-stat-cache.json'));
  const named: Record<string, NamedContext> = {};
  let context: BuildContext;
  if (src === '-') {
    if (file === '-') throw invalidArgument('cannot read both the context and the Dockerfile from stdin');
    const data = await readAll(ctx.stdin);
    if (looksLikeArchive(data)) {
      context = await BuildContext.fromTar(Readable.from([data]), path.join(engine.paths.cache, 'build-tmp'), { ...(file ? { dockerfilePath: file } : {}), statCache });
    } else {
      context = BuildContext.empty(path.join(engine.paths.cache, 'build-tmp'), { dockerfileText: data.toString('utf8'), statCache });
    }
  } else if (file === '-') {
    context = BuildContext.fromDir(src, { dockerfileText: (await readAll(ctx.stdin)).toString('utf8'), statCache });
  } else {
    context = BuildContext.fromDir(src, { ...(file ? { dockerfilePath: path.resolve(file) } : {}), statCache });
  }
  try {
    const buildArgs = buildKeyValues(list(p, 'build-arg'), 'build-arg');
    if (bool(p, 'check')) {
      const { lintDockerfile } = await import('../../build/dockerfile/instructions.js');
      const warnings = lintDockerfile(context.dockerfileText, { filename: context.dockerfileName, buildArgs });
      for (const w of warnings) ctx.out(`WARNING: ${w.rule} - ${context.dockerfileName}:${w.line}\n${w.message}\n`);
      ctx.out(warnings.length ? `Check complete, ${warnings.length} warning${warnings.length > 1 ? 's have' : ' has'} been found!` : 'Check complete, no warnings found.');
      return warnings.length ? 1 : 0;
    }
    const tags = list(p, 'tag');
    for (const t of tags) parseReference(t);
    Object.assign(named, namedContextsFromFlags(list(p, 'build-context'), statCache));
    const outputFlag = str(p, 'output');
    const output = outputFlag !== undefined ? (await import('../../build/output.js')).parseBuildOutput(outputFlag) : undefined;
    if (output?.type === 'tar' && output.dest === '-' && ctx.stdout.isTTY) throw invalidArgument('refusing to write the build output (a tar) to a terminal: redirect it or give dest=FILE');
    const sde = buildArgs.SOURCE_DATE_EPOCH ?? process.env.SOURCE_DATE_EPOCH;
    if (sde !== undefined && !/^\d+$/.test(sde)) throw invalidArgument(`invalid SOURCE_DATE_EPOCH "${sde}": use seconds since the epoch`);
    const live = progress === 'tty' || (progress === 'auto' && ctx.stderr.isTTY === true);
    const view = quiet ? undefined : live ? ttyRenderer(ctx.stderr) : { onEvent: plainRenderer(ctx.stderr, false), finish: () => undefined };
    const renderer = view?.onEvent;
    const ac = new AbortController();
    const onSig = () => ac.abort();
    process.once('SIGINT', onSig);
    process.once('SIGTERM', onSig);
    const opts: BuildOptions = {
      context,
      tags,
      buildArgs,
      labels: buildKeyValues(list(p, 'label'), 'label'),
      noCache: bool(p, 'no-cache'),
      pull: bool(p, 'pull'),
      secrets: parseSecrets(list(p, 'secret')),
      ssh: parseSshFlags(list(p, 'ssh')),
      namedContexts: named,
      signal: ac.signal,
      onEvent: (e) => renderer?.(e),
    };
    const target = str(p, 'target');
    if (target) opts.target = target;
    const network = str(p, 'network');
    const platform = str(p, 'platform');
    if (platform) opts.platform = platform;
    if (sde !== undefined) opts.sourceDateEpoch = Number(sde);
    const { build: runBuild, buildNetworkMode } = await import('../../build/builder.js');
    if (network !== undefined) opts.network = buildNetworkMode(network);
    let result: Awaited<ReturnType<typeof runBuild>>;
    try {
      result = await runBuild(engine, opts);
    } finally {
      view?.finish();
      process.removeListener('SIGINT', onSig);
      process.removeListener('SIGTERM', onSig);
    }
    if (!quiet) {
      ctx.err(`writing image ${result.image.id} done`);
      for (const t of tags) ctx.err(`naming to ${familiarString(withDefaultTag(parseReference(t)))} done`);
    }
    if (output) await (await import('../../build/output.js')).exportBuildOutput(engine, result.image, output, ctx.stdout);
    const iid = str(p, 'iidfile');
    if (iid) fs.writeFileSync(iid, result.image.id);
    // The tar of `-o -` owns stdout.
    if (quiet && !(output?.type === 'tar' && output.dest === '-')) ctx.out(result.image.id);
    return 0;
  } catch (e) {
    if (e instanceof BerthError) throw e;
    throw new BerthError('internal', `build failed: ${(e as Error).message}`, { cause: e });
  } finally {
    context.dispose();
    for (const nc of Object.values(named)) if (nc.type === 'dir') nc.context.dispose();
  }
}

/** BuildKit's plain progress lines; `bold` for terminals. */
export function plainRenderer(out: NodeJS.WritableStream, bold: boolean): (e: BuildEvent) => void {
  const b = (s: string) => (bold ? `\x1b[1m${s}\x1b[0m` : s);
  const w = (s: string) => out.write(`${s}\n`);
  return (e) => {
    switch (e.type) {
      case 'vertex':
        w(b(`#${e.id} ${e.name}`));
        break;
      case 'cached':
        w(`#${e.id} CACHED`);
        break;
      case 'log':
        w(`#${e.id} ${e.elapsed.toFixed(3)} ${e.line}`);
        break;
      case 'done':
        w(`#${e.id} DONE ${e.seconds.toFixed(1)}s`);
        break;
      case 'error':
        w(`#${e.id} ERROR: ${e.message}`);
        break;
      case 'warning':
        w(`WARNING: ${e.message}`);
        break;
    }
    if (e.type === 'cached' || e.type === 'done' || e.type === 'error') w('');
  };
}

interface VertexView {
  name: string;
  start: number;
  end?: number;
  cached: boolean;
  error?: string;
  logs: string[];
}

/**
 * BuildKit's TTY view: redrawn in place on every event and every 100 ms while a step runs; finished
 * steps show their duration, running ones a live timer and their last 6 output lines. Warnings are
 * printed under the final view. Lines are cut to the terminal width so the cursor arithmetic holds.
 */
export function ttyRenderer(out: NodeJS.WriteStream): { onEvent: (e: BuildEvent) => void; finish: () => void } {
  const t0 = Date.now();
  const vertices = new Map<number, VertexView>();
  const warnings: string[] = [];
  let drawn = 0;
  let timer: NodeJS.Timeout | undefined;
  const width = () => Math.max(40, (out.columns ?? 100) - 1);
  const cut = (s: string) => (s.length > width() ? `${s.slice(0, width() - 1)}…` : s);
  const secs = (ms: number) => `${(ms / 1000).toFixed(1)}s`;
  const draw = (final: boolean) => {
    const now = Date.now();
    const list = [...vertices.values()];
    const done = list.filter((v) => v.end !== undefined).length;
    const lines = [`[+] Building ${secs(now - t0)} (${done}/${list.length})${final ? ' FINISHED' : ''}`];
    for (const v of list) {
      const time = v.cached ? '0.0s' : secs((v.end ?? now) - v.start);
      const name = `${v.cached ? 'CACHED ' : ''}${v.error !== undefined ? 'ERROR ' : ''}${v.name}`;
      const left = ` => ${name}`;
      const pad = Math.max(1, width() - left.length - time.length);
      lines.push(left.length + time.length + 1 > width() ? cut(`${left} ${time}`) : `${left}${' '.repeat(pad)}${time}`);
      if ((v.end === undefined || v.error !== undefined) && v.logs.length) for (const l of v.logs.slice(-6)) lines.push(cut(` => => # ${l}`));
    }
    let buf = drawn > 0 ? `\x1b[${drawn}A\r\x1b[J` : '';
    buf += `${lines.map((l) => `\x1b[2K${l}`).join('\n')}\n`;
    out.write(buf);
    drawn = lines.length;
  };
  const tick = () => {
    const running = [...vertices.values()].some((v) => v.end === undefined);
    if (running && !timer) {
      timer = setInterval(() => draw(false), 100);
      timer.unref();
    } else if (!running && timer) {
      clearInterval(timer);
      timer = undefined;
    }
  };
  return {
    onEvent: (e) => {
      const v = 'id' in e ? vertices.get(e.id) : undefined;
      switch (e.type) {
        case 'vertex':
          vertices.set(e.id, { name: e.name, start: Date.now(), cached: false, logs: [] });
          break;
        case 'cached':
          if (v) Object.assign(v, { cached: true, end: Date.now() });
          break;
        case 'log':
          v?.logs.push(e.line);
          if (v && v.logs.length > 50) v.logs.splice(0, v.logs.length - 50);
          break;
        case 'done':
          if (v) v.end = Date.now();
          break;
        case 'error':
          if (v) Object.assign(v, { error: e.message, end: Date.now() });
          break;
        case 'warning':
          warnings.push(e.message);
          return;
      }
      tick();
      draw(false);
    },
    finish: () => {
      if (timer) clearInterval(timer);
      timer = undefined;
      draw(true);
      for (const w of warnings) out.write(`WARNING: ${w}\n`);
    },
  };
}
