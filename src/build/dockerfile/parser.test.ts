// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the strings are Dockerfile text, not templates
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isBerthError } from '../../errors.js';
import { StageVars, lintDockerfile, parseStages, stageDependencies, stagesNeededFor } from './instructions.js';
import { extractBuilderFlags, parseDockerfile, parseJSONArray } from './parser.js';

const fails = (text: string, message: string) =>
  assert.throws(
    () => parseStages(parseDockerfile(text), { platform: { os: 'linux', architecture: 'amd64' } }),
    (e: unknown) => isBerthError(e, 'invalid_argument') && e.message === message,
  );

describe('parseDockerfile errors name the line', () => {
  const table: [string, string][] = [
    ['FROM a:1\n\n\n\n\n\nFORM b', 'Dockerfile:7: unknown instruction: FORM (did you mean FROM?)'],
    ['FROM a:1\nrnu echo', 'Dockerfile:2: unknown instruction: rnu (did you mean RUN?)'],
    ['FROM a:1\nCOPPY a b', 'Dockerfile:2: unknown instruction: COPPY (did you mean COPY?)'],
    ['FROM a:1\nRUN <<EOF\nx\n', 'Dockerfile:2: unterminated heredoc EOF (expected a line "EOF")'],
    ['FROM a:1\nRUN <<-EOF\n\tx\n  EOF\n', 'Dockerfile:2: unterminated heredoc EOF (expected a line "EOF")'],
    ['# escape=ab\nFROM a:1', "Dockerfile:1: invalid escape token 'ab' does not match ` or \\"],
    ['# syntax=a\n# SYNTAX=b\nFROM a:1', 'Dockerfile:2: only one syntax parser directive can be used'],
    ['FROM a:1\nRUN ["a", {"b": 1}]', 'Dockerfile:2: when using JSON array syntax, arrays must be comprised of strings only'],
    ['FROM a:1\nONBUILD ONBUILD RUN x', "Dockerfile:2: Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"],
    ['FROM a:1\nONBUILD MAINTAINER x', "Dockerfile:2: MAINTAINER isn't allowed as an ONBUILD trigger"],
    ['FROM a:1\nONBUILD BOGUS x', 'Dockerfile:2: unknown instruction: BOGUS'],
    ['FROM a:1\nRUN', 'Dockerfile:2: RUN requires at least one argument'],
    ['FROM', 'Dockerfile:1: FROM requires either one or three arguments'],
    ['FROM a b', 'Dockerfile:1: FROM requires either one or three arguments'],
    ['FROM a:1 AS 1st', 'Dockerfile:1: invalid name for build stage: "1st", name can\'t start with a number or contain symbols'],
    ['FROM a:1 AS x\nFROM b:1 AS X', 'Dockerfile:2: duplicate stage name "x" (first defined on line 1)'],
    ['FROM a:1\nSHELL /bin/sh -c', 'Dockerfile:2: SHELL requires the arguments to be in JSON form'],
    ['FROM a:1\nENV A', 'Dockerfile:2: ENV must have two arguments'],
    ['FROM a:1\nENV =x', 'Dockerfile:2: ENV names can not be blank'],
    ['FROM a:1\nARG =x', 'Dockerfile:2: ARG names can not be blank'],
    ['FROM a:1\nEXPOSE 80/icmp', 'Dockerfile:2: EXPOSE 80/icmp: invalid proto: icmp'],
    ['FROM a:1\nEXPOSE http', 'Dockerfile:2: EXPOSE http: invalid containerPort: http'],
    ['FROM a:1\nENV A=1 B', 'Dockerfile:2: Syntax error - can\'t find = in "B". Must be of the form: name=value'],
    ['FROM a:1\nCOPY --link --link a b', 'Dockerfile:2: duplicate flag specified: link'],
    ['FROM a:1\nCOPY --link=maybe a b', 'Dockerfile:2: expecting boolean value for flag link, not: maybe'],
    ['FROM a:1\nCOPY --from a b', 'Dockerfile:2: missing a value on flag: from'],
    ['FROM a:1\nADD --from=x a b', 'Dockerfile:2: unknown flag: from'],
    ['FROM a:1\nRUN --mount=type=nfs,target=/x true', 'Dockerfile:2: unsupported mount type "nfs"'],
    ['FROM a:1\nRUN --mount=type=cache true', 'Dockerfile:2: mount type cache requires a target: --mount=type=cache,target=/path'],
    ['FROM a:1\nRUN --mount=type=cache,target=/x,bogus=1 true', "Dockerfile:2: unexpected key 'bogus' in 'type=cache,target=/x,bogus=1'"],
    ['FROM a:1\nRUN --mount=type=cache,target=/x,mode=999 true', 'Dockerfile:2: invalid value for mode: 999'],
    ['FROM a:1\nRUN --network=bridge true', 'Dockerfile:2: unsupported network mode: bridge (use default, none or host)'],
    ['FROM a:1\nHEALTHCHECK --timeout=-1s CMD x', 'Dockerfile:2: --timeout cannot be negative: -1s'],
    ['FROM a:1\nHEALTHCHECK --interval=10us CMD x', 'Dockerfile:2: --interval cannot be less than 1ms: 10us'],
    ['FROM a:1\nHEALTHCHECK --retries=-1 CMD x', 'Dockerfile:2: --retries cannot be negative (-1)'],
    ['FROM a:1\nHEALTHCHECK NONE x', 'Dockerfile:2: HEALTHCHECK NONE takes no arguments'],
    ['FROM a:1\nHEALTHCHECK CMD', 'Dockerfile:2: Missing command after HEALTHCHECK CMD'],
    ['FROM a:1\nVOLUME [""]', 'Dockerfile:2: VOLUME specified can not be an empty string'],
    ['ARG X\nFROM ${X}', 'Dockerfile:2: base name (${X}) should not be blank'],
    ['FROM a:1\nUSER ${A', 'Dockerfile:2: failed to process "${A": syntax error: missing \'}\''],
    ['FROM a:1\nCOPY --from=${X a b', 'Dockerfile:2: failed to process "${X": syntax error: missing \'}\''],
    ['FROM --platform=linux a:1', 'Dockerfile:1: failed to parse platform linux: expected os/arch[/variant]'],
    ['', 'Dockerfile:1: the Dockerfile has no FROM instruction'],
  ];
  for (const [text, message] of table) it(message, () => fails(text, message));

  it('uses the given file name', () => {
    assert.throws(() => parseDockerfile('BAD x', { filename: 'build/Containerfile' }), { message: 'build/Containerfile:1: unknown instruction: BAD' });
  });
});

