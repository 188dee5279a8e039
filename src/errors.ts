/**
 * One error type for the whole engine, with a closed set of codes.
 * Edges translate codes exactly once: cli/exit-codes.ts (exit status) and api/ (HTTP status).
 */
export type ErrorCode =
  | 'not_found'
  | 'conflict'
  | 'invalid_argument'
  | 'already_exists'
  | 'failed_precondition'
  | 'unauthenticated'
  | 'permission_denied'
  | 'unavailable'
  | 'no_space'
  | 'corrupt'
  | 'cannot_invoke' // docker exit 126: the command exists but cannot be run
  | 'command_not_found' // docker exit 127
  | 'canceled'
  | 'not_implemented'
  | 'internal';

export interface BerthErrorOptions {
  cause?: unknown;
  /** One sentence telling the user how to fix it. */
  hint?: string;
}

export class BerthError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;
  constructor(code: ErrorCode, message: string, opts: BerthErrorOptions = {}) {
    super(message, opts.cause !== undefined ? { cause: opts.cause } : undefined);
    this.name = 'BerthError';
    this.code = code;
    this.hint = opts.hint;
  }
}

export const notFound = (msg: string, opts?: BerthErrorOptions) => new BerthError('not_found', msg, opts);
export const conflict = (msg: string, opts?: BerthErrorOptions) => new BerthError('conflict', msg, opts);
export const invalidArgument = (msg: string, opts?: BerthErrorOptions) =>
  new BerthError('invalid_argument', msg, opts);
export const corrupt = (msg: string, opts?: BerthErrorOptions) => new BerthError('corrupt', msg, opts);
export const failedPrecondition = (msg: string, opts?: BerthErrorOptions) =>
  new BerthError('failed_precondition', msg, opts);

export function isBerthError(e: unknown, code?: ErrorCode): e is BerthError {
  return e instanceof BerthError && (code === undefined || e.code === code);
}
export const isNotFound = (e: unknown): boolean => isBerthError(e, 'not_found');
export const isConflict = (e: unknown): boolean => isBerthError(e, 'conflict');

/** Map a Node system error (ENOSPC etc.) to a BerthError, keeping it as cause. */
export function fromSystemError(e: unknown, what: string): BerthError {
  if (e instanceof BerthError) return e;
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ENOSPC':
    case 'EDQUOT':
      return new BerthError('no_space', `no space left on device while ${what}`, {
        cause: e,
        hint: 'free disk space (berth system prune) and try again',
      });
    case 'ENOENT':
      return new BerthError('not_found', `${what}: ${(e as Error).message}`, { cause: e });
    case 'EACCES':
    case 'EPERM':
      return new BerthError('permission_denied', `${what}: ${(e as Error).message}`, { cause: e });
    default:
      return new BerthError('internal', `${what}: ${(e as Error)?.message ?? String(e)}`, { cause: e });
  }
}
