// The end of a service's log, from its first whole line: for the log view and
// for the report of an install whose service never got ready. The folder is the
// service's own: the file is opened only as a file of its own (openOwnFile),
// never through a link the service put in its place.
import { closeSync, constants, fstatSync, readSync } from 'node:fs';
import { ApError } from '../errors';
import { openOwnFile } from '../log';

/** A service's log opened for reading, or null when it has none yet; NOT_FOUND when something else stands in its place. */
export function openLog(file: string): number | null {
  try {
    return openOwnFile(file, constants.O_RDONLY);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new ApError('NOT_FOUND', `${file} is not the service's log but a link, a FIFO or a hard link put in its place: not read`, { cause: err });
  }
}

/** The last `bytes` of a log file, from the first whole line on; empty when there is no log yet. */
export async function readTail(file: string, bytes: number): Promise<{ text: string; size: number; truncated: boolean }> {
  const fd = openLog(file);
  if (fd === null) return { text: '', size: 0, truncated: false };
  try {
    const { size } = fstatSync(fd);
    const start = Math.max(0, size - bytes);
    const buffer = Buffer.alloc(size - start);
    const bytesRead = readSync(fd, buffer, 0, buffer.length, start);
    let text = buffer.subarray(0, bytesRead).toString('utf8');
    // Cut to a whole line unless the whole file fits.
    if (start > 0) text = text.slice(text.indexOf('\n') + 1);
    return { text, size, truncated: start > 0 };
  } finally {
    closeSync(fd);
  }
}
