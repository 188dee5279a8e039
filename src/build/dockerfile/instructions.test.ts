// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the strings are Dockerfile text, not templates
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isBerthError } from '../../errors.js';
import {
  type CopyCommand,
  type ParseStagesOptions,
  type RunCommand,
  StageVars,
  expandCommand,
  lintDockerfile,
  parseDuration,
  parseExposedPort,
  parseStages,
  stageDependencies,
  stagesNeededFor,
} from './instructions.js';
import { parseDockerfile } from './parser.js';

const AMD64: ParseStagesOptions = { platform: { os: 'linux', architecture: 'amd64' } };
const stagesOf = (text: string, opts: ParseStagesOptions = AMD64) => parseStages(parseDockerfile(text), opts);

describe('stages', () => {
  const df = [
    'ARG BASE=alpine:3.19', // 1
    'FROM ${BASE} AS deps', // 2
    'FROM deps AS build', // 3
    'ARG FROMSTAGE=deps', // 4
    'COPY --from=${FROMSTAGE} /a /a', // 5
    'FROM busybox:1 AS lint', // 6
    'RUN --mount=type=bind,from=build,target=/b true', // 7
    'FROM scratch AS final', // 8
    'COPY --from=build /x /x', // 9
    'COPY --from=0 /y /y', // 10
    'COPY --from=nginx:1 /z /z', // 11
  ].join('\n');

  it('resolves FROM, COPY --from (expanded with stage ARGs) and mount from= references', () => {
    const { stages } = stagesOf(df);
    assert.equal(stages[1].baseStage, 0);
    const deps = stageDependencies(stages);
    assert.deepEqual(deps.map((d) => d.stages), [[], [0], [1], [0, 1]]);
    assert.deepEqual(deps.map((d) => d.images), [['alpine:3.19'], [], ['busybox:1'], ['nginx:1']]);
  });

  it('builds only what the target needs, dependencies first', () => {
    const { stages } = stagesOf(df);
    assert.deepEqual(stagesNeededFor(stages), [0, 1, 3]);
    assert.deepEqual(stagesNeededFor(stages, 'LINT'), [0, 1, 2]);
    assert.deepEqual(stagesNeededFor(stages, 'deps'), [0]);
    assert.throws(() => stagesNeededFor(stages, 'nope'), (e: unknown) => isBerthError(e, 'not_found') && e.message === 'target stage "nope" could not be found');
  });

  it('requires referenced stages to come earlier, as BuildKit', () => {
    const { stages } = stagesOf('FROM a:1 AS a\nCOPY --from=c /x /x\nFROM a AS b\nFROM b AS c\n');
    assert.throws(() => stageDependencies(stages), {
      message: 'Dockerfile:2: cannot copy from stage "c", it needs to be defined before current stage "a"',
    });
    const later = stagesOf('FROM later AS a\nFROM b:1 AS later');
    assert.equal(later.stages[0].baseStage, undefined);
    assert.deepEqual(stageDependencies(later.stages)[0], { stages: [], images: ['later'] });
  });

  it('detects a stage depending on itself, naming the line', () => {
    const { stages } = stagesOf('FROM a:1 AS a\nRUN true\nRUN --mount=from=a,target=/x true');
    assert.throws(() => stageDependencies(stages), { message: 'Dockerfile:3: circular dependency detected on stage: a (a -> a on line 3)' });
    const byIndex = stagesOf('FROM a:1\nCOPY --from=0 /x /x');
    assert.throws(() => stagesNeededFor(byIndex.stages), /circular dependency detected on stage: stage-0/);
  });

  it('rejects an index out of bounds', () => {
    const { stages } = stagesOf('FROM a:1\nCOPY --from=7 /x /x');
    assert.throws(() => stageDependencies(stages), { message: 'Dockerfile:2: invalid from flag value 7: index out of bounds' });
  });

  it('resolves meta args: --build-arg wins, predefined args need no declaration in FROM', () => {
    const r = stagesOf('ARG V=1\nARG W=${V}-x\nFROM img:${W} AS a\nFROM --platform=$BUILDPLATFORM img:${TARGETARCH}', {
      buildArgs: { V: '2' },
      platform: { os: 'linux', architecture: 'arm64', variant: 'v8' },
      buildPlatform: { os: 'linux', architecture: 'amd64' },
    });
    assert.deepEqual(r.metaArgs, [{ key: 'V', value: '2' }, { key: 'W', value: '2-x' }]);
    assert.deepEqual(r.stages.map((s) => s.baseName), ['img:2-x', 'img:arm64']);
    assert.deepEqual(r.stages[1].platform, { os: 'linux', architecture: 'amd64' });
    assert.equal(r.predefinedArgs.TARGETPLATFORM, 'linux/arm64/v8');
  });

  it('warns about undeclared args in FROM', () => {
    const r = stagesOf('FROM img:${NOPE:-1}');
    assert.deepEqual(r.warnings.map((w) => w.rule), ['UndefinedArgInFrom']);
  });
});

