// Errors that cross a subsystem boundary: each has a stable string `code` for
// programs and a message for people that says what to do. This module is the
// one place that maps codes to CLI exit codes (and, later, HTTP statuses).

/** An error with a stable code; `exit` is the CLI exit status it maps to. */
export class ApError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'ApError';
  }
}

/** Bad command line, bad config value or bad config file: exit status 2. */
export class UsageError extends ApError {
  constructor(message: string, code = 'USAGE') {
    super(code, message);
    this.name = 'UsageError';
  }
}

/** Exit status for an error: 2 for usage and configuration mistakes, 1 otherwise. */
export function exitCodeOf(err: unknown): number {
  return err instanceof UsageError ? 2 : 1;
}

/** HTTP status for an error code, for the admin API and webserver. */
export function httpStatusOf(err: unknown): number {
  if (err instanceof UsageError) return 400;
  if (err instanceof ApError) return STATUS_BY_CODE[err.code] ?? 500;
  return 500;
}

const STATUS_BY_CODE: Record<string, number> = {
  NOT_FOUND: 404,
  UNKNOWN_COMMAND: 400,
  BAD_REQUEST: 400,
};

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
