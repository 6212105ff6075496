// An OS image: a manifest (board, arch, label i.e. build number, and per file
// its size and SHA-256), signed with ed25519, plus the files. The signature
// covers the manifest's exact bytes; the manifest covers the files' bytes.
// Everything here is checked before anything on the disk changes.
import { ApError } from '../errors';
import { asSentence, problem, T, type Static, type TSchema } from '../schema';

// What a signed manifest is, for OS images and App Store packages alike: JSON
// of format 1 whose exact bytes the signature covers, a build number, and per
// file its size and SHA-256 (the files' own names and extra fields differ).

/** A build number such as 130015: an image's label, a package's build. */
export const BuildNumber = T.String({ pattern: '^\\d{1,12}$', errorMessage: 'must be a build number' });

/** The size and SHA-256 a signed manifest gives a file; `maxSize` its largest size, `minSize` its smallest. */
export function fileDigest(minSize: number, maxSize: number) {
  return {
    size: T.Integer({ minimum: minSize, maximum: maxSize, errorMessage: 'bad size' }),
    sha256: T.String({ pattern: '^[0-9a-f]{64}$', errorMessage: 'bad sha256' }),
  };
}

/** The format every signed manifest declares; another is refused by name before its fields are read. */
export const SignedFormat = { format: T.Literal(1) };

/**
 * Parses a signed manifest's bytes against `schema`: `what` ("the manifest")
 * and `file(i)` name the manifest and its files in the errors handed to `refuse`.
 */
export function parseSigned<S extends TSchema>(bytes: Uint8Array, schema: S, what: string, refuse: (message: string) => never, file: (value: unknown, i: number) => string): Static<S> {
  let m: unknown;
  try {
    m = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    refuse(`${what} is not JSON`);
  }
  if (typeof m !== 'object' || m === null || Array.isArray(m)) refuse(`${what} is not an object`);
  const format = (m as { format?: unknown }).format;
  if (format !== 1) refuse(`${what.replace(/^the /, '')} format ${String(format)} is not one this supervisor reads`);
  const found = problem(schema, m);
  if (!found) return m as Static<S>;
  const [top, index, ...rest] = found.field.split('.');
  const files = (m as { files?: unknown }).files;
  if (top === 'files' && index !== undefined && Array.isArray(files)) {
    // A file is named as people know it (its name or path), not by its place in the list.
    const field = rest.length && !found.reason.startsWith('bad ') ? `"${rest.join('.')}" ${asSentence(found.reason)}` : found.reason;
    refuse(`${file(files[Number(index)], Number(index))}: ${field}`);
  }
  refuse(found.field ? `${what}: "${found.field}" ${asSentence(found.reason)}` : `${what} ${found.reason}`);
}

/** The files an image carries, by their names on p1. */
export const IMAGE_FILES = ['kernel', 'ramdisk.ext2.xz', 'rootfs.img'] as const;
export type ImageFileName = (typeof IMAGE_FILES)[number];

const MAX_MANIFEST = 64 * 1024;
/** Largest file an image may carry (p1 is 200 MB on gateways and must hold two rootfs images). */
export const MAX_IMAGE_FILE = 1024 * 1024 * 1024;

const ImageFile = T.Object(
  {
    name: T.Union(
      IMAGE_FILES.map((name) => T.Literal(name)),
      { errorMessage: `is not one of ${IMAGE_FILES.join(', ')}` },
    ),
    ...fileDigest(1, MAX_IMAGE_FILE),
  },
);
export type ImageFile = Static<typeof ImageFile>;

/** manifest.json of an OS image. */
export const ImageManifest = T.Object(
  {
    ...SignedFormat,
    board: T.String({ pattern: '^[a-z0-9_]{1,32}$', errorMessage: 'must name a board' }),
    arch: T.String({ minLength: 1, maxLength: 32, errorMessage: 'must name an architecture' }),
    /** The build number, e.g. "130015": what mnt/sda1/label holds once it runs. */
    label: BuildNumber,
    createdAt: T.String({ errorMessage: 'must be a creation time' }),
    files: T.Array(ImageFile, { errorMessage: `must list the files ${IMAGE_FILES.join(', ')}` }),
  },
);
export type ImageManifest = Static<typeof ImageManifest>;

function refuse(message: string): never {
  throw new ApError('BAD_IMAGE', message);
}

/** Parses and checks a manifest's bytes; BAD_IMAGE naming what is wrong. */
export function parseManifest(bytes: Uint8Array): ImageManifest {
  if (bytes.length === 0 || bytes.length > MAX_MANIFEST) refuse(`the manifest is ${bytes.length} bytes (at most ${MAX_MANIFEST})`);
  const fileName = (f: unknown, i: number) => {
    const name = (f as { name?: unknown } | null)?.name;
    return (IMAGE_FILES as readonly unknown[]).includes(name) ? `manifest file ${String(name)}` : `manifest file ${i}`;
  };
  const m = parseSigned(bytes, ImageManifest, 'the manifest', refuse, fileName);
  if (Number.isNaN(Date.parse(m.createdAt))) refuse('the manifest: "createdAt" must be a creation time');
  const seen = new Set<string>();
  for (const file of m.files) {
    if (seen.has(file.name)) refuse(`manifest file ${file.name} is listed twice`);
    seen.add(file.name);
  }
  for (const name of IMAGE_FILES) if (!seen.has(name)) refuse(`the manifest has no ${name}`);
  // Fields a newer manifest may add are not carried along.
  const files = m.files.map(({ name, size, sha256 }) => ({ name, size, sha256 }));
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
