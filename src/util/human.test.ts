import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isBerthError } from '../errors.js';
import { bytesSize, humanDuration, humanSize, parseBytes, parseDuration, parseSignal, statusString, timeAgo } from './human.js';

const invalid = (msg: string) => (e: unknown) => isBerthError(e, 'invalid_argument') && e.message === msg;
const S = 1000;
const M = 60 * S;
const H = 60 * M;
const DAY = 24 * H;

describe('humanSize (HumanSizeWithPrecision 3, as docker images)', () => {
  const cases: [number, string][] = [
    [0, '0B'],
    [1, '1B'],
    [999, '999B'],
    [1000, '1kB'],
    [1234, '1.23kB'],
    [4100, '4.1kB'],
    [1_230_000, '1.23MB'],
    [4_261_398, '4.26MB'],
    [123_456_789, '123MB'],
    [999_600, '1e+03kB'], // Go's %.3g rounds into exponent form; docker prints exactly this
    [1_125, '1.12kB'], // exact tie rounds half to even, like Go
    [1_135, '1.14kB'],
    [1e9, '1GB'],
    [1.5e12, '1.5TB'],
    [1e27, '1e+03YB'],
  ];
  for (const [n, want] of cases) it(`${n} -> ${want}`, () => assert.equal(humanSize(n), want));
  it('precision 4 as HumanSize (system df)', () => {
    assert.equal(humanSize(999_960, 4), '1000kB');
    assert.equal(humanSize(2_746_000, 4), '2.746MB');
  });
});

describe('bytesSize', () => {
  const cases: [number, string][] = [
    [0, '0B'],
    [1023, '1023B'],
    [1024, '1KiB'],
    [1536 * 1024, '1.5MiB'],
    [44 * 1024, '44KiB'],
    [1024 ** 3 * 2.25, '2.25GiB'],
  ];
  for (const [n, want] of cases) it(`${n} -> ${want}`, () => assert.equal(bytesSize(n), want));
});

describe('humanDuration', () => {
  const cases: [number, string][] = [
    [-5 * S, 'Less than a second'],
    [999, 'Less than a second'],
    [1 * S, '1 second'],
    [1999, '1 second'],
    [3 * S, '3 seconds'],
    [59 * S, '59 seconds'],
    [60 * S, 'About a minute'],
    [119 * S, 'About a minute'],
    [5 * M, '5 minutes'],
    [59 * M, '59 minutes'],
    [60 * M, 'About an hour'],
    [89 * M, 'About an hour'],
    [90 * M, '2 hours'],
    [47 * H, '47 hours'],
    [48 * H, '2 days'],
    [3 * DAY, '3 days'],
    [13 * DAY, '13 days'],
    [14 * DAY, '2 weeks'],
    [59 * DAY, '8 weeks'],
    [60 * DAY, '2 months'],
    [4 * 30 * DAY, '4 months'],
    [729 * DAY, '24 months'],
    [730 * DAY, '2 years'],
    [3650 * DAY, '10 years'],
  ];
  for (const [ms, want] of cases) it(`${ms}ms -> ${want}`, () => assert.equal(humanDuration(ms), want));
  it('timeAgo appends ago', () => assert.equal(timeAgo(1_000_000, 1_000_000 + 2 * M), '2 minutes ago'));
});

describe('parseBytes (RAMInBytes)', () => {
  const cases: [string, number][] = [
    ['512m', 512 * 1024 ** 2],
    ['512M', 512 * 1024 ** 2],
    ['1g', 1024 ** 3],
    ['1.5g', 1.5 * 1024 ** 3],
    ['100', 100],
    ['100b', 100],
    ['32kb', 32 * 1024],
    ['32KiB', 32 * 1024],
    ['2 MB', 2 * 1024 ** 2],
    ['1t', 1024 ** 4],
    ['0.5k', 512],
    ['1.7b', 1],
  ];
  for (const [s, want] of cases) it(`${s} -> ${want}`, () => assert.equal(parseBytes(s), want));
  const bad: [string, string][] = [
    ['', "invalid size: ''"],
    ['m', "invalid size: 'm'"],
    ['-1', "invalid size: '-1'"],
    ['1x', "invalid suffix: 'x'"],
    ['1kk', "invalid suffix: 'kk'"],
    ['1mbb', "invalid suffix: 'mbb'"],
    ['1bb', "invalid suffix: 'bb'"],
    ['1kab', "invalid suffix: 'kab'"],
    ['1..2', "invalid size: '1..2'"],
  ];
  for (const [s, msg] of bad) it(`rejects ${JSON.stringify(s)}`, () => assert.throws(() => parseBytes(s), invalid(msg)));
  it('never throws anything but invalid_argument', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 12 }), (s) => {
        try {
          assert.ok(Number.isInteger(parseBytes(s)));
        } catch (e) {
          assert.ok(isBerthError(e, 'invalid_argument'));
        }
      }),
    );
  });
});

