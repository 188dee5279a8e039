/**
 * Typed Dockerfile commands and build stages, from the parser's AST (BuildKit's `instructions` package).
 *
 * Two phases, both pure:
 * - `parseStages` types every instruction, validates syntax (flags, argument counts, durations, mount
 *   options, expansion syntax), resolves meta ARGs and FROM lines, and records stage references.
 * - `expandCommand` expands one command's variables with the environment the builder has when it reaches
 *   that step (base image ENV, earlier ENV and ARG steps): it cannot be done up front because the base
 *   image's ENV is only known while building.
 *
 * Which instructions the builder expands (docker's rules): ADD, COPY, ENV, ARG, EXPOSE, FROM, LABEL,
 * STOPSIGNAL, USER, VOLUME, WORKDIR and the `--mount`/`--from`/`--chown`/`--chmod` options. RUN, CMD,
 * ENTRYPOINT, SHELL and HEALTHCHECK are left to the shell at run time; ONBUILD triggers are expanded when
 * they fire in a child build; MAINTAINER is literal.
 */
import { BerthError } from '../../errors.js';
import { type EnvSource, type EscapeChar, expandWord, processWord, splitRawWords } from './expand.js';
import {
  type DockerfileAST,
  type InstructionNode,
  type ParseWarning,
  chompHeredocContent,
  parseDockerfile,
  parseErrorAt,
} from './parser.js';

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

/** Fields every command carries: where it came from. */
export interface CommandBase {
  line: number;
  endLine: number;
  /** The instruction as written (continuations joined). */
  original: string;
}

export interface FromCommand extends CommandBase {
  kind: 'FROM';
  /** The image as written (before meta ARG expansion). */
  image: string;
  /** Stage name, lower-cased. */
  name?: string;
  /** `--platform` as written. */
  platform?: string;
}

export interface RunMountBase {
  target?: string;
  /** true for `ro`/`readonly`; bind mounts are read-only unless `rw`. */
  readonly: boolean;
}
export interface BindMount extends RunMountBase {
  type: 'bind';
  source?: string;
  /** Stage name/index or image the source is taken from; the build context when unset. */
  from?: string;
}
export interface CacheMount extends RunMountBase {
  type: 'cache';
  /** Cache id; the target when not given. */
  id?: string;
  sharing: 'shared' | 'private' | 'locked';
  source?: string;
  from?: string;
  mode?: number;
  uid?: number;
  gid?: number;
}
export interface TmpfsMount extends RunMountBase {
  type: 'tmpfs';
  /** Bytes; undefined for the kernel default. */
  size?: number;
}
export interface SecretMount extends RunMountBase {
  type: 'secret' | 'ssh';
  id?: string;
  /** Expose the secret as this environment variable (secret mounts only). */
  env?: string;
  required: boolean;
  mode?: number;
  uid?: number;
  gid?: number;
}
/** A parsed `RUN --mount=...`. String fields are expanded by `expandCommand`; numbers are literal. */
export type RunMount = BindMount | CacheMount | TmpfsMount | SecretMount;

/** A heredoc body used by RUN or as a COPY/ADD source; leading tabs already stripped for `<<-`. */
export interface HeredocFile {
  name: string;
  data: string;
  /** Whether variables in `data` are expanded (delimiter unquoted). Only COPY/ADD expand bodies. */
  expand: boolean;
}

export interface RunCommand extends CommandBase {
  kind: 'RUN';
  /** `shell`: args is [command line] to run with the stage's SHELL; `exec`: args is argv. */
  form: 'shell' | 'exec';
  args: string[];
  heredocs: HeredocFile[];
  mounts: RunMount[];
  network?: 'default' | 'none' | 'host';
  security?: 'sandbox' | 'insecure';
}

export interface CopyCommand extends CommandBase {
  kind: 'COPY' | 'ADD';
  /** Source paths (or URLs / git refs for ADD) as written. */
  sources: string[];
  /** Sources given as heredocs: the file name is `name`. */
  sourceContents: HeredocFile[];
  dest: string;
  /** COPY only: stage name, index or image to copy from. */
  from?: string;
  chown?: string;
  chmod?: string;
  link: boolean;
  exclude: string[];
  parents: boolean;
  /** ADD only. */
  checksum?: string;
  /** ADD only. */
  keepGitDir: boolean;
  /** ADD only: `--unpack` given explicitly. */
  unpack?: boolean;
}

export interface KeyValue {
  key: string;
  value: string;
}

export interface EnvCommand extends CommandBase {
  kind: 'ENV';
  /** Raw (unexpanded, quotes intact) until expandCommand. */
  pairs: KeyValue[];
  /** `ENV key value` (one pair, the rest of the line is the value). */
  legacy: boolean;
}
export interface LabelCommand extends CommandBase {
  kind: 'LABEL';
  labels: KeyValue[];
  legacy: boolean;
}
export interface ArgDeclaration {
  key: string;
  /** The default as written; undefined when the ARG has no `=`. */
  value?: string;
}
export interface ArgCommand extends CommandBase {
  kind: 'ARG';
  args: ArgDeclaration[];
}
export interface WorkdirCommand extends CommandBase {
  kind: 'WORKDIR';
  path: string;
}
export interface UserCommand extends CommandBase {
  kind: 'USER';
  user: string;
}
export interface ExposeCommand extends CommandBase {
  kind: 'EXPOSE';
  /** As written; after expandCommand normalised to `port[-end]/proto`. */
  ports: string[];
}
export interface VolumeCommand extends CommandBase {
  kind: 'VOLUME';
  volumes: string[];
}
export interface ExecFormCommand extends CommandBase {
  kind: 'CMD' | 'ENTRYPOINT';
  form: 'shell' | 'exec';
  /** shell: [command line] (empty when no argument); exec: argv. */
  args: string[];
}
export interface HealthcheckCommand extends CommandBase {
  kind: 'HEALTHCHECK';
  /** docker's Healthcheck.Test: ['NONE'], ['CMD', ...argv] or ['CMD-SHELL', line]. */
  test: string[];
  /** Nanoseconds; 0 = inherit/default. */
  intervalNs: number;
  timeoutNs: number;
  startPeriodNs: number;
  startIntervalNs: number;
  /** 0 = inherit/default. */
  retries: number;
}
export interface ShellCommand extends CommandBase {
  kind: 'SHELL';
  shell: string[];
}
export interface StopsignalCommand extends CommandBase {
  kind: 'STOPSIGNAL';
  signal: string;
}
export interface OnbuildCommand extends CommandBase {
  kind: 'ONBUILD';
  /** The trigger as written, stored in the image and parsed again by a child build. */
  expression: string;
  /** Upper-cased keyword of the trigger. */
  trigger: string;
}
export interface MaintainerCommand extends CommandBase {
  kind: 'MAINTAINER';
  maintainer: string;
}

/** One typed instruction of a stage (FROM is the stage itself, see Stage). */
export type Command =
  | RunCommand
  | CopyCommand
  | EnvCommand
  | LabelCommand
  | ArgCommand
  | WorkdirCommand
  | UserCommand
  | ExposeCommand
  | VolumeCommand
  | ExecFormCommand
  | HealthcheckCommand
  | ShellCommand
  | StopsignalCommand
  | OnbuildCommand
  | MaintainerCommand;

