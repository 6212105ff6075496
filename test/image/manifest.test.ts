// An OS image's manifest: what it must say before anything on the disk changes.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { IMAGE_FILES, parseManifest } from '../../src/image';

const sha = 'a'.repeat(64);
const files = IMAGE_FILES.map((name) => ({ name, size: 1, sha256: sha }));
const good = { format: 1, board: 'x86_64', arch: 'x86_64', label: '130015', createdAt: '2026-11-30T02:00:00.000Z', files };
const bytes = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value));

describe('image manifest', () => {
  it('reads board, arch, label and the three files; fields a newer manifest adds are not carried along', () => {
    const m = parseManifest(bytes({ ...good, notes: 'x', files: files.map((f) => ({ ...f, mode: 1 })) }));
    assert.deepEqual(m, good);
  });

  const bad: [string, unknown, RegExp][] = [
    ['not JSON', '{', /the manifest is not JSON/],
    ['an array', [good], /the manifest is not an object/],
    ['another format', { ...good, format: 2 }, /manifest format 2 is not one this supervisor reads/],
    ['no board', { ...good, board: undefined }, /the manifest: "board" must name a board/],
    ['a board in capitals', { ...good, board: 'IPX10' }, /"board" must name a board/],
    ['an empty arch', { ...good, arch: '' }, /"arch" must name an architecture/],
    ['a label that is a number', { ...good, label: 130015 }, /"label" must be a build number/],
    ['a label that is not a build number', { ...good, label: '13.0' }, /"label" must be a build number/],
    ['no creation time', { ...good, createdAt: undefined }, /"createdAt" must be a creation time/],
    ['a creation time that is no date', { ...good, createdAt: 'yesterday' }, /"createdAt" must be a creation time/],
    ['files that are not a list', { ...good, files: {} }, /"files" must list the files kernel, ramdisk\.ext2\.xz, rootfs\.img/],
    ['a file it does not know', { ...good, files: [...files, { name: 'boot.img', size: 1, sha256: sha }] }, /manifest file 3: "name" is not one of kernel/],
    ['a file twice', { ...good, files: [...files, files[0]] }, /manifest file kernel is listed twice/],
    ['a missing file', { ...good, files: files.slice(1) }, /the manifest has no kernel/],
    ['an empty file', { ...good, files: [{ ...files[0], size: 0 }, ...files.slice(1)] }, /manifest file kernel: bad size/],
    ['a size that is a string', { ...good, files: [{ ...files[0], size: '1' }, ...files.slice(1)] }, /manifest file kernel: bad size/],
    ['a short hash', { ...good, files: [{ ...files[0], sha256: 'abc' }, ...files.slice(1)] }, /manifest file kernel: bad sha256/],
    ['a file that is not an object', { ...good, files: [7, ...files] }, /manifest file 0: expected an object/],
  ];
  for (const [what, value, message] of bad) {
    it(`refuses ${what}: BAD_IMAGE naming the field`, () => {
      assert.throws(() => parseManifest(bytes(value)), (err: { code?: string; message: string }) => err.code === 'BAD_IMAGE' && message.test(err.message));
    });
  }
});
