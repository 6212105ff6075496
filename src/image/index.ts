// The supervisor's side of an image update (DESIGN.md, "Image update"):
//
//   fetch manifest + signature → verify (key, board, label) → download each file
//   to p1/update (resumable, hashed as it arrives, checked again on disk) →
//   files.sha256 + label for the rescue script → journal "staged" → boot control
//   rescue → journal "rescue" → reboot (a port) … the rescue script applies it and
//   journals "finished" … on the next normal boot, once READY: label updated,
//   journal "confirmed", staging removed; a rollback is reported.
//
// The journal (p1/update/journal) has one line per step, "<step> <label>",
// appended and fsynced before the step is taken; a torn last line is ignored.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { appendFile, mkdir, open, readdir, readFile, rename, rm, stat, statfs, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import type { BootControl } from '../boot';
import type { Board } from '../config';
import { fetchLimited } from '../net';
import { ApError, describe } from '../errors';
import { fsyncDir, writeFileAtomic } from '../fsutil';
import type { JobControl, Jobs, JobView } from '../jobs';
import type { Logger } from '../log';
import { checkApplicable, parseManifest, type ImageFile, type ImageManifest } from './manifest';
import { loadTrustedKeys, verifyWithAny } from './sign';

export { parseManifest, checkApplicable, IMAGE_FILES, type ImageManifest, BuildNumber, fileDigest, parseSigned, SignedFormat } from './manifest';
export { loadTrustedKeys, verifyWithAny } from './sign';

export interface UpdaterOptions {
  /** p1, mounted (mnt/sda1). */
  readonly bootDir: string;
  readonly board: Board;
  readonly boot: BootControl;
  readonly jobs: Jobs;
  readonly log: Logger;
  /** The *App Store URL* setting ("" when unset). */
  readonly storeUrl: () => Promise<string>;
  /** Folder of the trusted public keys (*.pub). */
  readonly keysDir: string;
  /** Reboots the box (the real one runs `reboot`; tests pass their own). */
  readonly reboot: () => Promise<void>;
  /** Raises or clears the update alarm. */
  readonly report?: (outcome: { ok: boolean; label: string; text: string }) => void;
}

export type Step = 'staged' | 'rescue' | 'apply' | 'rootfs' | 'fsck' | 'kernel' | 'normal' | 'finished' | 'confirmed' | 'failed' | 'restored' | 'rolledback';

export interface JournalEntry {
  readonly step: Step;
  readonly label: string;
}

const STEPS = new Set<string>(['staged', 'rescue', 'apply', 'rootfs', 'fsck', 'kernel', 'normal', 'finished', 'confirmed', 'failed', 'restored', 'rolledback']);

/** The journal's entries; lines that are torn or unknown are skipped. */
export function parseJournal(text: string): JournalEntry[] {
  const out: JournalEntry[] = [];
  for (const line of text.split('\n')) {
    const m = /^([a-z]+) (\d{1,12})$/.exec(line.trim());
    if (m && STEPS.has(m[1]!)) out.push({ step: m[1] as Step, label: m[2]! });
  }
  return out;
}

export class Updater {
  readonly dir: string;
  private readonly journalFile: string;

  constructor(private readonly options: UpdaterOptions) {
    this.dir = join(options.bootDir, 'update');
    this.journalFile = join(this.dir, 'journal');
  }

  /** The label running now (p1/label), or null on a box never installed. */
  async runningLabel(): Promise<string | null> {
    const text = await readFile(join(this.options.bootDir, 'label'), 'utf8').catch(() => null);
    const label = text?.trim() ?? '';
    return /^\d{1,12}$/.test(label) ? label : null;
  }

  async journal(): Promise<JournalEntry[]> {
    return parseJournal(await readFile(this.journalFile, 'utf8').catch(() => ''));
  }

  /** Appends a step and makes it durable before the step is taken. */
  async record(step: Step, label: string): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    await appendFile(this.journalFile, `${step} ${label}\n`);
    const handle = await open(this.journalFile, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fsyncDir(this.dir);
  }

