/**
 * The one table from the engine's error classes to HTTP statuses, with Docker's error body
 * `{"message": "..."}`. Handlers throw BerthError; only this module decides the status.
 */
import { BerthError, type ErrorCode } from '../errors.js';

const STATUS: Record<ErrorCode, number> = {
  not_found: 404,
  conflict: 409,
  already_exists: 409,
  invalid_argument: 400,
  failed_precondition: 409,
  unauthenticated: 401,
  permission_denied: 403,
  unavailable: 503,
  no_space: 500,
  corrupt: 500,
  cannot_invoke: 500,
  command_not_found: 500,
  canceled: 500,
  not_implemented: 501,
  internal: 500,
};

export function httpStatusFor(e: unknown): number {
  if (e instanceof BerthError) return STATUS[e.code];
  if (e instanceof SyntaxError) return 400;
  return 500;
}

/** Docker puts the whole sentence in `message`; the hint follows it like the CLI prints it. */
export function errorBody(e: unknown): { message: string } {
  if (e instanceof BerthError) return { message: e.hint ? `${e.message}; ${e.hint}` : e.message };
  if (e instanceof Error) return { message: e.message };
  return { message: String(e) };
}
