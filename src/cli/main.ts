/**
 * Entry point: global options, command lookup, lazy loading of the one handler needed, error -> exit code.
 */
import { type FlagSpec, type ParsedArgs, UsageError, parseArgs } from './args.js';
import { COMMANDS, type CommandDef, findCommand, helpText, isGroup, topLevelHelp } from './commands.js';
import type { CliContext } from './context.js';
import { errorMessage, exitCodeFor } from './exit-codes.js';
import { mark } from '../util/timings.js';
import { stdioStream, writeStdio } from './output.js';

const GLOBAL_FLAGS: FlagSpec[] = [
  { name: 'root', type: 'string', description: 'Root of persistent storage (env BERTH_ROOT)', value: 'dir' },
  { name: 'runroot', type: 'string', description: 'Root of per-boot state (env BERTH_RUNROOT)', value: 'dir' },
  { name: 'runtime', type: 'string', description: 'OCI runtime binary (runc, crun, ...)', value: 'path' },
  { name: 'debug', short: 'D', type: 'bool', description: 'Print error causes and stacks' },
  { name: 'host', short: 'H', type: 'string', description: 'Engine API socket to talk to instead of the local store (env BERTH_HOST)' },
  { name: 'version', short: 'v', type: 'bool', description: 'Print version information and quit' },
  { name: 'help', short: 'h', type: 'bool', description: 'Print usage' },
];

export async function main(argv: string[]): Promise<number> {
  mark('main: entered');
  // Global flags come before the command name.
  let split = 0;
  while (split < argv.length && (argv[split] as string).startsWith('-')) {
    const a = argv[split] as string;
    const needsValue = /^--(root|runroot|runtime|host)$/.test(a) || a === '-H';
    split += needsValue ? 2 : 1;
  }
  let g: ParsedArgs;
  const ctxOut = (l: string) => writeStdio(1, `${l}\n`);
  const ctxErr = (l: string) => writeStdio(2, `${l}\n`);
  try {
    g = parseArgs(argv.slice(0, split), GLOBAL_FLAGS);
  } catch (e) {
    ctxErr(`berth: ${errorMessage(e)}\nSee 'berth --help'.`);
    return 125;
  }
  const rest = argv.slice(split);
  if (g.flags.version) {
    const { VERSION } = await import('../version.js');
    ctxOut(`Berth version ${VERSION}`);
    return 0;
  }
  if (rest.length === 0 || g.flags.help) {
    ctxOut(topLevelHelp());
    return 0;
  }
  const found = findCommand(rest);
  if (!found) {
    ctxErr(
      isGroup(rest[0])
        ? `berth: '${rest[0]} ${rest[1]}' is not a berth command.\nSee 'berth ${rest[0]} --help'`
        : `berth: '${rest[0]}' is not a berth command.\nSee 'berth --help'`,
    );
    return 1;
  }
  const { def, consumed } = found;
  if (!def.handler) {
    // A group name alone (e.g. `berth image`): show its subcommands.
    ctxOut(helpText(def));
    return 0;
  }
  const debug = g.flags.debug === true;
  const globals = {
    root: (g.flags.root as string | undefined) ?? process.env.BERTH_ROOT ?? '/var/lib/berth',
    runroot: (g.flags.runroot as string | undefined) ?? process.env.BERTH_RUNROOT ?? '/run/berth',
    runtime: (g.flags.runtime as string | undefined) ?? process.env.BERTH_RUNTIME,
    debug,
  };
  let engineP: Promise<import('../engine/engine.js').Engine> | undefined;
  const ctx: CliContext = {
    engine: () => {
      engineP ??= import('../engine/engine.js').then(
        (m) => new m.Engine({ root: globals.root, runroot: globals.runroot, runtime: globals.runtime }),
      );
      return engineP;
    },
    // Getters: building a stdio stream costs milliseconds that most commands need not pay.
    get stdout() {
      return stdioStream(1);
    },
    get stderr() {
      return stdioStream(2);
    },
    get stdin() {
      return process.stdin;
    },
    globals,
    out: ctxOut,
    print: (text: string) => writeStdio(1, text),
    err: ctxErr,
  };
  const cmdArgv = rest.slice(consumed);
  const runFamily = def.runFamily === true;
  try {
    const p = parseArgs(cmdArgv, [...def.flags, { name: 'help', type: 'bool', description: 'Print usage' }], {
      interspersed: def.interspersed ?? true,
    });
    if (p.flags.help) {
      ctxOut(helpText(def));
      return 0;
    }
    checkArity(def, p.args);
    // Remote mode: covered commands go through the Engine API (src/api/remote.ts); the monitor's
    // callbacks and the service itself always work on the local store.
    const host = (g.flags.host as string | undefined) ?? process.env.BERTH_HOST;
    if (host && !['container cleanup', 'container healthcheck-monitor', 'container port-proxy', 'system service'].includes(def.path.join(' '))) {
      const { runRemote } = await import('../api/remote.js');
      return await runRemote(host, def, p, ctx);
    }
    const handler = await def.handler();
    mark('main: handler loaded');
    const code = await handler(ctx, p);
    return typeof code === 'number' ? code : 0;
  } catch (e) {
    if (e instanceof UsageError) {
      ctxErr(`berth: ${e.message}\nSee 'berth ${def.path.join(' ')} --help'.`);
      return 125;
    }
    ctxErr(`Error: ${errorMessage(e)}`);
    if (debug && e instanceof Error) {
      ctxErr(e.stack ?? '');
      if (e.cause) ctxErr(`caused by: ${e.cause instanceof Error ? (e.cause.stack ?? e.cause.message) : String(e.cause)}`);
    }
    return exitCodeFor(e, { runFamily });
  } finally {
    // Closed, not just dropped at exit: the last connection's close checkpoints the WAL and removes
    // it (about 2 ms), which keeps a store on a full disk writable (a reliability test found that
    // a WAL left behind made the next metadata write fail with SQLITE_FULL).
    if (engineP) (await engineP.catch(() => undefined))?.close();
    mark('main: store closed');
  }
}

function checkArity(def: CommandDef, args: string[]): void {
  const { min = 0, max = Number.POSITIVE_INFINITY } = def.args ?? {};
  const name = `berth ${def.path.join(' ')}`;
  if (args.length < min) {
    throw new UsageError(
      `"${name}" requires ${min === max ? 'exactly' : 'at least'} ${min} argument${min === 1 ? '' : 's'}.\nUsage:  ${def.usage}`,
    );
  }
  if (args.length > max) {
    throw new UsageError(
      `"${name}" accepts ${max === 0 ? 'no arguments' : `at most ${max} argument${max === 1 ? '' : 's'}`}.\nUsage:  ${def.usage}`,
    );
  }
}

export { COMMANDS };