  /** What the store offers for this board, and what runs. */
  async check(): Promise<{ running: string | null; available: string | null; store: string }> {
    const store = await this.store();
    const index = await fetchJson(`${store}/images/${this.options.board.name}/index.json`);
    const latest = typeof (index as { latest?: unknown }).latest === 'string' ? (index as { latest: string }).latest : null;
    return { running: await this.runningLabel(), available: latest && /^\d{1,12}$/.test(latest) ? latest : null, store };
  }

  /** Downloads, verifies and stages an image, switches to the rescue and reboots (a job). */
  startUpdate(options: { label?: string; force?: boolean; reboot?: boolean } = {}): JobView {
    if (this.options.jobs.running('update', 'image')) throw new ApError('CONFLICT', 'an image update is running already');
    return this.options.jobs.start('update', 'image', 'updating the App Platform image', async (job) => {
      const label = options.label ?? (await this.check()).available;
      if (!label) throw new ApError('NO_IMAGE', `the store offers no image for board ${this.options.board.name}`);
      const manifest = await this.stage(label, options.force === true, job);
      if (options.reboot === false) return `image ${manifest.label} is staged; it is applied at the next reboot into the rescue system`;
      await this.switchToRescue(manifest.label);
      job.progress(1, 1, 'rebooting into the rescue system');
      this.options.log.info(`image ${manifest.label} staged; rebooting into the rescue system to apply it (progress: /manager/ramdisk.log)`);
      await this.options.reboot();
      return `image ${manifest.label} staged; rebooting to apply it`;
    });
  }

  /**
   * Fetches and checks the manifest (signature, board, label) before anything
   * is written, then downloads each file into p1/update.
   */
  async stage(label: string, force: boolean, job?: JobControl): Promise<ImageManifest> {
    const base = `${await this.store()}/images/${this.options.board.name}/${label}`;
    const manifestBytes = await fetchLimited(`${base}/manifest.json`, 64 * 1024, 'BAD_IMAGE');
    const signature = (await fetchLimited(`${base}/manifest.sig`, 4096, 'BAD_IMAGE').catch((err) => {
      throw new ApError('BAD_IMAGE', `image ${label} is not signed (${describe(err)})`);
    })).toString('utf8');
    const keys = await loadTrustedKeys(this.options.keysDir);
    if (keys.length === 0) throw new ApError('NO_TRUSTED_KEYS', `no trusted image keys in ${this.options.keysDir}: refusing every image`);
    if (!(await verifyWithAny(manifestBytes, signature, keys))) throw new ApError('BAD_IMAGE', `the signature of image ${label} does not verify with a trusted key`);
    const manifest = parseManifest(manifestBytes);
    if (manifest.label !== label) throw new ApError('BAD_IMAGE', `the store's image ${label} says it is ${manifest.label}`);
    checkApplicable(manifest, this.options.board.name, await this.runningLabel(), force);
    const journal = await this.journal();
    const pending = journal.filter((e) => e.step === 'rescue' || e.step === 'apply');
    if (pending.length > 0 && !journal.some((e) => e.step === 'confirmed' || e.step === 'rolledback')) {
      throw new ApError('CONFLICT', `image ${pending.at(-1)!.label} is being applied; wait for it to finish`);
    }

    // Staging: a new update starts from a clean folder, except finished downloads of this same image.
    await mkdir(this.dir, { recursive: true });
    const staged = await readFile(join(this.dir, 'label'), 'utf8').catch(() => '');
    if (staged.trim() !== manifest.label) {
      // p1 holds two rootfs images, not three: the one before the running (confirmed) image goes.
      await rm(join(this.options.bootDir, 'prev'), { recursive: true, force: true });
      await rm(this.dir, { recursive: true, force: true });
      await fsyncDir(this.options.bootDir);
      await mkdir(this.dir, { recursive: true });
      await writeFileAtomic(join(this.dir, 'label'), `${manifest.label}\n`);
    }
    await this.emptyLostFound();
    await this.checkRoom(manifest);
    const total = manifest.files.reduce((sum, f) => sum + f.size, 0);
    let before = 0;
    for (const file of manifest.files) {
      await this.download(`${base}/${file.name}`, file, (bytes) => job?.progress(before + bytes, total, `downloading ${file.name}`));
      before += file.size;
    }
    // What the rescue script checks with sha256sum -c before it writes anything.
    await writeFileAtomic(join(this.dir, 'files.sha256'), manifest.files.map((f) => `${f.sha256}  ${f.name}\n`).join(''));
    await writeFileAtomic(join(this.dir, 'manifest.json'), manifestBytes);
    await writeFileAtomic(join(this.dir, 'manifest.sig'), signature);
    // Each file is fsynced, but on ext2 (p1) its blocks' bitmaps and group
    // descriptors are not: a cut between here and the rescue's e2fsck would
    // have it repair them, and a repair that goes wrong spoils the staging. All
    // of p1 on the disk before "staged" is journaled.
    await syncAll();
    await this.record('staged', manifest.label);
    return manifest;
  }

