import assert from 'node:assert/strict';
import { readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { bootControl, grubConfig, parseGateway, parseGrub, parseGrubMenu } from '../../src/boot';
import { getBoard } from '../../src/config';
import { workspace } from '../harness/workspace';

let dir: string;
before(async () => {
  dir = await workspace('ap-boot-');
});
after(() => rm(dir, { recursive: true, force: true }));

describe('boot control', () => {
  it('grub: entry 0 rescue/setup, entry 1 normal, chosen by set default', async () => {
    const control = bootControl(getBoard('x86_64'), join(dir, 'vm'));
    assert.equal((await control.read()).mode, 'rescue'); // nothing written yet: the rescue can repair it
    assert.equal((await control.set('normal')).mode, 'normal');
    const cfg = await readFile(join(dir, 'vm/grub/grub.cfg'), 'utf8');
    assert.match(cfg, /^set default=1$/m);
    assert.match(cfg, /menuentry "rescue\/setup"[\s\S]*root=\/dev\/ram0[\s\S]*menuentry "App Platform"[\s\S]*root=\/dev\/sda3/);
    // The seed's manual fix reads as expected: set default=0 is the rescue.
    assert.equal(parseGrub(cfg.replace(/^set default=1$/m, 'set default=0')), 'rescue');
    assert.equal((await control.set('rescue')).mode, 'rescue');
    assert.equal((await control.read()).mode, 'rescue');
  });

  it('gateway: the three values of the admin UI, per board', async () => {
    const ipx13 = bootControl(getBoard('ipx13'), join(dir, 'gw'));
    assert.deepEqual(await ipx13.set('normal'), { mode: 'normal', kind: 'gateway', kernelCommandLine: 'root=/dev/nvme0n1p3', initrdFile: '', ramdiskSize: '' });
    assert.equal(await readFile(join(dir, 'gw/bootsettings'), 'utf8'), 'cmdline=root=/dev/nvme0n1p3\ninitrd=\nramdisk_size=\n');
    assert.deepEqual(await ipx13.set('rescue'), { mode: 'rescue', kind: 'gateway', kernelCommandLine: 'root=/dev/ram0', initrdFile: 'ramdisk.ext2.xz', ramdiskSize: '100000' });
    // What a technician types into the gateway UI by hand reads the same.
    assert.equal(parseGateway('cmdline=/dev/ram0\ninitrd=ramdisk.ext2.xz\nramdisk_size=100000\n').mode, 'rescue');
    assert.equal(parseGateway('cmdline=root=/dev/sda3\n').mode, 'normal');
  });

  it('shows what the Manager page needs: the file behind the setting, whether it is written, and the GRUB menu as written', async () => {
    const vm = bootControl(getBoard('x86_64'), join(dir, 'inspect-vm'));
    assert.deepEqual(await vm.inspect(), { settings: await vm.read(), control: 'grub', file: vm.file, written: false, grub: null });
    await vm.set('normal');
    const shown = await vm.inspect();
    assert.deepEqual([shown.written, shown.settings.mode], [true, 'normal']);
    assert.deepEqual(shown.grub, {
      defaultEntry: 1,
      entries: [
        { title: 'rescue/setup', kernelCommandLine: 'root=/dev/ram0 ramdisk_size=100000 console=tty0 console=ttyS0' },
        { title: 'App Platform', kernelCommandLine: 'root=/dev/sda3 rootwait console=tty0 console=ttyS0' },
      ],
    });
    // A technician's hand-edited file reads as it is: single quotes, options after the title, no default.
    assert.deepEqual(parseGrubMenu("menuentry 'mine' --class linux {\n\tlinux /vmlinuz root=/dev/sdb1 quiet\n}\n"), { defaultEntry: null, entries: [{ title: 'mine', kernelCommandLine: 'root=/dev/sdb1 quiet' }] });
    const gateway = bootControl(getBoard('ipx11'), join(dir, 'inspect-gw'));
    assert.deepEqual(await gateway.inspect(), { settings: await gateway.read(), control: 'gateway', file: gateway.file, written: false, grub: null });
    await gateway.set('normal');
    assert.equal((await gateway.inspect()).written, true);
    // A workstation keeps the file but boots nothing from it: the page says so.
    assert.equal((await bootControl(getBoard('dev'), join(dir, 'inspect-dev')).inspect()).control, 'none');
  });

  for (const board of ['x86_64', 'ipx10'] as const) {
    it(`${board}: a write cut at any byte still reads as the old or the new value`, async () => {
      const folder = join(dir, `cut-${board}`);
      const control = bootControl(getBoard(board), folder);
      await control.set('normal');
      const before = await stat(control.file);
      const next = board === 'x86_64' ? grubConfig('rescue', 'root=/dev/sda3') : 'cmdline=root=/dev/ram0\ninitrd=ramdisk.ext2.xz\nramdisk_size=100000\n';
      // Power lost while the new content was being written: the file beside holds any prefix of it.
      for (let i = 0; i <= next.length; i++) {
        await writeFile(`${control.file}.new`, next.slice(0, i));
        assert.equal((await control.read()).mode, 'normal', `cut after ${i} bytes`);
      }
      // The file itself is never written in place: a completed change is a new file (renamed over).
      await control.set('rescue');
      assert.equal((await control.read()).mode, 'rescue');
      assert.notEqual((await stat(control.file)).ino, before.ino);
      assert.deepEqual((await readdir(folder, { recursive: true })).filter((n) => String(n).endsWith('.new')), []);
    });
  }
});