/** A reference from a stage to another stage or image (FROM, COPY --from, RUN --mount from=). */
export interface StageRef {
  /** Expanded with the ARGs and ENVs known statically at that point; lower-cased when it names a stage. */
  ref: string;
  line: number;
  via: 'FROM' | 'COPY' | 'MOUNT';
}

export interface Stage {
  /** Lower-cased `AS` name. */
  name?: string;
  index: number;
  /** The FROM image expanded with meta ARGs: an image reference, 'scratch', or a stage name. */
  baseName: string;
  /** Set when baseName names another stage. */
  baseStage?: number;
  /** `FROM --platform=` expanded and parsed. */
  platform?: Platform;
  from: FromCommand;
  commands: Command[];
  startLine: number;
  /** Every stage/image this stage refers to, in order. */
  refs: StageRef[];
}

export interface MetaArg {
  key: string;
  /** --build-arg value, else the expanded default; undefined when neither. */
  value?: string;
}

export interface ParseStagesOptions {
  buildArgs?: Readonly<Record<string, string>>;
  /** Target platform (TARGET* args). */
  platform: Platform;
  /** Build host platform (BUILD* args); the target platform when not given. */
  buildPlatform?: Platform;
  filename?: string;
}

export interface ParsedStages {
  metaArgs: MetaArg[];
  stages: Stage[];
  /** Escape char of the Dockerfile, to pass to expandCommand. */
  escape: EscapeChar;
  /** The values of the predefined platform args (TARGETPLATFORM, BUILDOS, ...). */
  predefinedArgs: Record<string, string>;
  warnings: ParseWarning[];
}

/** Proxy args: usable in RUN without an ARG declaration, and kept out of image history and cache keys. */
export const PROXY_ARGS = [
  'HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy', 'FTP_PROXY', 'ftp_proxy', 'NO_PROXY', 'no_proxy',
  'ALL_PROXY', 'all_proxy',
];

const STAGE_NAME_RE = /^[a-z][a-z0-9-_.]*$/;

class Ctx {
  readonly warnings: ParseWarning[] = [];
  constructor(
    readonly filename: string,
    readonly escapeChar: EscapeChar,
  ) {}
  fail(line: number, msg: string): BerthError {
    return parseErrorAt(this.filename, line, msg);
  }
  warn(line: number, rule: string, message: string): void {
    this.warnings.push({ line, rule, message });
  }
  /** Expands for validation or static analysis; syntax errors carry the line. */
  expand(word: string, env: EnvSource, line: number, skipUnset = false): string {
    try {
      return expandWord(word, env, { escape: this.escapeChar, skipUnset });
    } catch (e) {
      throw this.fail(line, (e as Error).message);
    }
  }
}

/** Builder flags of one instruction, checked against what it accepts (BuildKit's BFlags). */
class Flags {
  private readonly used = new Map<string, string[]>();
  constructor(
    node: InstructionNode,
    spec: Record<string, 'string' | 'strings' | 'bool'>,
    ctx: Ctx,
  ) {
    for (const f of node.flags) {
      const type = Object.hasOwn(spec, f.name) ? spec[f.name] : undefined;
      if (!type) throw ctx.fail(node.startLine, `unknown flag: ${f.name}`);
      const prev = this.used.get(f.name);
      if (prev && type !== 'strings') throw ctx.fail(node.startLine, `duplicate flag specified: ${f.name}`);
      if (type === 'bool') {
        if (f.value !== undefined && !['true', 'false'].includes(f.value.toLowerCase())) {
          throw ctx.fail(node.startLine, `expecting boolean value for flag ${f.name}, not: ${f.value}`);
        }
      } else if (f.value === undefined) {
        throw ctx.fail(node.startLine, `missing a value on flag: ${f.name}`);
      }
      this.used.set(f.name, [...(prev ?? []), f.value ?? 'true']);
    }
  }
  string(name: string): string | undefined {
    return this.used.get(name)?.[0];
  }
  strings(name: string): string[] {
    return this.used.get(name) ?? [];
  }
  bool(name: string): boolean {
    return this.used.get(name)?.[0]?.toLowerCase() === 'true';
  }
  has(name: string): boolean {
    return this.used.has(name);
  }
}

const base = (n: InstructionNode): CommandBase => ({ line: n.startLine, endLine: n.endLine, original: n.original });
const textArgs = (n: InstructionNode): string => (typeof n.args === 'string' ? n.args : '');
const whitespaceWords = (s: string): string[] => s.split(/\s+/).filter((w) => w !== '');

/** Parses a FROM node. */
function parseFrom(n: InstructionNode, ctx: Ctx): FromCommand {
  const flags = new Flags(n, { platform: 'string' }, ctx);
  const words = whitespaceWords(textArgs(n));
  if (words.length !== 1 && words.length !== 3) throw ctx.fail(n.startLine, 'FROM requires either one or three arguments');
  const cmd: FromCommand = { kind: 'FROM', ...base(n), image: words[0] };
  if (words.length === 3) {
    if (words[1].toLowerCase() !== 'as') throw ctx.fail(n.startLine, 'FROM requires either one or three arguments');
    const name = words[2].toLowerCase();
    if (!STAGE_NAME_RE.test(name)) {
      throw ctx.fail(n.startLine, `invalid name for build stage: "${words[2]}", name can't start with a number or contain symbols`);
    }
    cmd.name = name;
  }
  const platform = flags.string('platform');
  if (platform !== undefined) cmd.platform = platform;
  return cmd;
}