  /** Journal "rescue", then point the boot control at the rescue system. */
  async switchToRescue(label: string): Promise<void> {
    await this.record('rescue', label);
    await this.options.boot.set('rescue');
  }

  /**
   * p1 is ext2 (no journal): after a power cut, e2fsck puts what the cut left
   * half done (a folder half removed, a file half created: a whole old rootfs
   * image, found so by the vm tier's power cuts) into lost+found, where it
   * would stay and fill p1 within a few cuts. Everything on p1 is ours and
   * written again when needed, so lost+found is emptied before staging.
   */
  private async emptyLostFound(): Promise<void> {
    const lost = join(this.options.bootDir, 'lost+found');
    const entries = await readdir(lost).catch(() => [] as string[]);
    if (entries.length === 0) return;
    for (const entry of entries) await rm(join(lost, entry), { recursive: true, force: true });
    await fsyncDir(lost);
    this.options.log.warn(`removed ${entries.length} item(s) that e2fsck had put into ${lost} after a power cut`);
  }

  /** Refuses to stage an image that cannot fit p1 beside what is there, before a byte is written (NO_ROOM). */
  private async checkRoom(manifest: ImageManifest): Promise<void> {
    let needed = 0;
    for (const file of manifest.files) {
      const final = join(this.dir, file.name);
      const have = (await stat(final).catch(() => null))?.size === file.size ? file.size : ((await stat(`${final}.part`).catch(() => null))?.size ?? 0);
      needed += Math.max(0, file.size - have);
    }
    const fs = await statfs(this.options.bootDir);
    const free = fs.bavail * fs.bsize;
    // A little slack for the journal, the checkpoints and the directory blocks.
    const slack = 1024 * 1024;
    if (needed + slack > free) {
      const mb = (n: number) => `${(n / 1048576).toFixed(1)} MB`;
      throw new ApError('NO_ROOM', `image ${manifest.label} needs ${mb(needed)} more on ${this.options.bootDir}, which has ${mb(free)} free: nothing was downloaded`);
    }
  }

