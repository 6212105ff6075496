// The Boot settings page: which system the next boot starts (the App Platform
// or the rescue system), the gateway's three values with what each means, the
// GRUB menu on x86_64, and the update journal with what each step did. The
// gateway itself keeps reading the raw values at /manager/boot.
import { useState } from 'preact/hooks';
import { api } from '../api';
import { DangerButton } from '../confirm';
import { ErrorText } from '../components/errors';
import { useFetch } from '../hooks/fetch';
import type { BootDetails } from '../types';

type Step = BootDetails['journal'][number];

/** What each journal step of an update (src/image, rootfs-scripts/install_step1.sh) records. */
const STEPS: Readonly<Record<string, string>> = {
  staged: 'the image was downloaded to p1 and its signature checked',
  rescue: 'the next boot was switched to the rescue system, which applies the image',
  apply: 'the rescue system started applying it (it checks the staged files first)',
  rootfs: 'the new system was written to p3',
  fsck: 'p3 was checked (e2fsck)',
  kernel: 'the new kernel and ramdisk were put in place; the running ones are kept in p1/prev',
  normal: 'the next boot was switched back to the App Platform',
  finished: 'the rescue system was done and rebooted into the new image',
  confirmed: 'the new image came up and was confirmed',
  failed: 'applying failed (the staged files were damaged): nothing was changed',
  restored: 'the new image did not come up three times: the previous one was written back to p3',
  rolledback: 'the box runs the previous image again',
};

/** The three values as the gateway's admin UI names them (App Platform → General), and what each does. */
const VALUES: readonly [key: 'kernelCommandLine' | 'initrdFile' | 'ramdiskSize', name: string, meaning: string][] = [
  ['kernelCommandLine', 'Kernel command line', 'the root file system Linux starts: root=/dev/sda3 (root=/dev/nvme0n1p3 on an IPx13) is the App Platform on p3; root=/dev/ram0 is the rescue system in a ramdisk'],
  ['initrdFile', 'Initrd file', 'the ramdisk loaded with the kernel: empty for the App Platform, ramdisk.ext2.xz (on p1) for the rescue system'],
  ['ramdiskSize', 'Ramdisk size', 'the size of that ramdisk in KB: empty for the App Platform, 100000 for the rescue system'],
];

/** An update is waiting for the rescue system to apply it. */
const pending = (journal: readonly Step[]) => ['staged', 'rescue'].includes(journal.at(-1)?.step ?? '');

function NextBoot({ details, onChanged }: { details: BootDetails; onChanged: () => void }) {
  const [error, setError] = useState<unknown>(null);
  const set = async (mode: 'normal' | 'rescue') => {
    setError(null);
    try {
      await api('PUT', '/boot', { mode });
      onChanged();
    } catch (err) {
      setError(err);
    }
  };
  const staged = pending(details.journal) ? details.journal.at(-1)!.label : null;
  return (
    <>
      <p class="note">Nothing reboots here: the choice applies at the box's next reboot.</p>
      {details.boot.settings.mode === 'normal' ? (
        <DangerButton
          question={{
            title: 'Boot the rescue system next time?',
            consequence: 'At the next reboot the box starts the rescue system instead of the App Platform: no app runs until it boots the App Platform again. The rescue system applies a staged update or rolls back a failed one and then switches back by itself; otherwise a technician switches back on its console or here.',
            confirm: 'Boot the rescue system next',
          }}
          act={() => set('rescue')}
        >
          Boot the rescue system next time
        </DangerButton>
      ) : staged ? (
        <DangerButton
          question={{
            title: 'Boot the App Platform next time?',
            consequence: `Image ${staged} is staged and waits for the rescue system to apply it. Booting the App Platform instead leaves it unapplied: start the update again later.`,
            confirm: 'Boot the App Platform next',
          }}
          act={() => set('normal')}
        >
          Boot the App Platform next time
        </DangerButton>
      ) : (
        <button type="button" onClick={() => set('normal')}>
          Boot the App Platform next time
        </button>
      )}
      <ErrorText error={error} />
    </>
  );
}

export function BootPage() {
  const { data, error, reload } = useFetch<BootDetails>('/boot/details', { live: true });
  const boot = data?.boot;
  return (
    <section class="boot">
      <h1>Boot settings</h1>
      <p>
        Which system the box starts at its next boot: the App Platform, or the rescue system, which applies image updates, restores the previous image when a new one does not come up, and is where a technician repairs the box. An update switches it by
        itself. <a href="#/system">System</a> · <a href="#/rescue-log">Rescue system log</a>
      </p>
      <ErrorText error={error} />
      {data && boot && (
        <>
          <dl class="fields">
            <dt>Next boot</dt>
            <dd class={`state ${boot.settings.mode}`}>{boot.settings.mode === 'normal' ? 'the App Platform (normal)' : 'the rescue system'}</dd>
            <dt>Running image</dt>
            <dd>{data.running ?? 'unknown (p1 holds no label)'}</dd>
            <dt>Kept in</dt>
            <dd>
              <code>{boot.file}</code>
              {!boot.written && ' — not written yet: it reads as the rescue system, which writes it'}
            </dd>
          </dl>
          {boot.control === 'none' && <p class="note">This board (a workstation) boots nothing from this file: it is kept so that updates can be tried here.</p>}
          <NextBoot details={data} onChanged={() => void reload()} />

          <h2>Gateway boot settings</h2>
          <p>
            {boot.control === 'grub'
              ? 'A virtual machine boots through GRUB (below); these are the same values as its entries hold.'
              : 'What the gateway\u2019s admin UI shows under App Platform → General. The gateway reads them from /manager/boot.'}
          </p>
          <dl class="boot-values">
            {VALUES.map(([key, name, meaning]) => (
              <div key={key}>
                <dt>{name}</dt>
                <dd>
                  {boot.settings[key] ? <code>{boot.settings[key]}</code> : <em>empty</em>}
                  <span class="note"> — {meaning}</span>
                </dd>
              </div>
            ))}
          </dl>

          {boot.control === 'grub' && (
            <>
              <h2>GRUB menu</h2>
              {boot.grub ? (
                <>
                  <p>Entry 0 is the rescue system, entry 1 the App Platform; <code>set default=N</code> in grub.cfg chooses the one booted.</p>
                  <ol start={0} class="grub">
                    {boot.grub.entries.map((e, i) => (
                      <li key={i}>
                        <strong>{e.title}</strong>
                        {boot.grub!.defaultEntry === i && ' (booted next)'}: <code>{e.kernelCommandLine}</code>
                      </li>
                    ))}
                  </ol>
                </>
              ) : (
                <p>grub.cfg is missing: GRUB shows its own prompt. The rescue system writes it again.</p>
              )}
            </>
          )}

          <h2>Update journal</h2>
          <p>Each step of an image update is written to p1/update/journal before it is taken, so that a power cut at any point resumes or rolls back. The journal is removed once an update has ended.</p>
          {data.journal.length === 0 ? (
            <p>No image update is under way.</p>
          ) : (
            <ol class="journal">
              {data.journal.map((e, i) => (
                <li key={i}>
                  <strong>{e.step}</strong> (image {e.label}): {STEPS[e.step]}
                </li>
              ))}
            </ol>
          )}
        </>
      )}
    </section>
  );
}
