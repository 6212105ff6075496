// `ap ctl update …`, `ap ctl boot …`, `ap ctl fsck`: the image update through the
// running supervisor, and the technician's helpers for the seed's known issues,
// which work on the files of p1 directly (also when the supervisor is down).
import { join } from 'node:path';
import { bootControl, parseMode } from '../boot';
import type { Board } from '../config';
import { UsageError } from '../errors';
import { ensureDir, writeFileAtomic } from '../fsutil';

/** The seed: "echo 110000 > /mnt/sda1/label … allows the manager to perform an image update again". */
export const RESET_LABEL = '110000';

export async function bootCommand(board: Board, bootDir: string, sub: string | undefined): Promise<Record<string, unknown>> {
  const control = bootControl(board, bootDir);
  if (sub === undefined || sub === 'show') return { ...(await control.read()), file: control.file };
  if (sub === 'normal' || sub === 'rescue') return { ...(await control.set(parseMode(sub))), file: control.file };
  throw new UsageError('ap ctl boot show|normal|rescue');
}

/** Writes p1/label (the seed's reset), so that any image counts as newer. */
export async function resetLabel(bootDir: string, label = RESET_LABEL): Promise<string> {
  if (!/^\d{1,12}$/.test(label)) throw new UsageError(`"${label}" is not a build number`);
  await ensureDir(bootDir);
  await writeFileAtomic(join(bootDir, 'label'), `${label}\n`);
  return label;
}

/**
 * The seed's "e2fsck -p -f" of p2 and p3 must run from the rescue system: asks
 * for it (p1/update/fsck-request, read by install_step1.sh auto) and points the
 * boot control at the rescue. The next reboot checks and comes back.
 */
export async function requestFsck(board: Board, bootDir: string): Promise<Record<string, unknown>> {
  await ensureDir(join(bootDir, 'update'));
  await writeFileAtomic(join(bootDir, 'update/fsck-request'), `${new Date().toISOString()}\n`);
  const settings = await bootControl(board, bootDir).set('rescue');
  return { requested: true, boot: settings.mode, next: 'reboot: the rescue system checks p2 and p3 (e2fsck -p -f), then boots the App Platform again' };
}