describe('parseDockerfile', () => {
  it('joins continuations across comments and blank lines, keeping the line range', () => {
    const ast = parseDockerfile('FROM a:1\nRUN a \\\n  # c\n\n  b \\\n  c\nRUN d');
    assert.equal(ast.instructions[1].args, 'a   b   c');
    assert.deepEqual([ast.instructions[1].startLine, ast.instructions[1].endLine], [2, 6]);
    assert.deepEqual(ast.warnings, [{ line: 4, rule: 'NoEmptyContinuation', message: 'Empty continuation line' }]);
    assert.equal(ast.instructions[2].startLine, 7);
  });

  it('stops looking for directives after the first other line', () => {
    const ast = parseDockerfile('# syntax=x\n# comment\n# escape=`\nFROM a:1\n');
    assert.deepEqual(ast.directives.map((d) => d.name), ['syntax']);
    assert.equal(ast.escape, '\\');
    assert.equal(parseDockerfile('\n# escape=`\nFROM a').escape, '\\');
    assert.equal(parseDockerfile('#escape = ` \nFROM a').escape, '`');
  });

  it('treats keywords case-insensitively and a line of only an escape as nothing', () => {
    const ast = parseDockerfile('from a:1\n\\\nRuN x');
    assert.deepEqual(ast.instructions.map((n) => n.keyword), ['FROM', 'RUN']);
  });

  it('lets a continuation end the file', () => {
    const ast = parseDockerfile('FROM a:1\nRUN a \\');
    assert.equal(ast.instructions[1].args, 'a');
  });

  it('accepts <<- delimiters indented with tabs and keeps bodies raw', () => {
    const ast = parseDockerfile('FROM a:1\nRUN <<-EOF\n\t\techo\n\t\tEOF\nRUN b');
    assert.equal(ast.instructions[1].heredocs[0].content, '\t\techo\n');
    assert.equal(ast.instructions[1].endLine, 4);
    assert.equal(ast.instructions[2].startLine, 5);
  });

  it('does not look for heredocs in other instructions or in JSON form', () => {
    const ast = parseDockerfile('FROM a:1\nENV A=<<EOF\nRUN ["cat", "<<EOF"]');
    assert.deepEqual(ast.instructions.map((n) => n.heredocs.length), [0, 0, 0]);
  });
});