  /**
   * Downloads one file to update/<name>: appends to a .part left by a dropped
   * download (HTTP Range), hashes everything, checks size and SHA-256, fsyncs,
   * renames.
   *
   * A power cut can leave a .part whose size reached the disk and whose data
   * did not (p1 is ext2: no journal). So the .part is fsynced every
   * CHECKPOINT bytes and the length that is surely on the disk written
   * beside it (<name>.part.ok); a resumed download keeps only that much. A
   * resumed file that still does not match its SHA-256 is downloaded again
   * from the start, once, in the same try.
   */
  private async download(url: string, file: ImageFile, onBytes: (bytes: number) => void, fresh = false): Promise<void> {
    const final = join(this.dir, file.name);
    if ((await stat(final).catch(() => null))?.size === file.size && (await sha256File(final)) === file.sha256) return;
    const part = `${final}.part`;
    const mark = `${part}.ok`;
    const hash = createHash('sha256');
    const onDisk = Number((await readFile(mark, 'utf8').catch(() => '0')).trim()) || 0;
    const size = (await stat(part).catch(() => null))?.size ?? 0;
    const have = fresh || onDisk > file.size ? 0 : Math.min(size, onDisk);
    if (size > have) await truncate(part, have);
    if (have > 0) for await (const chunk of createReadStream(part, { highWaterMark: WRITE_BATCH }) as AsyncIterable<Buffer>) hash.update(chunk);
    const resumed = have > 0;
    if (have < file.size) {
      const response = await fetch(url, { headers: have > 0 ? { range: `bytes=${have}-` } : {}, signal: AbortSignal.timeout(30 * 60_000) });
      if (have > 0 && response.status === 200) {
        // The server ignored the range: start over.
        await response.body?.cancel();
        return this.download(url, file, onBytes, true);
      }
      if (!response.ok || !response.body) throw new ApError('DOWNLOAD_FAILED', `${file.name}: the store answered ${response.status}`);
      // Written in batches of up to WRITE_BATCH while the next batch arrives
      // (one write in flight at a time); fsynced and checkpointed every
      // CHECKPOINT bytes and when the connection drops, so that the next try
      // asks only for the rest.
      let received = have;
      let written = have;
      let checkpointed = have;
      let cause = '';
      const out = await open(part, 'a');
      let batch: Uint8Array[] = [];
      let batched = 0;
      let writing: Promise<void> = Promise.resolve();
      const writeAll = async (data: Uint8Array[], length: number) => {
        // writev: the chunks as they came, no copy into one buffer; a short write continues with the rest.
        let done = (await out.writev(data)).bytesWritten;
        if (done < length) {
          const rest = Buffer.concat(data, length).subarray(done);
          for (let off = 0; off < rest.length; ) off += (await out.write(rest, off, rest.length - off)).bytesWritten;
          done = length;
        }
        written += length;
      };
      /** Starts writing what has arrived (after the write before it, which the caller has awaited). */
      const flush = () => {
        if (batched === 0) return;
        const data = batch;
        const length = batched;
        batch = [];
        batched = 0;
        writing = writing.then(() => writeAll(data, length));
        // Awaited before the next batch or at the end; a failure must not go unhandled meanwhile.
        writing.catch(() => undefined);
      };
      const checkpoint = async () => {
        await writing;
        const upto = written;
        if (upto === checkpointed) return;
        await out.sync();
        await writeFileAtomic(mark, `${upto}\n`);
        checkpointed = upto;
      };
      // A checkpoint runs beside the download (the writes after it go on);
      // one at a time, and its failure ends the download.
      let syncing: Promise<void> | null = null;
      let syncFailed: unknown = null;
      const startCheckpoint = () => {
        if (syncing) return;
        syncing = checkpoint()
          .catch((err) => void (syncFailed = err))
          .finally(() => void (syncing = null));
      };
      try {
        const reader = response.body.getReader();
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          const chunk = value as Uint8Array;
          if (received + chunk.length > file.size) throw new ApError('BAD_IMAGE', `${file.name} is larger than its manifest says`);
          hash.update(chunk);
          batch.push(chunk);
          batched += chunk.length;
          received += chunk.length;
          if (batched >= WRITE_BATCH) {
            await writing; // one write in flight: the one before must be done
            flush();
            onBytes(received);
            if (syncFailed) throw syncFailed;
            if (written - checkpointed >= CHECKPOINT) startCheckpoint();
          }
        }
      } catch (err) {
        if (err instanceof ApError) throw err;
        cause = `: ${(err as Error).message}`;
      } finally {
        flush();
        await writing
          .then(() => syncing)
          .then(() => (received < file.size ? checkpoint() : undefined))
          .finally(() => out.close());
        onBytes(received);
      }
      if (received !== file.size) throw new ApError('DOWNLOAD_FAILED', `${file.name}: the download stopped at ${received} of ${file.size} bytes${cause} (it resumes on the next try)`);
    }
    if (hash.digest('hex') !== file.sha256) {
      await rm(part, { force: true });
      await rm(mark, { force: true });
      if (resumed) {
        this.options.log.warn(`${file.name}: what an earlier try had downloaded does not match its manifest (SHA-256): downloading it again from the start`);
        return this.download(url, file, onBytes, true);
      }
      throw new ApError('BAD_IMAGE', `${file.name} does not match its manifest (SHA-256): downloaded again on the next try`);
    }
    const handle = await open(part, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(part, final);
    await rm(mark, { force: true });
    await fsyncDir(this.dir);
    // No read-back here: it would read the page cache, not the disk. The rescue
    // system checks every file from the disk (sha256sum -c, after the reboot)
    // before it writes anything.
  }

