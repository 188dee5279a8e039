/**
 * Golden-file tests: every directory under testdata/ holds a Dockerfile, an optional args.json
 * ({buildArgs, platform, target}) and result.json, the expected AST, stages, expanded steps, build order
 * and lint findings (or the error). Regenerate on purpose with UPDATE_GOLDEN=1 and review the diff.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { isBerthError } from '../../errors.js';
import { type Command, type Platform, StageVars, lintDockerfile, parseStages, stagesNeededFor } from './instructions.js';
import { parseDockerfile } from './parser.js';

// Golden files live beside the sources; the compiled test runs from dist/src/..., so map back to src/.
const TESTDATA = join(dirname(fileURLToPath(import.meta.url)).replace(/\/dist\/src\//, '/src/'), 'testdata');
const UPDATE = process.env.UPDATE_GOLDEN === '1';

interface CaseArgs {
  buildArgs?: Record<string, string>;
  platform?: Platform;
  target?: string;
}

function strip(cmd: Command): Record<string, unknown> {
  const { original: _o, endLine: _e, ...rest } = cmd;
  return rest;
}

function run(text: string, args: CaseArgs): unknown {
  try {
    const ast = parseDockerfile(text);
    const opts = { buildArgs: args.buildArgs ?? {}, platform: args.platform ?? { os: 'linux', architecture: 'amd64' } };
    const parsed = parseStages(ast, opts);
    const order = stagesNeededFor(parsed.stages, args.target);
    const expanded = parsed.stages.map((s) => {
      const vars = new StageVars({ buildArgs: opts.buildArgs, metaArgs: parsed.metaArgs, predefinedArgs: parsed.predefinedArgs }, {}, parsed.escape);
      return s.commands.map((c) => {
        try {
          const r = vars.expandStep(c);
          return { ...strip(r.command), referenced: r.referenced };
        } catch (e) {
          return { line: c.line, error: (e as Error).message };
        }
      });
    });
    return {
      ast,
      metaArgs: parsed.metaArgs,
      stages: parsed.stages.map(({ from: _f, commands, ...stage }) => ({ ...stage, commands: commands.map(strip) })),
      warnings: parsed.warnings,
      order,
      expanded,
      lint: lintDockerfile(text, opts),
    };
  } catch (e) {
    if (!isBerthError(e, 'invalid_argument')) throw e;
    return { error: e.message };
  }
}

describe('Dockerfile golden files', () => {
  const cases = readdirSync(TESTDATA).sort();
  it('has at least 15 cases', () => assert.ok(cases.length >= 15));
  for (const name of cases) {
    it(name, () => {
      const dir = join(TESTDATA, name);
      const text = readFileSync(join(dir, 'Dockerfile'), 'utf8');
      const argsPath = join(dir, 'args.json');
      const args: CaseArgs = existsSync(argsPath) ? JSON.parse(readFileSync(argsPath, 'utf8')) : {};
      const actual = JSON.parse(JSON.stringify(run(text, args)));
      const resultPath = join(dir, 'result.json');
      if (UPDATE || !existsSync(resultPath)) {
        writeFileSync(resultPath, `${JSON.stringify(actual, null, 2)}\n`);
        if (!UPDATE) assert.fail(`${resultPath} was missing and has been written: review it`);
        return;
      }
      assert.deepEqual(actual, JSON.parse(readFileSync(resultPath, 'utf8')));
    });
  }
});
