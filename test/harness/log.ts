// Loggers for tests that run a part without a supervisor: one that drops
// everything, and one that keeps what was logged at each level.
import type { Logger } from '../../src/log';

type Level = 'error' | 'warn' | 'info' | 'debug';

/** A logger that keeps every line by level (children write into the same lists). */
export function recordingLogger(): Logger & { readonly lines: Record<Level, string[]> } {
  const lines: Record<Level, string[]> = { error: [], warn: [], info: [], debug: [] };
  const make = (): Logger => ({
    error: (m) => void lines.error.push(m),
    warn: (m) => void lines.warn.push(m),
    info: (m) => void lines.info.push(m),
    debug: (m) => void lines.debug.push(m),
    child: () => make(),
    close: () => {},
  });
  return Object.assign(make(), { lines });
}

/** A logger that drops everything. */
export const silentLogger = (): Logger => recordingLogger();