/** Parses one non-FROM node into a typed command. Fails with `invalid_argument` naming the line. */
function parseCommand(n: InstructionNode, ctx: Ctx): Command {
  const b = base(n);
  const text = textArgs(n);
  const noFlags = () => new Flags(n, {}, ctx);
  switch (n.keyword) {
    case 'RUN': {
      const flags = new Flags(n, { mount: 'strings', network: 'string', security: 'string' }, ctx);
      if (!n.json && text === '') throw ctx.fail(n.startLine, 'RUN requires at least one argument');
      const cmd: RunCommand = {
        kind: 'RUN',
        ...b,
        form: n.json ? 'exec' : 'shell',
        args: n.json ? (n.args as string[]) : [text],
        heredocs: n.heredocs.map((h) => ({ name: h.name, data: h.chomp ? chompHeredocContent(h.content) : h.content, expand: h.expand })),
        mounts: flags.strings('mount').map((m) => parseMount(m, n.startLine, ctx)),
      };
      const network = flags.string('network');
      if (network !== undefined) {
        if (network !== 'default' && network !== 'none' && network !== 'host') {
          throw ctx.fail(n.startLine, `unsupported network mode: ${network} (use default, none or host)`);
        }
        cmd.network = network;
      }
      const security = flags.string('security');
      if (security !== undefined) {
        if (security !== 'sandbox' && security !== 'insecure') {
          throw ctx.fail(n.startLine, `unsupported security mode: ${security} (use sandbox or insecure)`);
        }
        cmd.security = security;
      }
      return cmd;
    }
    case 'COPY':
    case 'ADD': {
      const isAdd = n.keyword === 'ADD';
      const flags = new Flags(
        n,
        isAdd
          ? { chown: 'string', chmod: 'string', link: 'bool', exclude: 'strings', checksum: 'string', 'keep-git-dir': 'bool', unpack: 'bool' }
          : { from: 'string', chown: 'string', chmod: 'string', link: 'bool', exclude: 'strings', parents: 'bool' },
        ctx,
      );
      const words = n.json ? (n.args as string[]) : whitespaceWords(text);
      if (words.length < 2) {
        throw ctx.fail(
          n.startLine,
          words.length === 0
            ? `${n.keyword} requires at least two arguments, but none were provided. Destination could not be determined`
            : `${n.keyword} requires at least two arguments, but only one was provided. Destination could not be determined`,
        );
      }
      const sources: string[] = [];
      const sourceContents: HeredocFile[] = [];
      let nextDoc = 0;
      for (const w of words.slice(0, -1)) {
        // Heredoc words take the bodies in order (two `<<EOF` sources are two files).
        const candidate = n.json ? undefined : n.heredocs[nextDoc];
        const doc = candidate && heredocWordName(w) === candidate.name ? n.heredocs[nextDoc++] : undefined;
        if (doc) sourceContents.push({ name: doc.name, data: doc.chomp ? chompHeredocContent(doc.content) : doc.content, expand: doc.expand });
        else sources.push(w);
      }
      const cmd: CopyCommand = {
        kind: n.keyword as 'COPY' | 'ADD',
        ...b,
        sources,
        sourceContents,
        dest: words[words.length - 1],
        link: flags.bool('link'),
        exclude: flags.strings('exclude'),
        parents: flags.bool('parents'),
        keepGitDir: flags.bool('keep-git-dir'),
      };
      for (const k of ['from', 'chown', 'chmod', 'checksum'] as const) {
        const v = flags.string(k);
        if (v !== undefined) cmd[k] = v;
      }
      if (flags.has('unpack')) cmd.unpack = flags.bool('unpack');
      return cmd;
    }
    case 'ENV':
    case 'LABEL': {
      noFlags();
      const { pairs, legacy } = parseNameVal(text, n.keyword, n.startLine, ctx);
      if (legacy) {
        ctx.warn(n.startLine, 'LegacyKeyValueFormat', `"${n.keyword} key=value" should be used instead of legacy "${n.keyword} key value" format`);
      }
      return n.keyword === 'ENV' ? { kind: 'ENV', ...b, pairs, legacy } : { kind: 'LABEL', ...b, labels: pairs, legacy };
    }
    case 'ARG': {
      noFlags();
      const words = splitRawWords(text, ctx.escapeChar);
      if (words.length === 0) throw ctx.fail(n.startLine, 'ARG requires at least one argument');
      const args = words.map((w): ArgDeclaration => {
        const eq = w.indexOf('=');
        if (eq === 0) throw ctx.fail(n.startLine, 'ARG names can not be blank');
        return eq < 0 ? { key: w } : { key: w.slice(0, eq), value: w.slice(eq + 1) };
      });
      return { kind: 'ARG', ...b, args };
    }
    case 'WORKDIR':
    case 'USER':
    case 'STOPSIGNAL':
    case 'MAINTAINER': {
      noFlags();
      if (text === '') throw ctx.fail(n.startLine, `${n.keyword} requires exactly one argument`);
      if (n.keyword === 'WORKDIR') return { kind: 'WORKDIR', ...b, path: text };
      if (n.keyword === 'USER') return { kind: 'USER', ...b, user: text };
      if (n.keyword === 'STOPSIGNAL') return { kind: 'STOPSIGNAL', ...b, signal: text };
      ctx.warn(n.startLine, 'MaintainerDeprecated', 'Maintainer instruction is deprecated in favor of using label');
      return { kind: 'MAINTAINER', ...b, maintainer: text };
    }
    case 'EXPOSE': {
      noFlags();
      const ports = whitespaceWords(text);
      if (ports.length === 0) throw ctx.fail(n.startLine, 'EXPOSE requires at least one argument');
      return { kind: 'EXPOSE', ...b, ports };
    }
    case 'VOLUME': {
      noFlags();
      const volumes = n.json ? (n.args as string[]) : whitespaceWords(text);
      if (volumes.length === 0) throw ctx.fail(n.startLine, 'VOLUME requires at least one argument');
      if (volumes.some((v) => v.trim() === '')) throw ctx.fail(n.startLine, 'VOLUME specified can not be an empty string');
      return { kind: 'VOLUME', ...b, volumes };
    }
    case 'CMD':
    case 'ENTRYPOINT': {
      noFlags();
      if (!n.json) {
        ctx.warn(
          n.startLine,
          'JSONArgsRecommended',
          `JSON arguments recommended for ${n.keyword} to prevent unintended behavior related to OS signals`,
        );
      }
      return {
        kind: n.keyword,
        ...b,
        form: n.json ? 'exec' : 'shell',
        args: n.json ? (n.args as string[]) : text === '' ? [] : [text],
      };
    }
    case 'SHELL': {
      noFlags();
      if (!n.json) throw ctx.fail(n.startLine, 'SHELL requires the arguments to be in JSON form');
      if ((n.args as string[]).length === 0) throw ctx.fail(n.startLine, 'SHELL requires at least one argument');
      return { kind: 'SHELL', ...b, shell: n.args as string[] };
    }
    case 'HEALTHCHECK':
      return parseHealthcheck(n, ctx);
    case 'ONBUILD':
      noFlags();
      return { kind: 'ONBUILD', ...b, expression: text, trigger: n.trigger?.keyword ?? '' };
    default:
      throw ctx.fail(n.startLine, `unknown instruction: ${n.keyword}`);
  }
}

/** The heredoc name a COPY source word refers to (`<<EOF`, `<<-"EOF"`), or undefined. */
function heredocWordName(word: string): string | undefined {
  const m = /^\d*<<-?([^<]+)$/.exec(word);
  if (!m) return undefined;
  try {
    const words = processWord(m[1], {}, { skipUnset: true }).words;
    return words.length === 1 ? words[0] : undefined;
  } catch {
    return undefined;
  }
}

/** ENV/LABEL: `key=value ...`, or the legacy `key value` where the value is the rest of the line. */
function parseNameVal(text: string, keyword: string, line: number, ctx: Ctx): { pairs: KeyValue[]; legacy: boolean } {
  const words = splitRawWords(text, ctx.escapeChar);
  if (words.length === 0) throw ctx.fail(line, `${keyword} requires at least one argument`);
  if (!words[0].includes('=')) {
    const m = /^(\S+)\s+([\s\S]+)$/.exec(text);
    if (!m) throw ctx.fail(line, `${keyword} must have two arguments`);
    return { pairs: [{ key: m[1], value: m[2] }], legacy: true };
  }
  const pairs = words.map((w) => {
    const eq = w.indexOf('=');
    if (eq < 0) throw ctx.fail(line, `Syntax error - can't find = in "${w}". Must be of the form: name=value`);
    if (eq === 0) throw ctx.fail(line, `${keyword} names can not be blank`);
    return { key: w.slice(0, eq), value: w.slice(eq + 1) };
  });
  return { pairs, legacy: false };
}

