/**
 * Human-readable sizes, durations, signals and container statuses, matching what docker prints
 * (github.com/docker/go-units, Go's time.ParseDuration, moby's signal map and State.String()).
 * Pure functions; the current time is always a parameter.
 */
import { invalidArgument } from '../errors.js';

const DECIMAL_UNITS = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB', 'ZB', 'YB'];
const BINARY_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB', 'ZiB', 'YiB'];

/**
 * Go's `%.<prec>g` for a finite non-negative number, rounding half to even on the exact binary value
 * as Go does (so 999.6 at precision 3 becomes "1e+03", exactly like docker's "1e+03MB").
 */
function goG(x: number, prec: number): string {
  if (x === 0) return '0';
  // toExponential(99) is exact for every double we format here (sizes below 2^63 scaled by 1000^k).
  const [m, e] = x.toExponential(99).split('e') as [string, string];
  let digits = m.replace('.', '').replace(/0+$/, '') || '0';
  let dp = Number(e) + 1; // decimal point position
  if (digits.length > prec) {
    const rest = digits.slice(prec);
    let head = digits.slice(0, prec);
    const last = Number(head[head.length - 1]);
    const up = rest[0] as string > '5' || (rest[0] === '5' && (/[1-9]/.test(rest.slice(1)) || last % 2 === 1));
    if (up) {
      const n = (BigInt(head) + 1n).toString();
      if (n.length > head.length) dp++;
      head = n.slice(0, prec);
    }
    digits = head.replace(/0+$/, '') || '0';
  }
  const exp = dp - 1;
  let eprec = prec;
  if (eprec > digits.length && digits.length >= dp) eprec = digits.length;
  if (exp < -4 || exp >= eprec) {
    const mant = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    return `${mant}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  }
  if (dp <= 0) return `0.${'0'.repeat(-dp)}${digits}`;
  if (dp >= digits.length) return digits + '0'.repeat(dp - digits.length);
  return `${digits.slice(0, dp)}.${digits.slice(dp)}`;
}

function scaled(size: number, base: number, units: string[], prec: number): string {
  let i = 0;
  let s = size;
  while (s >= base && i < units.length - 1) {
    s /= base;
    i++;
  }
  return `${s < 0 || !Number.isFinite(s) ? String(s) : goG(s, prec)}${units[i]}`;
}

/**
 * Decimal size with `precision` significant digits (go-units HumanSizeWithPrecision): `docker images`
 * and `ps -s` use 3 ("4.26MB", "1.23kB", "0B"); `system df` uses HumanSize, i.e. 4.
 */
export function humanSize(bytes: number, precision = 3): string {
  return scaled(bytes, 1000, DECIMAL_UNITS, precision);
}

/** Binary size with 4 significant digits (go-units BytesSize), as `docker stats` prints: "1.5MiB". */
export function bytesSize(bytes: number): string {
  return scaled(bytes, 1024, BINARY_UNITS, 4);
}

/**
 * go-units HumanDuration: "Less than a second", "1 second", "3 seconds", "About a minute", "5 minutes",
 * "About an hour", "2 hours", "3 days", "2 weeks", "4 months", "2 years". Negative durations read as
 * "Less than a second".
 */
export function humanDuration(ms: number): string {
  const seconds = Math.trunc(ms / 1000);
  if (seconds < 1) return 'Less than a second';
  if (seconds === 1) return '1 second';
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.trunc(ms / 60_000);
  if (minutes === 1) return 'About a minute';
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.round(ms / 3_600_000); // time.Duration.Round(time.Hour): halves away from zero
  if (hours === 1) return 'About an hour';
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.trunc(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.trunc(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.trunc(hours / 24 / 30)} months`;
  return `${Math.trunc(Math.trunc(ms / 3_600_000) / 24 / 365)} years`;
}

/** "2 minutes ago", as docker prints CREATED columns. */
export function timeAgo(at: number, now: number = Date.now()): string {
  return `${humanDuration(now - at)} ago`;
}

const BINARY_MULT: Record<string, number> = { k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 };

/**
 * go-units RAMInBytes, for `--memory`, `--shm-size` and friends: a number with an optional one-space
 * separated binary suffix (b, k, kb, kib, m, ...; case-insensitive): "512m" -> 536870912, "1.5g", "100".
 * Fractions are truncated to whole bytes. Fails with `invalid_argument`: "invalid size: '...'" or
 * "invalid suffix: '...'".
 */
export function parseBytes(s: string): number {
  let sep = -1;
  for (let i = s.length - 1; i >= 0; i--) {
    if ('0123456789. '.includes(s[i] as string)) {
      sep = i;
      break;
    }
  }
  if (sep < 0) throw invalidArgument(`invalid size: '${s}'`);
  const num = s[sep] === ' ' ? s.slice(0, sep) : s.slice(0, sep + 1);
  const sfx = s.slice(sep + 1);
  if (!/^[0-9]*\.?[0-9]*$/.test(num) || !/[0-9]/.test(num)) throw invalidArgument(`invalid size: '${s}'`);
  const size = Number(num);
  if (sfx === '') return Math.trunc(size);
  const lower = sfx.toLowerCase();
  const badSuffix = () => invalidArgument(`invalid suffix: '${lower}'`);
  if (sfx.length > 3) throw badSuffix();
  if (lower === 'b') return Math.trunc(size);
  const mult = BINARY_MULT[lower[0] as string];
  if (mult === undefined) throw badSuffix();
  if ((lower.length === 2 && lower[1] !== 'b') || (lower.length === 3 && lower.slice(1) !== 'ib')) throw badSuffix();
  return Math.trunc(size * mult);
}

/** The same name as go-units, for readers coming from docker's code. */
export const ramInBytes = parseBytes;

const DURATION_UNITS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  'µs': 1e-3,
  'μs': 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/**
 * Go's time.ParseDuration ("300ms", "-1.5h", "1h2m3.5s", "0"), returned in milliseconds (may be
 * fractional). Fails with `invalid_argument` and Go's wording: `time: invalid duration "x"`,
 * `time: missing unit in duration "1"`, `time: unknown unit "d" in duration "1d"`.
 */
export function parseDuration(s: string): number {
  const quoted = JSON.stringify(s);
  let rest = s;
  let sign = 1;
  if (rest[0] === '-' || rest[0] === '+') {
    if (rest[0] === '-') sign = -1;
    rest = rest.slice(1);
  }
  if (rest === '0') return 0;
  if (rest === '') throw invalidArgument(`time: invalid duration ${quoted}`);
  let total = 0;
  while (rest !== '') {
    const num = /^([0-9]*)(?:\.([0-9]*))?/.exec(rest) as RegExpExecArray;
    if (num[0] === '' || num[0] === '.') throw invalidArgument(`time: invalid duration ${quoted}`);
    rest = rest.slice(num[0].length);
    const unit = /^[^0-9.]*/.exec(rest)?.[0] ?? '';
    if (unit === '') throw invalidArgument(`time: missing unit in duration ${quoted}`);
    const mult = DURATION_UNITS[unit];
    if (mult === undefined) throw invalidArgument(`time: unknown unit ${JSON.stringify(unit)} in duration ${quoted}`);
    rest = rest.slice(unit.length);
    total += Number(num[0].startsWith('.') ? `0${num[0]}` : num[0]) * mult;
  }
  if (total > 9_223_372_036_854.775) throw invalidArgument(`time: invalid duration ${quoted}`);
  return sign * total;
}

/** moby's Linux SignalMap (pkg/signal), names without the SIG prefix. */
const SIGNALS: Record<string, number> = {
  HUP: 1, INT: 2, QUIT: 3, ILL: 4, TRAP: 5, ABRT: 6, IOT: 6, BUS: 7, FPE: 8, KILL: 9, USR1: 10, SEGV: 11,
  USR2: 12, PIPE: 13, ALRM: 14, TERM: 15, STKFLT: 16, CHLD: 17, CLD: 17, CONT: 18, STOP: 19, TSTP: 20,
  TTIN: 21, TTOU: 22, URG: 23, XCPU: 24, XFSZ: 25, VTALRM: 26, PROF: 27, WINCH: 28, IO: 29, POLL: 29,
  PWR: 30, SYS: 31, RTMIN: 34, RTMAX: 64,
};

/**
 * docker's ParseSignal: "SIGTERM", "term", "15", "RTMIN+3", "SIGRTMAX-2" -> Linux signal number.
 * Fails with `invalid_argument` "Invalid signal: X" for unknown names, 0, or numbers outside 1-64
 * (docker itself passes any non-zero number through and lets the kernel refuse it).
 */
export function parseSignal(s: string): number {
  const bad = () => invalidArgument(`Invalid signal: ${s}`, { hint: 'use a name like SIGTERM or a number from 1 to 64' });
  if (/^[+-]?[0-9]+$/.test(s)) {
    const n = Number(s);
    if (n < 1 || n > 64) throw bad();
    return n;
  }
  const name = s.toUpperCase().replace(/^SIG/, '');
  const rt = /^RT(MIN|MAX)([+-])([0-9]+)$/.exec(name);
  if (rt) {
    const off = Number(rt[3]);
    if (rt[1] === 'MIN' && rt[2] === '+' && off >= 1 && off <= 15) return 34 + off;
    if (rt[1] === 'MAX' && rt[2] === '-' && off >= 1 && off <= 14) return 64 - off;
    throw bad();
  }
  const n = SIGNALS[name];
  if (n === undefined) throw bad();
  return n;
}

/** What `statusString` needs of a container's state. Times are epoch milliseconds; 0 means never. */
export interface ContainerStatusInput {
  status: 'created' | 'running' | 'paused' | 'restarting' | 'exited' | 'removing' | 'dead';
  exitCode: number;
  startedAt: number;
  finishedAt: number;
  health?: 'starting' | 'healthy' | 'unhealthy';
}

/**
 * The STATUS column of `docker ps`, as moby's State.String() words it: "Created", "Up 3 seconds",
 * "Up 3 seconds (Paused)", "Up 5 minutes (healthy)", "Up 2 seconds (health: starting)",
 * "Restarting (1) 3 seconds ago", "Exited (0) 2 minutes ago", "Removal In Progress", "Dead".
 * A container that never started reads "Created" whatever its status.
 */
export function statusString(st: ContainerStatusInput, now: number): string {
  const since = (t: number) => humanDuration(now - t);
  switch (st.status) {
    case 'paused':
      return `Up ${since(st.startedAt)} (Paused)`;
    case 'restarting':
      return `Restarting (${st.exitCode}) ${since(st.finishedAt)} ago`;
    case 'running':
      if (st.health) return `Up ${since(st.startedAt)} (${st.health === 'starting' ? 'health: starting' : st.health})`;
      return `Up ${since(st.startedAt)}`;
    case 'removing':
      return 'Removal In Progress';
    case 'dead':
      return 'Dead';
    default:
      if (st.startedAt === 0 || st.status === 'created') return 'Created';
      if (st.finishedAt === 0) return '';
      return `Exited (${st.exitCode}) ${since(st.finishedAt)} ago`;
  }
}
