// Settings, one page per section (#/settings/<section>) with a menu that says
// which is current: tabs on a wide screen, a compact menu on a phone. Each
// section's settings are one form with one Save (components/settings-form.tsx);
// what this version keeps but does not act on yet sits apart at its end. The
// sections' buttons (test mail, certificate, updates, restart) are in
// settings-actions.tsx, and what each section holds in settings-sections.ts.
import type { ComponentChildren } from 'preact';
import { useRef } from 'preact/hooks';
import { BackupKeyCard } from '../components/backup-key';
import { ErrorText } from '../components/errors';
import { SettingsForm } from '../components/settings-form';
import { useFetch } from '../hooks/fetch';
import { href, SETTINGS_SECTIONS, type SettingsSection } from '../routes';
import { SECTION_SETTINGS } from '../settings-sections';
import type { SettingSpec } from '../types';
import { PowerCard, SecurityCards, TestMail, UpdateCards } from './settings-actions';

/** What a section says first, and what it shows besides its settings. */
const ABOUT: Partial<Record<SettingsSection, { readonly intro?: ComponentChildren; readonly later?: string; readonly extra?: () => ComponentChildren }>> = {
  general: { later: "The box's network, time and Devices settings: kept and checked, but this version does not apply them yet." },
  alarms: { intro: 'Where alarms go: a mail to an address, and the Events app.', extra: () => <TestMail /> },
  smtp: { intro: 'The mail server for alarm and test mails.' },
  security: { extra: () => <SecurityCards /> },
  backups: { intro: 'The command file schedules backups to URLs (docs/backup.md); the backup key encrypts every backup the box writes.', extra: () => <BackupKeyCard /> },
  update: { extra: () => <UpdateCards /> },
  power: { extra: () => <PowerCard /> },
  logs: { intro: 'The access log, and who may read the Prometheus metrics (/manager/metrics) besides the box itself.' },
  installer: { intro: 'What the PBX Manager\'s App Installer may do on this box.' },
  replication: {
    intro: (
      <>
        This box is made a primary, and its standbys added, on the <a href={href({ page: 'replication' })}>Replication</a> page.
      </>
    ),
    later: "A standby's settings: saved and checked; this version does not run a standby from them yet.",
  },
  letsencrypt: { later: "Saved and checked; this version does not request certificates from Let's Encrypt yet (upload one under Security)." },
  'access-domains': { later: 'Saved and checked; not used by this version yet.' },
};

export function SettingsPage({ section }: { section: SettingsSection }) {
  const { data, error, reload } = useFetch<{ settings: Record<string, SettingSpec> }>('/settings', { live: true });
  const about = ABOUT[section] ?? {};
  const { fields, later } = SECTION_SETTINGS[section];
  return (
    <section class="settings">
      <h1>Settings</h1>
      <SectionMenu current={section} />
      <h2 class="section-title">{headingOf(section)}</h2>
      {about.intro && <p class="note">{about.intro}</p>}
      {fields.length + later.length > 0 &&
        (data ? (
          // Keyed by section: another section is a new form, with none of this one's edits.
          <SettingsForm key={section} settings={data.settings} fields={fields} later={later} laterNote={about.later ?? ''} onSaved={reload} />
        ) : (
          <ErrorText error={error} />
        ))}
      {about.extra?.()}
    </section>
  );
}

const headingOf = (section: SettingsSection) => SECTION_SETTINGS[section].heading ?? SECTION_SETTINGS[section].title;

/** The sections as links; the current one marked (aria-current). */
function SectionMenu({ current }: { current: SettingsSection }) {
  const compact = useRef<HTMLDetailsElement>(null);
  // A function, not one element: Preact renders an element in one place only.
  const links = () => (
    <ul>
      {SETTINGS_SECTIONS.map((s) => (
        <li key={s}>
          <a href={href({ page: 'settings', section: s })} aria-current={s === current ? 'page' : undefined} onClick={() => compact.current?.removeAttribute('open')}>
            {SECTION_SETTINGS[s].title}
          </a>
        </li>
      ))}
    </ul>
  );
  return (
    <>
      <nav class="section-tabs" aria-label="Settings sections">
        {links()}
      </nav>
      <details class="section-menu" ref={compact}>
        <summary>
          Section: <strong>{SECTION_SETTINGS[current].title}</strong>
        </summary>
        <nav aria-label="Settings sections (menu)">{links()}</nav>
      </details>
    </>
  );
}