/** Splits CSV fields as Go's encoding/csv does for one record (quotes group, "" is a quote). */
function csvFields(s: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  let atStart = true;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (quoted) {
      if (c === '"' && s[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cur += c;
    } else if (c === ',') {
      out.push(cur);
      cur = '';
      atStart = true;
      continue;
    } else if (c === '"' && atStart) quoted = true;
    else cur += c;
    atStart = false;
  }
  out.push(cur);
  return out;
}

const MOUNT_TYPES = new Set(['bind', 'cache', 'tmpfs', 'secret', 'ssh']);

/** Parses `--mount` options (BuildKit's runmount.go). */
function parseMount(spec: string, line: number, ctx: Ctx): RunMount {
  const fields = csvFields(spec).filter((f) => f !== '');
  const kv: [string, string | undefined][] = fields.map((f) => {
    const eq = f.indexOf('=');
    return eq < 0 ? [f.toLowerCase(), undefined] : [f.slice(0, eq).toLowerCase(), f.slice(eq + 1)];
  });
  const typeField = kv.find(([k]) => k === 'type');
  const type = typeField?.[1]?.toLowerCase() ?? 'bind';
  if (!MOUNT_TYPES.has(type)) throw ctx.fail(line, `unsupported mount type "${type}"`);
  const m: Record<string, unknown> = { type, readonly: type === 'bind' };
  if (type === 'cache') m.sharing = 'shared';
  if (type === 'secret' || type === 'ssh') m.required = false;
  const num = (k: string, v: string, radix: number): number => {
    const n = radix === 8 ? Number.parseInt(v, 8) : Number(v);
    const ok = radix === 8 ? /^[0-7]+$/.test(v) : /^\d+$/.test(v);
    if (!ok || !Number.isFinite(n)) throw ctx.fail(line, `invalid value for ${k}: ${v}`);
    return n;
  };
  const bool = (k: string, v: string | undefined): boolean => {
    if (v === undefined) return true;
    const l = v.toLowerCase();
    if (l !== 'true' && l !== 'false') throw ctx.fail(line, `invalid value for ${k}: ${v}`);
    return l === 'true';
  };
  for (const [k, v] of kv) {
    if (k === 'type') continue;
    if (v === undefined) {
      // Value-less options.
      if (k === 'readonly' || k === 'ro') m.readonly = true;
      else if (k === 'readwrite' || k === 'rw') m.readonly = false;
      else if (k === 'required' && (type === 'secret' || type === 'ssh')) m.required = true;
      else throw ctx.fail(line, `unexpected key '${k}' in '${spec}'`);
      continue;
    }
    switch (k) {
      case 'target':
      case 'dst':
      case 'destination':
        m.target = v;
        break;
      case 'source':
      case 'src':
        m.source = v;
        break;
      case 'from':
        m.from = v;
        break;
      case 'id':
        m.id = v;
        break;
      case 'env':
        if (type !== 'secret') throw ctx.fail(line, `unexpected key '${k}' for mount type ${type}`);
        m.env = v;
        break;
      case 'readonly':
      case 'ro':
        m.readonly = bool(k, v);
        break;
      case 'readwrite':
      case 'rw':
        m.readonly = !bool(k, v);
        break;
      case 'required':
        m.required = bool(k, v);
        break;
      case 'sharing':
        if (v !== 'shared' && v !== 'private' && v !== 'locked') {
          throw ctx.fail(line, `unsupported sharing value "${v}"`);
        }
        m.sharing = v;
        break;
      case 'mode':
        m.mode = num(k, v, 8);
        break;
      case 'uid':
      case 'gid':
        m[k] = num(k, v, 10);
        break;
      case 'size':
        m.size = parseSize(v, line, ctx);
        break;
      default:
        throw ctx.fail(line, `unexpected key '${k}' in '${spec}'`);
    }
  }
  if ((type === 'bind' || type === 'cache' || type === 'tmpfs') && (m.target === undefined || m.target === '')) {
    throw ctx.fail(line, `mount type ${type} requires a target: --mount=type=${type},target=/path`);
  }
  if (type === 'secret' && m.id === undefined && m.target === undefined && m.env === undefined) {
    throw ctx.fail(line, 'secret mount requires an id or a target');
  }
  if (type !== 'bind' && type !== 'cache' && (m.from !== undefined || m.source !== undefined)) {
    throw ctx.fail(line, `mount type ${type} does not support from or source`);
  }
  return m as unknown as RunMount;
}

function parseSize(v: string, line: number, ctx: Ctx): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?$/i.exec(v);
  if (!m) throw ctx.fail(line, `invalid size: ${v}`);
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m[2].toLowerCase() as '' | 'k' | 'm' | 'g' | 't'];
  return Math.floor(Number(m[1]) * mult);
}

const DURATION_UNITS: Record<string, number> = { ns: 1, us: 1e3, 'µs': 1e3, 'μs': 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

/**
 * Parses a Go duration (`1m30s`, `500ms`, `1.5h`, `0`) to nanoseconds, as time.ParseDuration.
 * Returns undefined when the text is not a duration.
 */
export function parseDuration(text: string): number | undefined {
  let s = text;
  let sign = 1;
  if (s.startsWith('-') || s.startsWith('+')) {
    if (s[0] === '-') sign = -1;
    s = s.slice(1);
  }
  if (s === '0') return 0;
  if (s === '') return undefined;
  let total = 0;
  const re = /^(\d+\.?\d*|\.\d+)(ns|us|\u00b5s|\u03bcs|ms|s|m|h)/;
  while (s !== '') {
    const m = re.exec(s);
    if (!m) return undefined;
    total += Number(m[1]) * DURATION_UNITS[m[2]];
    s = s.slice(m[0].length);
  }
  return sign * Math.round(total);
}

function parseHealthcheck(n: InstructionNode, ctx: Ctx): HealthcheckCommand {
  const flags = new Flags(
    n,
    { interval: 'string', timeout: 'string', 'start-period': 'string', 'start-interval': 'string', retries: 'string' },
    ctx,
  );
  const text = textArgs(n);
  const m = /^(\S+)(?:\s+([\s\S]*))?$/.exec(text);
  if (!m) throw ctx.fail(n.startLine, 'HEALTHCHECK requires at least one argument');
  const type = m[1].toUpperCase();
  const rest = (m[2] ?? '').trim();
  let test: string[];
  if (type === 'NONE') {
    if (rest !== '') throw ctx.fail(n.startLine, 'HEALTHCHECK NONE takes no arguments');
    test = ['NONE'];
  } else if (type === 'CMD') {
    if (rest === '') throw ctx.fail(n.startLine, 'Missing command after HEALTHCHECK CMD');
    const json = rest.startsWith('[') ? safeJSONStrings(rest) : undefined;
    if (json === 'not-strings') throw ctx.fail(n.startLine, 'when using JSON array syntax, arrays must be comprised of strings only');
    test = json ? ['CMD', ...json] : ['CMD-SHELL', rest];
  } else {
    throw ctx.fail(n.startLine, `Unknown type "${type}" in HEALTHCHECK (try CMD)`);
  }
  const duration = (name: string): number => {
    const v = flags.string(name);
    if (v === undefined || v === '') return 0;
    const d = parseDuration(v);
    if (d === undefined) throw ctx.fail(n.startLine, `time: invalid duration "${v}" for --${name}`);
    if (d < 0) throw ctx.fail(n.startLine, `--${name} cannot be negative: ${v}`);
    if (d !== 0 && d < 1e6) throw ctx.fail(n.startLine, `--${name} cannot be less than 1ms: ${v}`);
    return d;
  };
  let retries = 0;
  const r = flags.string('retries');
  if (r !== undefined && r !== '') {
    if (!/^-?\d+$/.test(r)) throw ctx.fail(n.startLine, `invalid value for --retries: ${r}`);
    retries = Number(r);
    if (retries < 0) throw ctx.fail(n.startLine, `--retries cannot be negative (${r})`);
  }
  return {
    kind: 'HEALTHCHECK',
    ...base(n),
    test,
    intervalNs: duration('interval'),
    timeoutNs: duration('timeout'),
    startPeriodNs: duration('start-period'),
    startIntervalNs: duration('start-interval'),
    retries,
  };
}

function safeJSONStrings(s: string): string[] | undefined | 'not-strings' {
  try {
    const v: unknown = JSON.parse(s);
    if (!Array.isArray(v)) return undefined;
    return v.every((x) => typeof x === 'string') ? (v as string[]) : 'not-strings';
  } catch {
    return undefined;
  }
}

/** `os/arch[/variant]` -> Platform, undefined when malformed. */
export function parsePlatform(s: string): Platform | undefined {
  const parts = s.trim().toLowerCase().split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => p === '')) return undefined;
  return parts[2] !== undefined ? { os: parts[0], architecture: parts[1], variant: parts[2] } : { os: parts[0], architecture: parts[1] };
}

