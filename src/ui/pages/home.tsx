// Home: the box's health at a glance. One line at the very top says whether
// all is well; the active alarms follow, each with its severity in words, when
// it was raised, what to do and a link to the page where one does it; then a
// card per part of the box (services, instances with their last backup, disk,
// memory, update, replication), each linking to where one acts on it. Adding
// an instance or an app is on its own page (#/new).
import { useEffect, useState } from 'preact/hooks';
import { api } from '../api';
import { ErrorText, errorText } from '../components/errors';
import { Action, useAction } from '../components/outcome';
import { duration, when } from '../format';
import { useFetch } from '../hooks/fetch';
import type { Alarm, BackupRecord, Instance, Severity, Status } from '../types';
import { Ago, backupWarning, DiskCard, InstancesCard, MemoryCard, ReplicationCard, ServicesCard, UpdateCard } from './home-cards';

const SEVERITY: Record<Severity, string> = { critical: 'Critical', major: 'Major', minor: 'Minor', warning: 'Warning' };

export function Home() {
  const status = useFetch<Status>('/status', { live: true });
  const alarms = useFetch<{ active: Alarm[] }>('/alarms', { live: true });
  const instances = useFetch<{ instances: Instance[] }>('/instances', { live: true });
  const backups = useFetch<{ records: BackupRecord[] }>('/backups/last', { live: true });
  const s = status.data;
  // "5 min ago" must not stay "just now" on a page left open: drawn again every half minute.
  const [, setTick] = useState(0);
  useEffect(() => {
    const timer = setInterval(() => setTick((t) => t + 1), 30_000);
    return () => clearInterval(timer);
  }, []);
  return (
    <section>
      <h1>App Platform</h1>
      <Overall alarms={alarms.data?.active ?? null} instances={instances.data?.instances ?? null} backups={backups.data?.records ?? null} error={alarms.error ?? instances.error ?? backups.error} />
      {s && (
        <p>
          Version {s.version} (build {s.label}), board {s.board}, up <span title={`since ${when(s.startedAt)}`}>{duration(s.uptimeSeconds)}</span>
        </p>
      )}
      <ErrorText error={status.error} />
      <h2>Alarms</h2>
      <Alarms active={alarms.data?.active ?? null} reload={alarms.reload} />
      <ErrorText error={alarms.error} />
      <div class="dashboard">
        <ServicesCard />
        <InstancesCard instances={instances.data?.instances ?? null} backups={backups.data?.records ?? []} error={instances.error ?? backups.error} />
        <DiskCard />
        <MemoryCard />
        <UpdateCard />
        <ReplicationCard />
      </div>
    </section>
  );
}

/** "All is well" or how many problems need attention: the alarms nobody acknowledged, and instances without a recent backup. */
function Overall({ alarms, instances, backups, error }: { alarms: Alarm[] | null; instances: Instance[] | null; backups: BackupRecord[] | null; error: unknown }) {
  let text: string;
  let well = false;
  if (error) text = `Cannot tell how the box is: ${errorText(error)}`;
  else if (!alarms || !instances || !backups) text = 'Looking at the box…';
  else {
    const seen = alarms.filter((a) => a.acknowledgedAt).length;
    const problems = alarms.length - seen + instances.filter((i) => backupWarning(i, backups.find((b) => b.instance === i.id))).length;
    well = problems === 0;
    const still = seen === 0 ? '' : ` (${seen} acknowledged ${seen === 1 ? 'alarm is' : 'alarms are'} still active)`;
    text = (well ? (seen ? 'Nothing new needs attention' : 'All is well') : `${problems} ${problems === 1 ? 'problem needs' : 'problems need'} attention`) + still;
  }
  return (
    <p class={`overall ${well ? 'well' : 'attention'}`} role="status">
      {text}
    </p>
  );
}

function Alarms({ active, reload }: { active: Alarm[] | null; reload: () => Promise<unknown> }) {
  if (!active) return null;
  if (active.length === 0) return <p class="note">No active alarms.</p>;
  return (
    <ul class="alarms">
      {active.map((a) => (
        <li key={a.id} class={`alarm ${a.severity}${a.acknowledgedAt ? ' acknowledged' : ''}`}>
          <p>
            <span class={`severity ${a.severity}`}>{SEVERITY[a.severity]}</span> <strong>{a.text}</strong>
          </p>
          <p class="note">
            {a.code} from {a.source}, raised <Ago at={a.raisedAt} />
          </p>
          {a.todo && <p>What to do: {a.todo}</p>}
          {a.link && (
            <p>
              <a href={a.link.href}>Go to {a.link.label}</a>
            </p>
          )}
          <Acknowledge alarm={a} reload={reload} />
        </li>
      ))}
    </ul>
  );
}

/** "Seen, on it": the alarm stays until its cause is gone, but no longer counts as a problem nobody looks at. */
function Acknowledge({ alarm, reload }: { alarm: Alarm; reload: () => Promise<unknown> }) {
  const [outcome, run] = useAction();
  if (alarm.acknowledgedAt)
    return (
      <p class="note">
        Acknowledged <Ago at={alarm.acknowledgedAt} />; it stays here until its cause is gone.
      </p>
    );
  const acknowledge = () =>
    run(async () => {
      await api('POST', `/alarms/${alarm.id}/acknowledge`, {});
      await reload();
      return '';
    });
  return (
    <Action outcome={outcome}>
      <button type="button" class="small" disabled={outcome.busy} onClick={acknowledge} aria-label={`Acknowledge: ${alarm.text}`}>
        Acknowledge
      </button>
    </Action>
  );
}
