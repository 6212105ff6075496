// An OS image: a manifest (board, arch, label i.e. build number, and per file
// its size and SHA-256), signed with ed25519, plus the files. The signature
// covers the manifest's exact bytes; the manifest covers the files' bytes.
// Everything here is checked before anything on the disk changes.
import { ApError } from '../errors';

/** The files an image carries, by their names on p1. */
export const IMAGE_FILES = ['kernel', 'ramdisk.ext2.xz', 'rootfs.img'] as const;
export type ImageFileName = (typeof IMAGE_FILES)[number];

export interface ImageFile {
  readonly name: ImageFileName;
  readonly size: number;
  readonly sha256: string;
}

export interface ImageManifest {
  readonly format: 1;
  readonly board: string;
  readonly arch: string;
  /** The build number, e.g. "130015": what mnt/sda1/label holds once it runs. */
  readonly label: string;
  readonly createdAt: string;
  readonly files: readonly ImageFile[];
}

const MAX_MANIFEST = 64 * 1024;
/** Largest file an image may carry (p1 is 200 MB on gateways and must hold two rootfs images). */
export const MAX_IMAGE_FILE = 1024 * 1024 * 1024;

function refuse(message: string): never {
  throw new ApError('BAD_IMAGE', message);
}

/** Parses and checks a manifest's bytes; BAD_IMAGE naming what is wrong. */
export function parseManifest(bytes: Uint8Array): ImageManifest {
  if (bytes.length === 0 || bytes.length > MAX_MANIFEST) refuse(`the manifest is ${bytes.length} bytes (at most ${MAX_MANIFEST})`);
  let m: Record<string, unknown>;
  try {
    m = JSON.parse(Buffer.from(bytes).toString('utf8')) as Record<string, unknown>;
  } catch {
    refuse('the manifest is not JSON');
  }
  if (typeof m !== 'object' || m === null || Array.isArray(m)) refuse('the manifest is not an object');
  if (m.format !== 1) refuse(`manifest format ${String(m.format)} is not one this supervisor reads`);
  if (typeof m.board !== 'string' || !/^[a-z0-9_]{1,32}$/.test(m.board)) refuse('the manifest names no board');
  if (typeof m.arch !== 'string' || m.arch.length === 0 || m.arch.length > 32) refuse('the manifest names no architecture');
  if (typeof m.label !== 'string' || !/^\d{1,12}$/.test(m.label)) refuse('the manifest label must be a build number');
  if (typeof m.createdAt !== 'string' || Number.isNaN(Date.parse(m.createdAt))) refuse('the manifest has no creation time');
  if (!Array.isArray(m.files)) refuse('the manifest lists no files');
  const seen = new Set<string>();
  const files = (m.files as unknown[]).map((f, i) => {
    const file = f as Record<string, unknown>;
    if (typeof file !== 'object' || file === null) refuse(`manifest file ${i} is not an object`);
    if (!(IMAGE_FILES as readonly unknown[]).includes(file.name)) refuse(`manifest file ${i}: "${String(file.name)}" is not one of ${IMAGE_FILES.join(', ')}`);
    if (seen.has(file.name as string)) refuse(`manifest file ${String(file.name)} is listed twice`);
    seen.add(file.name as string);
    if (!Number.isSafeInteger(file.size) || (file.size as number) <= 0 || (file.size as number) > MAX_IMAGE_FILE) refuse(`manifest file ${String(file.name)}: bad size`);
    if (typeof file.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(file.sha256)) refuse(`manifest file ${String(file.name)}: bad sha256`);
    return { name: file.name as ImageFileName, size: file.size as number, sha256: file.sha256 };
  });
  for (const name of IMAGE_FILES) if (!seen.has(name)) refuse(`the manifest has no ${name}`);
  return { format: 1, board: m.board, arch: m.arch, label: m.label, createdAt: m.createdAt, files };
}

/** Whether this box may install `manifest`: its board, and newer than the running label unless forced. */
export function checkApplicable(manifest: ImageManifest, board: string, runningLabel: string | null, force: boolean): void {
  if (manifest.board !== board) refuse(`the image is for board ${manifest.board}; this box is ${board}`);
  if (runningLabel !== null && /^\d+$/.test(runningLabel) && !force) {
    if (BigInt(manifest.label) === BigInt(runningLabel)) refuse(`image ${manifest.label} is already installed (force to install it again)`);
    if (BigInt(manifest.label) < BigInt(runningLabel)) refuse(`image ${manifest.label} is older than the running ${runningLabel} (force to go back)`);
  }
}