export const formatPlatform = (p: Platform): string => `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`;

/** The predefined platform ARGs (usable in FROM without declaration; inside a stage after `ARG NAME`). */
export function predefinedArgs(target: Platform, build: Platform = target): Record<string, string> {
  return {
    TARGETPLATFORM: formatPlatform(target),
    TARGETOS: target.os,
    TARGETARCH: target.architecture,
    TARGETVARIANT: target.variant ?? '',
    BUILDPLATFORM: formatPlatform(build),
    BUILDOS: build.os,
    BUILDARCH: build.architecture,
    BUILDVARIANT: build.variant ?? '',
  };
}

const SECRET_KEY_RE = /(?:^|_)(?:apikey|auth|credential|credentials|key|password|pword|passwd|secret|token)(?:_|$)/i;

/**
 * Types a parsed Dockerfile into stages. Resolves meta ARGs (ARG before the first FROM; a --build-arg
 * wins over the default) and expands each FROM image and --platform with them plus the predefined args.
 * Validates every command and the expansion syntax of every word the builder will expand, so a build
 * fails before any step runs. Fails with `invalid_argument` naming the line: no FROM, instruction before
 * FROM, bad flags or arguments, duplicate or reserved stage name, bad platform, empty base image name.
 */
export function parseStages(ast: DockerfileAST, opts: ParseStagesOptions): ParsedStages {
  const ctx = new Ctx(opts.filename ?? 'Dockerfile', ast.escape);
  ctx.warnings.push(...ast.warnings);
  const buildArgs = opts.buildArgs ?? {};
  const predefined = predefinedArgs(opts.platform, opts.buildPlatform);
  const metaArgs: MetaArg[] = [];
  const metaEnv = new Map<string, string>(Object.entries(predefined));
  const declaredMeta = new Set<string>();
  const stages: Stage[] = [];
  let current: Stage | undefined;

  for (const n of ast.instructions) {
    if (n.keyword === 'FROM') {
      current = startStage(n, stages, ctx, metaEnv, declaredMeta, predefined);
      stages.push(current);
      continue;
    }
    if (!current) {
      if (n.keyword !== 'ARG') {
        throw ctx.fail(n.startLine, `no build stage in current context: ${n.keyword} must come after FROM (only ARG may precede it)`);
      }
      const cmd = parseCommand(n, ctx) as ArgCommand;
      for (const a of cmd.args) {
        const key = ctx.expand(a.key, metaEnv, n.startLine);
        const given = Object.hasOwn(buildArgs, key) ? buildArgs[key] : undefined;
        const value = given ?? (a.value !== undefined ? ctx.expand(a.value, metaEnv, n.startLine) : undefined);
        metaArgs.push(value !== undefined ? { key, value } : { key });
        declaredMeta.add(key);
        if (value !== undefined) metaEnv.set(key, value);
        else metaEnv.delete(key);
      }
      continue;
    }
    current.commands.push(parseCommand(n, ctx));
  }
  if (stages.length === 0) throw ctx.fail(ast.instructions.at(-1)?.endLine ?? 1, 'the Dockerfile has no FROM instruction');

  const seen = new Map<string, Stage>();
  for (const s of stages) {
    if (s.name === undefined) continue;
    const prev = seen.get(s.name);
    if (prev) throw ctx.fail(s.startLine, `duplicate stage name "${s.name}" (first defined on line ${prev.startLine})`);
    seen.set(s.name, s);
  }
  for (const s of stages) {
    // FROM can only name a stage defined before it; otherwise the name is an image.
    const target = seen.get(s.baseName.toLowerCase());
    if (target && target.index < s.index) s.baseStage = target.index;
    validateStage(s, ctx, { buildArgs, metaArgs, predefinedArgs: predefined });
  }
  ctx.warnings.sort((a, b) => a.line - b.line);
  return { metaArgs, stages, escape: ast.escape, predefinedArgs: predefined, warnings: ctx.warnings };
}

function startStage(
  n: InstructionNode,
  stages: Stage[],
  ctx: Ctx,
  metaEnv: Map<string, string>,
  declaredMeta: Set<string>,
  predefined: Record<string, string>,
): Stage {
  const from = parseFrom(n, ctx);
  const detail = processWordAt(from.image, metaEnv, n.startLine, ctx);
  for (const v of detail.unset) {
    if (!declaredMeta.has(v) && !Object.hasOwn(predefined, v)) {
      ctx.warn(n.startLine, 'UndefinedArgInFrom', `FROM argument '${v}' is not declared`);
    }
  }
  const baseName = detail.value;
  if (baseName === '') {
    throw ctx.fail(n.startLine, `base name (${from.image}) should not be blank`);
  }
  const stage: Stage = { index: stages.length, baseName, from, commands: [], startLine: n.startLine, refs: [] };
  if (from.name !== undefined) stage.name = from.name;
  stage.refs.push({ ref: baseName.toLowerCase(), line: n.startLine, via: 'FROM' });
  if (from.platform !== undefined) {
    const p = ctx.expand(from.platform, metaEnv, n.startLine);
    const parsed = parsePlatform(p);
    if (!parsed) throw ctx.fail(n.startLine, `failed to parse platform ${p}: expected os/arch[/variant]`);
    stage.platform = parsed;
    if (/^\$\{?TARGETPLATFORM\}?$/.test(from.platform)) {
      ctx.warn(n.startLine, 'RedundantTargetPlatform', 'Setting platform to predefined $TARGETPLATFORM in FROM is redundant as this is the default behavior');
    } else if (!from.platform.includes('$')) {
      const nm = from.name ?? '';
      if (!nm.includes(parsed.os) && !nm.includes(parsed.architecture)) {
        ctx.warn(n.startLine, 'FromPlatformFlagConstDisallowed', `FROM --platform flag should not use constant value "${from.platform}"`);
      }
    }
  }
  // Casing rules (BuildKit's StageNameCasing, FromAsCasing).
  const words = whitespaceWords(textArgs(n));
  if (words.length === 3) {
    if (words[2] !== words[2].toLowerCase()) ctx.warn(n.startLine, 'StageNameCasing', `Stage name '${words[2]}' should be lowercase`);
    const fromWord = n.original.split(/\s+/)[0];
    const upper = (s: string) => s === s.toUpperCase();
    if (upper(fromWord) !== upper(words[1]) && (upper(fromWord) || fromWord === fromWord.toLowerCase())) {
      ctx.warn(n.startLine, 'FromAsCasing', `'${words[1]}' and '${fromWord}' keywords' casing do not match`);
    }
    if (from.name === 'scratch' || from.name === 'context') {
      ctx.warn(n.startLine, 'ReservedStageName', `'${from.name}' is reserved and should not be used as a stage name`);
    }
  }
  const ref = baseName.toLowerCase();
  const isStage = stages.some((s) => s.name === ref);
  if (!isStage && ref !== 'scratch') {
    const lastPart = baseName.split('/').at(-1) ?? '';
    if (!baseName.includes('@') && (!lastPart.includes(':') || lastPart.endsWith(':latest'))) {
      ctx.warn(
        n.startLine,
        'UnpinnedBaseImage',
        `Base image '${baseName}' ${lastPart.includes(':') ? 'uses the latest tag' : 'has no tag'}; pin a version or digest for reproducible builds`,
      );
    }
  }
  return stage;
}

