// The end of a service's log, from its first whole line: for the log view and
// for the report of an install whose service never got ready. The folder is the
// service's own: the file is opened only as a file of its own (openOwnFile),
// never through a link the service put in its place.
import { closeSync, constants, fstatSync, readSync } from 'node:fs';
import { openOwnFile } from '../log';

/** The last `bytes` of a log file, from the first whole line on; empty when there is no log yet. */
export async function readTail(file: string, bytes: number): Promise<{ text: string; size: number; truncated: boolean }> {
  let fd: number;
  try {
    fd = openOwnFile(file, constants.O_RDONLY);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { text: '', size: 0, truncated: false };
    throw err;
  }
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
