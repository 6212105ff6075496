// The supervisor's own log: one line per event, to stderr or to a size-capped
// file (the file and one rotated copy, so a chatty box never fills p2).
import { closeSync, constants, fstatSync, ftruncateSync, openSync, renameSync, writeSync } from 'node:fs';
import type { LogFormat, LogLevel } from '../config';

export interface Logger {
  error(message: string): void;
  warn(message: string): void;
  info(message: string): void;
  debug(message: string): void;
  /** A logger whose lines name `subsystem`. */
  child(subsystem: string): Logger;
  /** Closes the file sink, if any. */
  close(): void;
}

export { capFile, capFiles, ownOutputFiles } from './cap';

/** The supervisor's log file, and every other log it caps, hold at most this and one rotated copy. */
export const LOG_MAX_BYTES = 1024 * 1024;

const RANK: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3 };

export interface LogOptions {
  readonly level: LogLevel;
  /** File to append to; null for stderr. */
  readonly file: string | null;
  /** Rotate when the file grows past this many bytes. */
  readonly maxBytes?: number;
  /** On stderr: text, or journal (syslog priorities, no time); auto: journal when stderr is systemd's journal. */
  readonly format?: LogFormat;
}

/** The syslog priority of each level (sd-daemon(3): journald and syslog read "<N>" before a line). */
const PRIORITY: Record<LogLevel, number> = { error: 3, warn: 4, info: 6, debug: 7 };

/** Whether stderr is systemd's journal: JOURNAL_STREAM names its device and inode (systemd.exec(5)). */
export function stderrIsJournal(journalStream = process.env.JOURNAL_STREAM): boolean {
  const [dev, ino] = (journalStream ?? '').split(':').map(Number);
  if (!Number.isInteger(dev) || !Number.isInteger(ino)) return false;
  try {
    const st = fstatSync(2);
    return st.dev === dev && st.ino === ino;
  } catch {
    return false;
  }
}

/** A logger writing lines at or above `level`. */
export function createLogger(options: LogOptions): Logger {
  const sink = options.file ? fileSink(options.file, options.maxBytes ?? LOG_MAX_BYTES) : stderrSink;
  const format = options.format ?? 'auto';
  const journal = !options.file && (format === 'journal' || (format === 'auto' && stderrIsJournal()));
  const threshold = RANK[options.level];
  const make = (subsystem: string): Logger => {
    const emit = (level: LogLevel, message: string) => {
      if (RANK[level] > threshold) return;
      if (!journal) return sink.write(`${new Date().toISOString()} ${level.padEnd(5)} ${subsystem}: ${message}\n`);
      // Each line of a message carries its priority: the journal takes a line without one as info.
      sink.write(message.split('\n').map((line) => `<${PRIORITY[level]}>${subsystem}: ${line}\n`).join(''));
    };
    return {
      error: (m) => emit('error', m),
      warn: (m) => emit('warn', m),
      info: (m) => emit('info', m),
      debug: (m) => emit('debug', m),
      child: (name) => make(name),
      close: () => sink.close(),
    };
  };
  return make('ap');
}

interface Sink {
  write(line: string): void;
  close(): void;
}

const stderrSink: Sink = {
  write: (line) => process.stderr.write(line),
  close: () => {},
};

function fileSink(path: string, maxBytes: number): Sink {
  const file = openRotatingFile(path, maxBytes);
  return { write: (line) => file.write(line), close: () => file.close() };
}

export interface RotatingFile {
  write(data: string | Uint8Array): void;
  close(): void;
}

/**
 * An append-only file that is renamed to `<path>.1` (replacing the previous
 * one) when it would grow past `maxBytes`: at most twice the cap on disk.
 * Writes are synchronous on purpose: they are small and few, and a line
 * written just before a crash must not be lost in a queue. A rotation
 * something stands in the way of starts the file over instead, so nothing of
 * it ever throws out of write(). `othersFolder`: the folder is another
 * account's (a service's own log folder), so a link, a FIFO or a hard link
 * put in place of the file is refused (the error names it), never written
 * through; elsewhere (the supervisor's own --log-file) a link is followed.
 */
export function openRotatingFile(path: string, maxBytes: number, mode = 0o640, othersFolder = false): RotatingFile {
  const flags = constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT;
  const openFile = () => (othersFolder ? openOwnFile(path, flags, mode) : openSync(path, flags, mode));
  let fd = openFile();
  let size = fstatSync(fd).size;
  return {
    write(data) {
      const bytes = typeof data === 'string' ? Buffer.from(data) : data;
      if (size + bytes.length > maxBytes && size > 0) {
        try {
          renameSync(path, `${path}.1`);
          const next = openFile();
          closeSync(fd);
          fd = next;
        } catch {
          ftruncateSync(fd, 0);
        }
        size = 0;
      }
      writeSync(fd, bytes);
      size += bytes.length;
    },
    close() {
      closeSync(fd);
    },
  };
}

/**
 * Opens `path` with `flags` only if it is a regular file of one name: not
 * through a link (O_NOFOLLOW), never waiting on a FIFO (O_NONBLOCK), and not a
 * file hard-linked elsewhere. For files in folders another account may write.
 */
export function openOwnFile(path: string, flags: number, mode = 0o640): number {
  const fd = openSync(path, flags | constants.O_NOFOLLOW | constants.O_NONBLOCK, mode);
  const stat = fstatSync(fd);
  if (!stat.isFile() || stat.nlink !== 1) {
    closeSync(fd);
    throw Object.assign(new Error(`${path} is not a file of its own (a link, a FIFO or a hard link put in its place): refused`), { code: 'ENOTOWNFILE' });
  }
  return fd;
}