describe('parseDuration', () => {
  const cases: [string, number][] = [
    ['0', 0],
    ['1m30s', 90 * S],
    ['300ms', 300],
    ['-1.5h', -1.5 * H],
    ['+2h45m', 2 * H + 45 * M],
    ['1.s', 1000],
    ['.5s', 500],
    ['10us', 0.01],
    ['10µs', 0.01],
    ['1000000ns', 1],
  ];
  for (const [s, want] of cases) it(`${s} -> ${want}`, () => assert.equal(parseDuration(s), want));
  const bad: [string, string][] = [
    ['', 'time: invalid duration ""'],
    ['-', 'time: invalid duration "-"'],
    ['x', 'time: invalid duration "x"'],
    ['1', 'time: missing unit in duration "1"'],
    ['1h1', 'time: missing unit in duration "1h1"'],
    ['1d', 'time: unknown unit "d" in duration "1d"'],
    ['.s', 'time: invalid duration ".s"'],
  ];
  for (const [s, msg] of bad) it(`rejects ${JSON.stringify(s)}`, () => assert.throws(() => parseDuration(s), invalid(msg)));
});

describe('parseSignal', () => {
  const cases: [string, number][] = [
    ['SIGTERM', 15],
    ['TERM', 15],
    ['term', 15],
    ['sigkill', 9],
    ['15', 15],
    ['9', 9],
    ['64', 64],
    ['SIGCHLD', 17],
    ['CLD', 17],
    ['IOT', 6],
    ['SIGRTMIN', 34],
    ['RTMIN+3', 37],
    ['SIGRTMAX-2', 62],
    ['RTMAX', 64],
    ['USR1', 10],
    ['WINCH', 28],
  ];
  for (const [s, n] of cases) it(`${s} -> ${n}`, () => assert.equal(parseSignal(s), n));
  for (const s of ['0', '65', '-1', 'FOO', 'SIG', '', 'RTMIN+16', 'RTMAX+1'])
    it(`rejects ${JSON.stringify(s)}`, () => assert.throws(() => parseSignal(s), invalid(`Invalid signal: ${s}`)));
});

describe('statusString', () => {
  const now = 10_000_000_000;
  const base = { exitCode: 0, startedAt: 0, finishedAt: 0 };
  const cases: [Parameters<typeof statusString>[0], string][] = [
    [{ ...base, status: 'created' }, 'Created'],
    [{ ...base, status: 'running', startedAt: now - 3 * S }, 'Up 3 seconds'],
    [{ ...base, status: 'paused', startedAt: now - 3 * S, health: 'healthy' }, 'Up 3 seconds (Paused)'],
    [{ ...base, status: 'running', startedAt: now - 5 * M, health: 'healthy' }, 'Up 5 minutes (healthy)'],
    [{ ...base, status: 'running', startedAt: now - 2 * S, health: 'starting' }, 'Up 2 seconds (health: starting)'],
    [{ ...base, status: 'running', startedAt: now - 2 * H, health: 'unhealthy' }, 'Up 2 hours (unhealthy)'],
    [{ ...base, status: 'exited', startedAt: now - 5 * M, finishedAt: now - 2 * M }, 'Exited (0) 2 minutes ago'],
    [{ ...base, status: 'exited', exitCode: 137, startedAt: 1, finishedAt: now - 500 }, 'Exited (137) Less than a second ago'],
    [{ ...base, status: 'exited', exitCode: 127 }, 'Created'],
    [{ ...base, status: 'restarting', exitCode: 1, startedAt: 1, finishedAt: now - 3 * S }, 'Restarting (1) 3 seconds ago'],
    [{ ...base, status: 'removing' }, 'Removal In Progress'],
    [{ ...base, status: 'dead' }, 'Dead'],
  ];
  for (const [st, want] of cases) it(want, () => assert.equal(statusString(st, now), want));
});