describe('extractBuilderFlags', () => {
  const table: [string, string[], string][] = [
    ['--from=x a b', ['--from=x'], 'a b'],
    ['  --a=1   --b   rest of line', ['--a=1', '--b'], 'rest of line'],
    ['--x="a b" c', ['--x=a b'], 'c'],
    ["--x='' c", ['--x='], 'c'],
    ['--x=a\\ b c', ['--x=a b'], 'c'],
    ['-- --not', [], ' --not'],
    ['-x', [], '-x'],
    ['--only', ['--only'], ''],
    ['', [], ''],
  ];
  for (const [line, flags, args] of table) {
    it(JSON.stringify(line), () => assert.deepEqual(extractBuilderFlags(line), { flags, args }));
  }
});

describe('parseJSONArray', () => {
  it('falls back for anything that is not a JSON array', () => {
    assert.deepEqual(parseJSONArray('["a","b"]'), ['a', 'b']);
    assert.deepEqual(parseJSONArray('[]'), []);
    assert.equal(parseJSONArray("['a']"), undefined);
    assert.equal(parseJSONArray('["a",]'), undefined);
    assert.equal(parseJSONArray('{"a":1}'), undefined);
    assert.equal(parseJSONArray(' ["a"]'), undefined);
    assert.equal(parseJSONArray('[1]'), 'not-strings');
  });
});

describe('parser properties', () => {
  const lineArb = fc.oneof(
    fc.constantFrom(
      'FROM alpine:3', 'FROM a AS b', 'RUN echo hi \\', 'RUN <<EOF', 'RUN <<-"E"', 'EOF', '\tE', 'COPY <<A <<B /x', 'A', 'B',
      '# escape=`', '# syntax=x', '', '  ', '# c', 'ONBUILD RUN x', 'CMD ["a"', 'CMD ["a"]', 'ENV a=b c', 'ARG X=${Y:-z}',
      'HEALTHCHECK --interval=5s CMD x', 'RUN --mount=type=cache,target=/x y', 'COPY --from=b a b', 'EXPOSE 80/udp', '`', '\\',
    ),
    fc.string({ maxLength: 30 }),
  );
  it('random text only ever fails with BerthError(invalid_argument), and terminates', () => {
    fc.assert(
      fc.property(fc.array(lineArb, { maxLength: 25 }), fc.constantFrom('\n', '\r\n'), (lines, nl) => {
        const text = lines.join(nl);
        try {
          const ast = parseDockerfile(text);
          parseStages(ast, { platform: { os: 'linux', architecture: 'amd64' } });
        } catch (e) {
          assert.ok(isBerthError(e, 'invalid_argument'), `unexpected ${String(e)} for ${JSON.stringify(text)}`);
        }
      }),
      { numRuns: 2000 },
    );
  });
  it('arbitrary unicode text never throws anything but BerthError', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 200 }), (text) => {
        try {
          parseDockerfile(text);
        } catch (e) {
          assert.ok(isBerthError(e, 'invalid_argument'));
        }
      }),
      { numRuns: 1000 },
    );
  });
  it('parses large inputs in linear-ish time', () => {
    const text = `FROM a:1\n${'RUN echo x \\\n  && y \\\n'.repeat(5000)}\n${'RUN <<EOF\nbody\nEOF\n'.repeat(3000)}`;
    const t = Date.now();
    const ast = parseDockerfile(text);
    assert.ok(ast.instructions.length > 3000);
    assert.ok(Date.now() - t < 3000, 'too slow');
  });
});

