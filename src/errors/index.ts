// Errors that cross a subsystem boundary: each has a stable string `code` for
// programs and a message for people that says what to do. This module is the
// one place that maps errors to CLI exit codes and HTTP statuses (codes.ts).
import { errorSpec, type ErrorCode } from './codes';

export { ERROR_CODES, errorSpec, type ErrorCode } from './codes';

/** An error with a stable code (declared in codes.ts). */
export class ApError extends Error {
  readonly code: string;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'ApError';
  }

  /** An error another process reported (the API over the admin socket): its code as it came. */
  static reported(code: string, message: string): ApError {
    const err = new ApError('ERROR', message);
    (err as { code: string }).code = code;
    return err;
  }
}


/** A bad value in one named field of a request (API, config, command file): nothing was changed. */
export class InvalidField extends ApError {
  constructor(
    readonly field: string,
    readonly reason: string,
  ) {
    super('INVALID_FIELD', `${field}: ${reason}`);
    this.name = 'InvalidField';
  }
}

/**
 * Bad values in several fields of one request that is taken whole or not at
 * all (a section of settings): every refused field, each with its reason; the
 * first is its `field`, so a client that knows only one still names it.
 */
export class InvalidFields extends InvalidField {
  constructor(readonly fields: readonly InvalidField[]) {
    super(fields[0]!.field, fields[0]!.reason);
    this.message = fields.map((f) => f.message).join('; ');
    this.name = 'InvalidFields';
  }
}

/** Bad command line, bad config value or bad config file: exit status 2. */
export class UsageError extends ApError {
  constructor(message: string, code: ErrorCode = 'USAGE') {
    super(code, message);
    this.name = 'UsageError';
  }
}

/**
 * The log level a failure deserves: a mistake in what the administrator or a
 * caller gave (a 4xx code: bad input, a setting not made, a conflict) is a
 * warning; anything else is ours, an error.
 */
export function levelOf(err: unknown): 'warn' | 'error' {
  return err instanceof ApError && errorSpec(err.code).status < 500 ? 'warn' : 'error';
}

/** Exit status for an error: its code's (2 for usage and configuration mistakes, also reported ones), 1 otherwise. */
export function exitCodeOf(err: unknown): number {
  if (err instanceof UsageError) return 2;
  return err instanceof ApError ? (errorSpec(err.code).exit ?? 1) : 1;
}

/** The text to show a person for any thrown value, with its causes. */
export function describe(err: unknown): string {
  const parts: string[] = [];
  let current: unknown = err;
  for (let depth = 0; current !== undefined && depth < 5; depth++) {
    if (current instanceof Error) {
      parts.push(current.message);
      current = current.cause;
    } else {
      parts.push(String(current));
      break;
    }
  }
  return parts.join(': ');
}