function processWordAt(word: string, env: EnvSource, line: number, ctx: Ctx) {
  try {
    return processWord(word, env, { escape: ctx.escapeChar });
  } catch (e) {
    throw ctx.fail(line, (e as Error).message);
  }
}

/**
 * The static walk of one stage: checks expansion syntax of every expanded word, records stage refs
 * (--from, mount from=) expanded with what is known statically, and runs the per-stage lint rules.
 * Variables from the base image are unknown here, so unset variables are left as written.
 */
function validateStage(stage: Stage, ctx: Ctx, argContext: ArgContext): void {
  const env = new Map<string, string>();
  const counts = new Map<string, number>();
  let absoluteWorkdir = false;
  for (const cmd of stage.commands) {
    counts.set(cmd.kind, (counts.get(cmd.kind) ?? 0) + 1);
    if (counts.get(cmd.kind) === 2 && (cmd.kind === 'CMD' || cmd.kind === 'ENTRYPOINT' || cmd.kind === 'HEALTHCHECK')) {
      ctx.warn(
        cmd.line,
        'MultipleInstructionsDisallowed',
        `Multiple ${cmd.kind} instructions should not be used in the same stage because only the last one will be used`,
      );
    }
    if (cmd.kind === 'ARG') {
      for (const a of cmd.args) {
        const key = ctx.expand(a.key, env, cmd.line, true);
        let value: string | undefined;
        try {
          value = resolveArgValue({ key, value: a.value }, env, argContext, { escape: ctx.escapeChar, skipUnset: true });
        } catch (e) {
          throw ctx.fail(cmd.line, (e as Error).message);
        }
        if (value !== undefined) env.set(key, value);
        if (SECRET_KEY_RE.test(key)) ctx.warn(cmd.line, 'SecretsUsedInArgOrEnv', `Do not use ARG or ENV instructions for sensitive data (ARG "${key}")`);
      }
      continue;
    }
    if (cmd.kind === 'ENV') {
      for (const p of cmd.pairs) {
        const key = ctx.expand(p.key, env, cmd.line, true);
        env.set(key, ctx.expand(p.value, env, cmd.line, true));
        if (SECRET_KEY_RE.test(key)) ctx.warn(cmd.line, 'SecretsUsedInArgOrEnv', `Do not use ARG or ENV instructions for sensitive data (ENV "${key}")`);
      }
      continue;
    }
    // Validate the expansion syntax of everything the builder will expand.
    let expanded: Command;
    try {
      expanded = expandCommand(cmd, env, { escape: ctx.escapeChar, skipUnset: true }).command;
    } catch (e) {
      throw ctx.fail(cmd.line, (e as Error).message.replace(/^[^:]+:\d+: /, ''));
    }
    if (cmd.kind === 'COPY' && cmd.from !== undefined) {
      stage.refs.push({ ref: ctx.expand(cmd.from, env, cmd.line).toLowerCase(), line: cmd.line, via: 'COPY' });
    }
    if (cmd.kind === 'RUN') {
      for (const m of cmd.mounts) {
        if ((m.type === 'bind' || m.type === 'cache') && m.from !== undefined) {
          stage.refs.push({ ref: ctx.expand(m.from, env, cmd.line).toLowerCase(), line: cmd.line, via: 'MOUNT' });
        }
      }
    }
    if (cmd.kind === 'WORKDIR' && expanded.kind === 'WORKDIR') {
      if (/^(?:[/\\$]|[a-zA-Z]:[/\\])/.test(expanded.path)) absoluteWorkdir = true;
      else if (!absoluteWorkdir) {
        ctx.warn(cmd.line, 'WorkdirRelativePath', `Relative workdir '${expanded.path}' can have unexpected results if the base image changes`);
      }
    }
    if (cmd.kind === 'EXPOSE') {
      for (const p of cmd.ports) {
        if (!p.includes('$')) {
          try {
            parseExposedPort(p);
          } catch (e) {
            throw ctx.fail(cmd.line, `EXPOSE ${p}: ${(e as Error).message}`);
          }
        }
        if (p.includes(':')) ctx.warn(cmd.line, 'ExposeInvalidFormat', `EXPOSE instruction should not define an IP address or host-port mapping, found '${p}'`);
        const proto = p.split('/')[1];
        if (proto !== undefined && proto !== proto.toLowerCase()) {
          ctx.warn(cmd.line, 'ExposeProtoCasing', `Defined protocol '${p}' in EXPOSE instruction should be lowercase`);
        }
      }
    }
  }
}

export interface ArgContext {
  buildArgs: Readonly<Record<string, string>>;
  metaArgs: readonly MetaArg[];
  /** TARGETPLATFORM & co (ParsedStages.predefinedArgs): they get their value when declared in a stage. */
  predefinedArgs?: Readonly<Record<string, string>>;
}

/**
 * The value an `ARG key[=default]` inside a stage gives its variable: the --build-arg when given, else
 * the default expanded with `env`, else (for a re-declared meta ARG) the meta ARG's value, else the
 * predefined value (TARGETARCH...). Undefined
 * means the variable is declared but unset.
 */
export function resolveArgValue(
  arg: ArgDeclaration,
  env: EnvSource,
  ctx: ArgContext,
  opts: { escape?: EscapeChar; skipUnset?: boolean } = {},
): string | undefined {
  if (Object.hasOwn(ctx.buildArgs, arg.key)) return ctx.buildArgs[arg.key];
  if (arg.value !== undefined) return expandWord(arg.value, env, opts);
  const meta = ctx.metaArgs.find((m) => m.key === arg.key);
  if (meta) return meta.value;
  const predefined = ctx.predefinedArgs;
  return predefined && Object.hasOwn(predefined, arg.key) ? predefined[arg.key] : undefined;
}

export interface ExpandCommandOptions {
  escape?: EscapeChar;
  /** Keep unset references as written (validation only). */
  skipUnset?: boolean;
}

/**
 * Expands a command's variables with `env` (the ARGs in scope and the ENVs so far, ENV winning over ARG
 * as in docker). Returns a new command of the same kind (RUN/CMD/ENTRYPOINT/SHELL/HEALTHCHECK/ONBUILD/
 * MAINTAINER come back unchanged except RUN's mount options) and the variables it referenced, for the
 * cache key. EXPOSE ports come back normalised to `port[-end]/proto`. Fails with `invalid_argument` on
 * expansion syntax errors, `${v:?msg}`, or an invalid expanded port.
 */