describe('grammar-based properties: Dockerfile -> stages -> plan -> expansion -> lint', () => {
  // Words mix plain text with every expansion form, quotes and escapes; instructions are built from
  // docker's grammar with valid and invalid flags, so most inputs get past the parser and reach the
  // later phases (the byte-level properties above mostly stop at the parser).
  const word = fc.constantFrom(
    'a', 'x.txt', '/abs/path', 'dir/', '*.log', '$A', '${A}', '${A:-def}', '${A:+alt}', '${A:?unset}', '${A%%.*}', '${A#*/}', '${A/x/y}',
    '${B:-${A}}', '${', '$', '"quoted $A"', "'single $A'", '\\$A', 'a\\ b', '`', 'é', '80', '8080-8090/udp', '1:2', '--flag', '=', 'k=v',
  );
  const words = fc.array(word, { minLength: 1, maxLength: 4 }).map((a) => a.join(' '));
  const json = fc.array(word, { minLength: 0, maxLength: 3 }).map((a) => JSON.stringify(a));
  const stageName = fc.constantFrom('base', 'build', 'final', 'Base', '0bad', 'a-b');
  const mount = fc.constantFrom(
    '--mount=type=cache,target=/root/.cache',
    '--mount=type=cache,target=/c,id=x,sharing=locked',
    '--mount=type=bind,from=base,source=/a,target=/b',
    '--mount=type=tmpfs,target=/t,size=1m',
    '--mount=type=secret,id=tok,required=true',
    '--mount=type=nope,target=/x',
    '--mount=target',
    '--network=none',
    '--network=bogus',
    '--security=insecure',
  );
  const instr: fc.Arbitrary<string> = fc.oneof(
    fc.tuple(fc.constantFrom('busybox', 'scratch', '${BASE}', 'base', 'registry.local:5000/a/b:1', 'a@sha256:' + '0'.repeat(64)), fc.option(stageName), fc.option(fc.constantFrom('--platform=linux/arm64', '--platform=$BUILDPLATFORM', '--platform=bad'), { freq: 2 })).map(
      ([img, as, pf]) => `FROM ${pf ? `${pf} ` : ''}${img}${as ? ` AS ${as}` : ''}`,
    ),
    fc.tuple(fc.array(mount, { maxLength: 2 }), fc.oneof(words, json)).map(([m, c]) => `RUN ${[...m, c].join(' ')}`),
    fc.constantFrom('RUN <<EOF\necho $A\nEOF', 'RUN <<-"E" sh\n\techo x\n\tE', 'COPY <<A <<B /x/\na\nA\nb\nB'),
    fc.tuple(fc.constantFrom('COPY', 'ADD'), fc.array(fc.constantFrom('--from=base', '--from=7', '--chown=1:1', '--chown=$A', '--chmod=755', '--chmod=x', '--link', '--exclude=*.md'), { maxLength: 1 }), words, fc.oneof(fc.constant(''), words)).map(
      ([k, f, src, dst]) => `${k} ${[...f, src, dst].filter(Boolean).join(' ')}`,
    ),
    fc.tuple(fc.constantFrom('ENV', 'LABEL', 'ARG'), fc.array(fc.tuple(fc.constantFrom('A', 'B', 'BASE', 'k.v', '1x', ''), fc.option(word)), { minLength: 1, maxLength: 3 })).map(
      ([k, kv]) => `${k} ${kv.map(([n, v]) => (v === null ? n : `${n}=${v}`)).join(' ')}`,
    ),
    fc.tuple(fc.constantFrom('WORKDIR', 'USER', 'EXPOSE', 'VOLUME', 'STOPSIGNAL', 'MAINTAINER', 'CMD', 'ENTRYPOINT', 'SHELL'), fc.oneof(words, json)).map(([k, a]) => `${k} ${a}`),
    fc.tuple(fc.constantFrom('', '--interval=5s', '--timeout=0', '--retries=-1', '--start-period=1h2m', '--interval=x'), fc.oneof(fc.constant('NONE'), words.map((w) => `CMD ${w}`), json.map((j) => `CMD ${j}`))).map(
      ([f, c]) => `HEALTHCHECK ${f} ${c}`,
    ),
    fc.constantFrom('ONBUILD RUN x', 'ONBUILD COPY a b', '# comment', '', 'RUN a \\\n  b'),
  );
  // Errors the parser must name (one in ten lines), so most files reach the later phases.
  const bad = fc.constantFrom('RUN <<EOF', 'ONBUILD ONBUILD RUN x', 'ONBUILD FROM a', 'BOGUS x', 'COPY a \\', 'FROM');
  const line = fc.oneof({ arbitrary: instr, weight: 30 }, { arbitrary: bad, weight: 1 });
  const dockerfile = fc
    .tuple(fc.constantFrom('', '', '', '# escape=`\n', '# syntax=docker/dockerfile:1\n', '# escape=x\n'), fc.array(instr, { maxLength: 4 }), fc.array(line, { minLength: 1, maxLength: 8 }))
    .map(([dir, meta, body]) => `${dir}${meta.filter((l) => l.startsWith('ARG')).join('\n')}\nFROM busybox AS base\n${body.join('\n')}\n`);

  it('every phase either works or fails with a BerthError, and terminates', () => {
    const codes: Record<string, number> = {};
    fc.assert(
      fc.property(
        dockerfile,
        fc.dictionary(fc.constantFrom('A', 'B', 'BASE', 'HTTP_PROXY'), fc.constantFrom('v', 'x/y.z', '', 'base')),
        fc.oneof({ arbitrary: fc.constant(undefined), weight: 4 }, { arbitrary: stageName, weight: 1 }),
        (text, buildArgs, target) => {
          const t = Date.now();
          try {
            const ast = parseDockerfile(text);
            const parsed = parseStages(ast, { platform: { os: 'linux', architecture: 'amd64' }, buildArgs });
            stagesNeededFor(parsed.stages, target);
            stageDependencies(parsed.stages);
            for (const st of parsed.stages) {
              const vars = new StageVars({ buildArgs, metaArgs: parsed.metaArgs, predefinedArgs: parsed.predefinedArgs }, { PATH: '/bin' }, parsed.escape);
              for (const c of st.commands) vars.expandStep(c);
            }
            codes.ok = (codes.ok ?? 0) + 1;
          } catch (e) {
            assert.ok(isBerthError(e) && e.code !== 'internal', `unexpected ${e instanceof Error ? e.stack : String(e)} for\n${text}`);
            codes[(e as { code: string }).code] = (codes[(e as { code: string }).code] ?? 0) + 1;
          }
          try {
            lintDockerfile(text, { buildArgs });
          } catch (e) {
            assert.ok(isBerthError(e) && e.code !== 'internal', `lint: unexpected ${e instanceof Error ? e.stack : String(e)} for\n${text}`);
          }
          // A guard against a hang, not a speed test (inputs are a few hundred bytes).
          assert.ok(Date.now() - t < 2000, `took ${Date.now() - t} ms for\n${text}`);
        },
      ),
      { numRuns: 3000 },
    );
    // The grammar must reach the later phases, not only the parser's errors.
    assert.ok((codes.ok ?? 0) > 300, `only ${codes.ok} of 3000 Dockerfiles got through every phase: ${JSON.stringify(codes)}`);
  });
});
