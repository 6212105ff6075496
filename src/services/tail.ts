// The end of a service's log, from its first whole line: for the log view and
// for the report of an install whose service never got ready.
import { open } from 'node:fs/promises';

/** The last `bytes` of a log file, from the first whole line on; empty when there is no log yet. */
export async function readTail(file: string, bytes: number): Promise<{ text: string; size: number; truncated: boolean }> {
  const handle = await open(file, 'r').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return null;
    throw err;
  });
  if (!handle) return { text: '', size: 0, truncated: false };
  try {
    const { size } = await handle.stat();
    const start = Math.max(0, size - bytes);
    const buffer = Buffer.alloc(size - start);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, start);
    let text = buffer.subarray(0, bytesRead).toString('utf8');
    // Cut to a whole line unless the whole file fits.
    if (start > 0) text = text.slice(text.indexOf('\n') + 1);
    return { text, size, truncated: start > 0 };
  } finally {
    await handle.close();
  }
}