export function expandCommand<C extends Command>(
  cmd: C,
  env: EnvSource,
  opts: ExpandCommandOptions = {},
): { command: C; referenced: string[] } {
  const referenced = new Set<string>();
  const eopts = { escape: opts.escape ?? '\\', skipUnset: opts.skipUnset ?? false };
  const word = (w: string): string => {
    const r = processWord(w, env, eopts);
    for (const v of r.referenced) referenced.add(v);
    return r.value;
  };
  const words = (w: string): string[] => {
    const r = processWord(w, env, eopts);
    for (const v of r.referenced) referenced.add(v);
    return r.words;
  };
  const opt = (w: string | undefined): string | undefined => (w === undefined ? undefined : word(w));
  const c = cmd as Command;
  let out: Command;
  switch (c.kind) {
    case 'ENV':
      out = { ...c, pairs: c.pairs.map((p) => ({ key: word(p.key), value: word(p.value) })) };
      break;
    case 'LABEL':
      out = { ...c, labels: c.labels.map((p) => ({ key: word(p.key), value: word(p.value) })) };
      break;
    case 'ARG':
      out = { ...c, args: c.args.map((a) => (a.value === undefined ? { key: word(a.key) } : { key: word(a.key), value: word(a.value) })) };
      break;
    case 'WORKDIR':
      out = { ...c, path: word(c.path) };
      break;
    case 'USER':
      out = { ...c, user: word(c.user) };
      break;
    case 'STOPSIGNAL':
      out = { ...c, signal: word(c.signal) };
      break;
    case 'VOLUME':
      out = { ...c, volumes: c.volumes.map(word) };
      break;
    case 'EXPOSE': {
      const ports = c.ports.flatMap(words);
      out = { ...c, ports: opts.skipUnset ? ports : ports.map((p) => formatPort(parseExposedPort(p))) };
      break;
    }
    case 'COPY':
    case 'ADD': {
      const copy: CopyCommand = {
        ...c,
        sources: c.sources.map(word),
        dest: word(c.dest),
        exclude: c.exclude.map(word),
        sourceContents: c.sourceContents.map((s) => {
          if (!s.expand) return s;
          const r = processWord(s.data, env, { ...eopts, rawQuotes: true });
          for (const v of r.referenced) referenced.add(v);
          return { ...s, data: r.value };
        }),
      };
      for (const k of ['from', 'chown', 'chmod', 'checksum'] as const) {
        const v = opt(c[k]);
        if (v !== undefined) copy[k] = v;
      }
      out = copy;
      break;
    }
    case 'RUN':
      out = {
        ...c,
        mounts: c.mounts.map((m) => {
          const e: Record<string, unknown> = { ...m };
          for (const k of ['target', 'source', 'from', 'id', 'env']) {
            if (typeof e[k] === 'string') e[k] = word(e[k] as string);
          }
          return e as unknown as RunMount;
        }),
      };
      break;
    default:
      out = c;
  }
  return { command: out as C, referenced: [...referenced] };
}

export interface ExposedPort {
  start: number;
  end: number;
  protocol: 'tcp' | 'udp' | 'sctp';
}

/**
 * Parses an EXPOSE word: `80`, `80/udp`, `8000-8010/tcp` (protocol case-insensitive; a `host:` or
 * `ip:host:` prefix is accepted and ignored, as docker's nat.ParsePortSpecs). Fails with `invalid_argument`.
 */
export function parseExposedPort(spec: string): ExposedPort {
  const slash = spec.lastIndexOf('/');
  const portPart = slash < 0 ? spec : spec.slice(0, slash);
  const proto = (slash < 0 ? 'tcp' : spec.slice(slash + 1)).toLowerCase();
  if (proto !== 'tcp' && proto !== 'udp' && proto !== 'sctp') throw new BerthError('invalid_argument', `invalid proto: ${proto}`);
  const container = portPart.split(':').at(-1) ?? '';
  const m = /^(\d+)(?:-(\d+))?$/.exec(container);
  if (!m) throw new BerthError('invalid_argument', `invalid containerPort: ${container}`);
  const start = Number(m[1]);
  const end = m[2] !== undefined ? Number(m[2]) : start;
  if (start > 65535 || end > 65535 || end < start) throw new BerthError('invalid_argument', `invalid port range: ${container}`);
  return { start, end, protocol: proto };
}

export const formatPort = (p: ExposedPort): string => `${p.start}${p.end !== p.start ? `-${p.end}` : ''}/${p.protocol}`;

/** What each stage depends on: other stages (by index) and external images. */
export interface StageDependencies {
  stages: number[];
  images: string[];
}

/**
 * Resolves every stage's refs (FROM, COPY --from, RUN --mount from=) to stage indexes or images, as
 * BuildKit: FROM names a stage only when that stage comes earlier (else it is an image); --from and
 * mount from= name a stage by name or index, and that stage must come earlier. `scratch` is no
 * dependency. Fails with `invalid_argument` naming the line: a reference to a later stage
 * (`cannot copy from stage "b", it needs to be defined before current stage "a"`), to the stage itself or
 * any cycle (`circular dependency detected on stage: a (a -> a on line 2)`).
 */
export function stageDependencies(stages: readonly Stage[], opts: { filename?: string } = {}): StageDependencies[] {
  const filename = opts.filename ?? 'Dockerfile';
  const byName = new Map(stages.filter((s) => s.name !== undefined).map((s) => [s.name as string, s.index]));
  const label = (i: number) => stages[i].name ?? `stage-${i}`;
  const deps: StageDependencies[] = stages.map((s) => {
    const st = new Set<number>();
    const images = new Set<string>();
    for (const r of s.refs) {
      if (r.via === 'FROM') {
        const named = byName.get(r.ref);
        if (named !== undefined && named < s.index) st.add(named);
        else if (r.ref !== 'scratch' && r.ref !== '') images.add(s.baseName);
        continue;
      }
      let target = byName.get(r.ref);
      if (target === undefined && /^\d+$/.test(r.ref)) {
        target = Number(r.ref);
        if (target >= stages.length) throw parseErrorAt(filename, r.line, `invalid from flag value ${r.ref}: index out of bounds`);
      }
      if (target === undefined) {
        if (r.ref !== 'scratch' && r.ref !== '') images.add(r.ref);
        continue;
      }
      if (target === s.index) {
        throw parseErrorAt(filename, r.line, `circular dependency detected on stage: ${label(target)} (${label(target)} -> ${label(target)} on line ${r.line})`);
      }
      if (target > s.index) {
        throw parseErrorAt(
          filename,
          r.line,
          `cannot copy from stage "${label(target)}", it needs to be defined before current stage "${label(s.index)}"`,
        );
      }
      st.add(target);
    }
    return { stages: [...st].sort((a, b) => a - b), images: [...images] };
  });
  // Cycle detection by DFS, reporting the path.
  const state = new Array<0 | 1 | 2>(stages.length).fill(0);
  const path: number[] = [];
  const visit = (i: number): void => {
    state[i] = 1;
    path.push(i);
    for (const d of deps[i].stages) {
      if (state[d] === 1) {
        const cycle = [...path.slice(path.indexOf(d)), d];
        const lineOf = (from: number, to: number) =>
          stages[from].refs.find((r) => byName.get(r.ref) === to || r.ref === String(to))?.line ?? stages[from].startLine;
        const hops = cycle.slice(1).map((s, k) => `${label(cycle[k])} -> ${label(s)} on line ${lineOf(cycle[k], s)}`);
        throw parseErrorAt(filename, lineOf(i, d), `circular dependency detected on stage: ${label(d)} (${hops.join(', ')})`);
      }
      if (state[d] === 0) visit(d);
    }
    path.pop();
    state[i] = 2;
  };
  for (let i = 0; i < stages.length; i++) if (state[i] === 0) visit(i);
  return deps;
}