  /**
   * At start, once READY: finishes what the journal says. A box that booted the
   * new image confirms it (label, journal, staging removed); a rollback is
   * reported; a staged image whose switch to the rescue was cut is switched now.
   */
  async afterBoot(): Promise<{ outcome: 'none' | 'confirmed' | 'rolledback' | 'resumed'; label?: string }> {
    const journal = await this.journal();
    const last = journal.at(-1);
    if (!last) return { outcome: 'none' };
    const label = last.label;
    if (last.step === 'finished' || last.step === 'normal') {
      await writeFileAtomic(join(this.options.bootDir, 'label'), `${label}\n`);
      await rm(join(this.options.bootDir, 'boot_attempts'), { force: true });
      await this.record('confirmed', label);
      await this.clear();
      this.options.log.info(`image ${label} is running: update confirmed`);
      this.options.report?.({ ok: true, label, text: `the App Platform runs image ${label}` });
      return { outcome: 'confirmed', label };
    }
    if (last.step === 'rolledback') {
      await rm(join(this.options.bootDir, 'boot_attempts'), { force: true });
      await this.clear();
      // No "restored": the rescue found the staged files damaged and changed nothing.
      const restored = journal.some((e) => e.step === 'restored' && e.label === label);
      const text = restored
        ? `image ${label} did not come up three times; the rescue system restored the previous image (see /manager/ramdisk.log)`
        : `image ${label} was not applied: its staged files were damaged on the disk (a power cut, or the disk itself), and the rescue system changed nothing; start the update again (see /manager/ramdisk.log)`;
      this.options.log.error(text);
      this.options.report?.({ ok: false, label, text });
      return { outcome: 'rolledback', label };
    }
    if (last.step === 'staged') {
      this.options.log.warn(`image ${label} was staged but the switch to the rescue system was cut: switching now and rebooting`);
      await this.switchToRescue(label);
      await this.options.reboot();
      return { outcome: 'resumed', label };
    }
    if (last.step === 'confirmed') {
      await this.clear();
      return { outcome: 'none' };
    }
    return { outcome: 'none' };
  }

  /** Removes the staging folder (journal included) once an update has ended. */
  private async clear(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
    await fsyncDir(this.options.bootDir);
  }

  private async store(): Promise<string> {
    const url = (await this.options.storeUrl()).replace(/\/+$/, '');
    if (!url) throw new ApError('NO_STORE', 'set the App Store URL first (setting appStoreUrl)');
    return url;
  }
}

/** Bytes gathered before a write while downloading an image file. */
const WRITE_BATCH = 1024 * 1024;
/** Bytes after which a download's .part is fsynced and its length recorded (what a resume may keep). */
const CHECKPOINT = 16 * 1024 * 1024;

/** sync(1): every filesystem's dirty blocks to the disk (Node has no syncfs). A box without it only loses the extra care. */
function syncAll(): Promise<void> {
  return new Promise((resolve) => execFile('sync', { timeout: 120_000 }, () => resolve()));
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: WRITE_BATCH }) as AsyncIterable<Buffer>) hash.update(chunk);
  return hash.digest('hex');
}

async function fetchJson(url: string): Promise<unknown> {
  try {
    return JSON.parse((await fetchLimited(url, 64 * 1024, 'BAD_IMAGE')).toString('utf8'));
  } catch (err) {
    if (err instanceof ApError) throw err;
    throw new ApError('STORE_UNAVAILABLE', `${url}: ${(err as Error).message}`);
  }
}

export { updateRoutes } from './api';
export type { UpdateState } from './views';