describe('StageVars and expandCommand', () => {
  const text = [
    'ARG META=m',
    'FROM a:1',
    'ENV DIR=/srv',
    'ARG DIR=/ignored', // ENV wins over ARG
    'ARG META',
    'ARG TARGETOS',
    'WORKDIR $DIR/${META}/$TARGETOS',
    'COPY --chown=${UID:-0} --from=${META} src* $DIR/',
    'RUN --mount=type=cache,id=c-${META},target=$DIR/cache echo $DIR',
    'ENV A=1 B=$A',
    'ENV C=$A',
  ].join('\n');

  it('expands lazily with base image ENV, ARG and ENV steps', () => {
    const parsed = stagesOf(text);
    const vars = new StageVars({ buildArgs: {}, metaArgs: parsed.metaArgs, predefinedArgs: parsed.predefinedArgs }, { UID: '1000' });
    const out = parsed.stages[0].commands.map((c) => vars.expandStep(c));
    assert.deepEqual(out[4].command, { ...parsed.stages[0].commands[4], path: '/srv/m/linux' });
    assert.deepEqual(out[4].referenced, ['DIR', 'META', 'TARGETOS']);
    const copy = out[5].command as CopyCommand;
    assert.deepEqual([copy.chown, copy.from, copy.sources, copy.dest], ['1000', 'm', ['src*'], '/srv/']);
    const run = out[6].command as RunCommand;
    assert.deepEqual(run.args, ['echo $DIR']);
    assert.deepEqual(run.mounts[0], { type: 'cache', readonly: false, sharing: 'shared', id: 'c-m', target: '/srv/cache' });
    // ENV with several pairs sees the values from before the instruction, as docker.
    assert.equal(vars.view().get('B'), '');
    assert.equal(vars.view().get('C'), '1');
    assert.equal(vars.argValues().get('DIR'), '/ignored');
    assert.deepEqual([...vars.declaredArgs], ['DIR', 'META', 'TARGETOS']);
  });

  it('gives RUN the proxy build args without declaration', () => {
    const parsed = stagesOf('FROM a:1\nARG V=1');
    const vars = new StageVars({ buildArgs: { HTTP_PROXY: 'http://p:3128', OTHER: 'x' }, metaArgs: [] });
    for (const c of parsed.stages[0].commands) vars.expandStep(c);
    assert.deepEqual(vars.runArgs(), { args: new Map([['V', '1']]), proxy: new Map([['HTTP_PROXY', 'http://p:3128']]) });
  });

  it('normalises EXPOSE and rejects bad ports after expansion', () => {
    const { stages } = stagesOf('FROM a:1\nEXPOSE $P 53/UDP 1-2');
    assert.deepEqual(expandCommand(stages[0].commands[0], { P: '80' }).command, { ...stages[0].commands[0], ports: ['80/tcp', '53/udp', '1-2/tcp'] });
    assert.throws(() => expandCommand(stages[0].commands[0], { P: 'x' }), { message: 'invalid containerPort: x' });
  });

  it('fails on ${v:?} at build time', () => {
    const { stages } = stagesOf('FROM a:1\nUSER ${U:?set U}');
    assert.throws(() => expandCommand(stages[0].commands[0], {}), (e: unknown) => isBerthError(e, 'invalid_argument') && /U: set U/.test(e.message));
  });
});

describe('helpers', () => {
  it('parses Go durations to nanoseconds', () => {
    assert.equal(parseDuration('1m30s'), 90e9);
    assert.equal(parseDuration('1.5h'), 5400e9);
    assert.equal(parseDuration('500ms'), 5e8);
    assert.equal(parseDuration('10us'), 1e4);
    assert.equal(parseDuration('3\u00b5s'), 3e3);
    assert.equal(parseDuration('3\u03bcs'), 3e3);
    assert.equal(parseDuration('0'), 0);
    assert.equal(parseDuration('-2s'), -2e9);
    assert.equal(parseDuration('10'), undefined);
    assert.equal(parseDuration('1d'), undefined);
    assert.equal(parseDuration(''), undefined);
  });
  it('parses EXPOSE ports', () => {
    assert.deepEqual(parseExposedPort('8000-8010/UDP'), { start: 8000, end: 8010, protocol: 'udp' });
    assert.deepEqual(parseExposedPort('127.0.0.1:80:8080'), { start: 8080, end: 8080, protocol: 'tcp' });
    assert.throws(() => parseExposedPort('80/icmp'), { message: 'invalid proto: icmp' });
    assert.throws(() => parseExposedPort('70000'), { message: 'invalid port range: 70000' });
  });
});

describe('lintDockerfile', () => {
  it('reports BuildKit-style rules with lines', () => {
    const findings = lintDockerfile('FROM ubuntu\nMAINTAINER me\nCMD run\nENV SECRET_TOKEN=x\n');
    assert.deepEqual(
      findings.map((f) => `${f.line}:${f.rule}`),
      ['1:UnpinnedBaseImage', '2:MaintainerDeprecated', '3:JSONArgsRecommended', '4:SecretsUsedInArgOrEnv'],
    );
  });
  it('honours # check=skip=', () => {
    assert.deepEqual(lintDockerfile('# check=skip=JSONArgsRecommended,UnpinnedBaseImage\nFROM ubuntu\nCMD run\n'), []);
    assert.deepEqual(lintDockerfile('# check=skip=all\nFROM ubuntu\nMAINTAINER x\n'), []);
  });
  it('is empty for a clean Dockerfile', () => {
    assert.deepEqual(lintDockerfile('FROM alpine:3.19 AS build\nWORKDIR /src\nCMD ["true"]\n'), []);
  });
});
