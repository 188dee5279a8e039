/**
 * `berth build`: parses flags, prepares the context (directory, tar or Dockerfile on stdin), runs the
 * builder and renders its events BuildKit-style: `#N [stage k/n] RUN ...`, `#N CACHED`, output lines
 * with their time offset, `#N DONE 0.3s`. Plain lines when stderr is not a terminal; on a terminal the
 * same lines with the step titles in bold (`--progress=plain` forces plain, `quiet` prints nothing).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { BuildEvent, BuildOptions } from '../../build/builder.js';
import { BuildContext, StatCache } from '../../build/context.js';
import { BerthError, invalidArgument } from '../../errors.js';
import { familiarString, parseReference, withDefaultTag } from '../../image/reference.js';
import { type ParsedArgs, bool, list, str } from '../args.js';
import type { CliContext } from '../context.js';

function keyValues(items: string[], what: string): Record<string, string> {
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
    const buildArgs = keyValues(list(p, 'build-arg'), 'build-arg');
    if (bool(p, 'check')) {
      const { lintDockerfile } = await import('../../build/dockerfile/instructions.js');
      const warnings = lintDockerfile(context.dockerfileText, { filename: context.dockerfileName, buildArgs });
      for (const w of warnings) ctx.out(`WARNING: ${w.rule} - ${context.dockerfileName}:${w.line}\n${w.message}\n`);
      ctx.out(warnings.length ? `Check complete, ${warnings.length} warning${warnings.length > 1 ? 's have' : ' has'} been found!` : 'Check complete, no warnings found.');
      return warnings.length ? 1 : 0;
    }
    const tags = list(p, 'tag');
    for (const t of tags) parseReference(t);
    const sde = buildArgs.SOURCE_DATE_EPOCH ?? process.env.SOURCE_DATE_EPOCH;
    if (sde !== undefined && !/^\d+$/.test(sde)) throw invalidArgument(`invalid SOURCE_DATE_EPOCH "${sde}": use seconds since the epoch`);
    const renderer = quiet ? undefined : plainRenderer(ctx.stderr, progress === 'tty' || (progress === 'auto' && ctx.stderr.isTTY === true));
    const ac = new AbortController();
    const onSig = () => ac.abort();
    process.once('SIGINT', onSig);
    process.once('SIGTERM', onSig);
    const opts: BuildOptions = {
      context,
      tags,
      buildArgs,
      labels: keyValues(list(p, 'label'), 'label'),
      noCache: bool(p, 'no-cache'),
      pull: bool(p, 'pull'),
      secrets: parseSecrets(list(p, 'secret')),
      signal: ac.signal,
      onEvent: (e) => renderer?.(e),
    };
    const target = str(p, 'target');
    if (target) opts.target = target;
    const platform = str(p, 'platform');
    if (platform) opts.platform = platform;
    if (sde !== undefined) opts.sourceDateEpoch = Number(sde);
    const { build: runBuild } = await import('../../build/builder.js');
    let result: Awaited<ReturnType<typeof runBuild>>;
    try {
      result = await runBuild(engine, opts);
    } finally {
      process.removeListener('SIGINT', onSig);
      process.removeListener('SIGTERM', onSig);
    }
    if (!quiet) {
      ctx.err(`writing image ${result.image.id} done`);
      for (const t of tags) ctx.err(`naming to ${familiarString(withDefaultTag(parseReference(t)))} done`);
    }
    const iid = str(p, 'iidfile');
    if (iid) fs.writeFileSync(iid, result.image.id);
    if (quiet) ctx.out(result.image.id);
    return 0;
  } catch (e) {
    if (e instanceof BerthError) throw e;
    throw new BerthError('internal', `build failed: ${(e as Error).message}`, { cause: e });
  } finally {
    context.dispose();
  }
}

/** BuildKit's plain progress lines; `bold` for terminals. */
function plainRenderer(out: NodeJS.WritableStream, bold: boolean): (e: BuildEvent) => void {
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