/**
 * The stages to build for `target` (a stage name, case-insensitive; the last stage when undefined), in
 * an order where every stage comes after the stages it depends on. Stages not reachable from the
 * target are left out. Fails with `not_found` when the target does not exist, or as stageDependencies.
 */
export function stagesNeededFor(stages: readonly Stage[], target?: string, opts: { filename?: string } = {}): number[] {
  if (stages.length === 0) return [];
  let root: number;
  if (target === undefined || target === '') root = stages.length - 1;
  else {
    const t = stages.find((s) => s.name === target.toLowerCase());
    if (!t) throw new BerthError('not_found', `target stage "${target}" could not be found`);
    root = t.index;
  }
  const deps = stageDependencies(stages, opts);
  const order: number[] = [];
  const done = new Set<number>();
  const visit = (i: number): void => {
    if (done.has(i)) return;
    done.add(i);
    for (const d of deps[i].stages) visit(d);
    order.push(i);
  };
  visit(root);
  return order;
}

/** A finding of `lintDockerfile`, as BuildKit's `build --check` reports. */
export interface LintWarning {
  line: number;
  rule: string;
  message: string;
}

/**
 * Lints a Dockerfile (BuildKit's checks: StageNameCasing, FromAsCasing, ConsistentInstructionCasing,
 * ReservedStageName, JSONArgsRecommended, MaintainerDeprecated, LegacyKeyValueFormat, NoEmptyContinuation,
 * UndefinedArgInFrom, WorkdirRelativePath, MultipleInstructionsDisallowed, RedundantTargetPlatform,
 * FromPlatformFlagConstDisallowed, SecretsUsedInArgOrEnv, ExposeProtoCasing, ExposeInvalidFormat;
 * plus Berth's UnpinnedBaseImage). Honours `# check=skip=...`. Sorted by line. Parse errors are thrown
 * (BerthError invalid_argument), not reported.
 */
export function lintDockerfile(text: string, opts: Partial<ParseStagesOptions> = {}): LintWarning[] {
  const ast = parseDockerfile(text, opts.filename !== undefined ? { filename: opts.filename } : {});
  const parsed = parseStages(ast, { ...opts, platform: opts.platform ?? { os: 'linux', architecture: 'amd64' } });
  const warnings = [...parsed.warnings];
  // `# check=skip=Rule1,Rule2` (or skip=all) turns rules off, as BuildKit's check directive.
  const check = ast.directives.find((d) => d.name === 'check')?.value ?? '';
  const skip = new Set(
    check
      .split(';')
      .map((part) => part.trim())
      .filter((part) => part.startsWith('skip='))
      .flatMap((part) => part.slice(5).split(',').map((r) => r.trim())),
  );
  if (skip.has('all')) return [];
  // ConsistentInstructionCasing: compare each keyword's casing with the majority.
  const written = ast.instructions.map((n) => ({ line: n.startLine, word: n.original.split(/\s+/)[0] }));
  const upper = written.filter((w) => w.word === w.word.toUpperCase()).length;
  const lower = written.filter((w) => w.word === w.word.toLowerCase()).length;
  const majority = upper >= lower ? 'uppercase' : 'lowercase';
  for (const w of written) {
    const ok = majority === 'uppercase' ? w.word === w.word.toUpperCase() : w.word === w.word.toLowerCase();
    if (!ok) warnings.push({ line: w.line, rule: 'ConsistentInstructionCasing', message: `Command '${w.word}' should match the case of the command majority (${majority})` });
  }
  return warnings.filter((w) => !skip.has(w.rule)).sort((a, b) => a.line - b.line);
}


/**
 * The variables a stage's steps see, as the builder walks it: the base image's ENV, then ARG and ENV
 * steps in order. ENV wins over an ARG of the same name (docker's rule); an ARG declared without a value
 * and without a --build-arg or meta value stays unset. `expandStep` expands a command with the current
 * view and applies ARG/ENV commands to the state, so the builder only walks and executes.
 */
export class StageVars {
  private readonly env = new Map<string, string>();
  private readonly args = new Map<string, string>();
  /** ARG names declared so far in this stage (set or not), for the cache key and RUN's environment. */
  readonly declaredArgs = new Set<string>();

  constructor(
    private readonly argContext: ArgContext,
    imageEnv: Readonly<Record<string, string>> = {},
    private readonly escapeChar: EscapeChar = '\\',
  ) {
    for (const [k, v] of Object.entries(imageEnv)) this.env.set(k, v);
  }

  /** The merged view used for expansion. */
  view(): Map<string, string> {
    const m = new Map(this.args);
    for (const [k, v] of this.env) m.set(k, v);
    return m;
  }

  /** ARG values in scope (for RUN's environment and the cache key), ENV-shadowed ones included. */
  argValues(): Map<string, string> {
    return new Map(this.args);
  }

  /**
   * What a RUN step gets besides ENV: the ARGs in scope, and the proxy --build-args (HTTP_PROXY & co),
   * which need no declaration and, as in docker, stay out of the cache key and the image history.
   */
  runArgs(): { args: Map<string, string>; proxy: Map<string, string> } {
    const proxy = new Map<string, string>();
    for (const k of PROXY_ARGS) {
      if (Object.hasOwn(this.argContext.buildArgs, k) && !this.args.has(k)) proxy.set(k, this.argContext.buildArgs[k]);
    }
    return { args: new Map(this.args), proxy };
  }

  /** Expands a command with the current variables, then applies it if it is an ARG or ENV step. */
  expandStep<C extends Command>(cmd: C): { command: C; referenced: string[] } {
    if (cmd.kind === 'ARG') {
      const referenced = new Set<string>();
      const args: ArgDeclaration[] = [];
      for (const a of cmd.args) {
        const k = processWord(a.key, this.view(), { escape: this.escapeChar });
        const value = resolveArgValue({ key: k.value, value: a.value }, this.view(), this.argContext, { escape: this.escapeChar });
        for (const v of k.referenced) referenced.add(v);
        if (a.value !== undefined && !Object.hasOwn(this.argContext.buildArgs, k.value)) {
          for (const v of processWord(a.value, this.view(), { escape: this.escapeChar }).referenced) referenced.add(v);
        }
        this.declaredArgs.add(k.value);
        if (value !== undefined) this.args.set(k.value, value);
        args.push(value !== undefined ? { key: k.value, value } : { key: k.value });
      }
      return { command: { ...cmd, args } as C, referenced: [...referenced] };
    }
    const out = expandCommand(cmd, this.view(), { escape: this.escapeChar });
    if (out.command.kind === 'ENV') for (const p of out.command.pairs) this.env.set(p.key, p.value);
    return out;
  }
}
