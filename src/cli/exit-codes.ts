/**
 * The one table from error classes to exit statuses, as docker's CLI uses them:
 * 125 the engine itself failed (and every flag/usage error), 126 the command cannot be invoked,
 * 127 the command was not found; other commands report engine errors with 1.
 */
import { BerthError } from '../errors.js';
import { UsageError } from './args.js';

export function exitCodeFor(e: unknown, opts: { runFamily: boolean }): number {
  if (e instanceof UsageError) return 125;
  if (e instanceof BerthError) {
    if (e.code === 'cannot_invoke') return 126;
    if (e.code === 'command_not_found') return 127;
  }
  return opts.runFamily ? 125 : 1;
}

export function errorMessage(e: unknown): string {
  if (e instanceof BerthError) return e.hint ? `${e.message}; ${e.hint}` : e.message;
  if (e instanceof Error) return e.message;
  return String(e);
}
