// The dashboard's cards (src/ui/pages/home.tsx): one part of the box each,
// with an empty state in words and a link to the page where one acts.
import type { ComponentChildren } from 'preact';
import { AppLink, useAppUrl } from '../components/app-link';
import { ErrorText } from '../components/errors';
import { State } from '../components/live';
import { ago, bytes, duration, percent, when } from '../format';
import { useFetch } from '../hooks/fetch';
import { href } from '../router';
import type { BackupRecord, Budget, Crash, Instance, Replication, Series, Service, SettingSpec, UpdateState } from '../types';

/** How old the last successful backup may be before the dashboard warns. */
const BACKUP_AGE_MS = 2 * 24 * 3600_000;

/** "5 min ago", with the exact time for a pointer or a screen reader's details. */
export function Ago({ at }: { at: string }) {
  return (
    <time dateTime={at} title={when(at)}>
      {ago(at)}
    </time>
  );
}

function Card({ title, link, children }: { title: string; link: { href: string; label: string }; children: ComponentChildren }) {
  return (
    <section class="card tile">
      <h2>{title}</h2>
      {children}
      <p class="act">
        <a href={link.href}>{link.label}</a>
      </p>
    </section>
  );
}

/** A bar for a share, hidden from screen readers: the text beside it says the same. */
function Bar({ part, whole, warn }: { part: number; whole: number; warn: boolean }) {
  return (
    <div class={`bar${warn ? ' warn' : ''}`} aria-hidden="true">
      <div style={{ width: `${Math.min(100, Math.max(0, (100 * part) / whole))}%` }} />
    </div>
  );
}

/** What to warn of about an instance's backups (null: nothing): none yet, or none in 2 days; an excluded instance never warns. */
export function backupWarning(instance: Instance, record: BackupRecord | undefined, now = Date.now()): string | null {
  if (instance.excludeFromBackup) return null;
  if (!record?.succeededAt) return 'No backup yet';
  return now - Date.parse(record.succeededAt) > BACKUP_AGE_MS ? 'No backup in 2 days' : null;
}

export function ServicesCard() {
  const { data, error } = useFetch<{ services: Service[] }>('/services', { live: true });
  const services = data?.services ?? [];
  return (
    <Card title="Services" link={{ href: href({ page: 'store' }), label: 'Install apps from the App Store' }}>
      {data && services.length === 0 && <p class="note">No app service is installed yet.</p>}
      <ul class="items">
        {services.map((s) => (
          <li key={s.name}>
            <a href={href({ page: 'service', name: s.name })}>{s.name}</a> <State state={s.state} />
            {s.restarts > 0 && <span class="note"> restarted {s.restarts === 1 ? 'once' : `${s.restarts} times`} since it last ran stably</span>}
            <LastCrash name={s.name} />
          </li>
        ))}
      </ul>
      <ErrorText error={error} />
    </Card>
  );
}

function LastCrash({ name }: { name: string }) {
  const { data } = useFetch<{ crashes: Crash[] }>(`/services/${encodeURIComponent(name)}/crashes`, { live: true });
  const last = data?.crashes[0];
  if (!data) return null;
  return <p class="note">{last ? <>Last crash <Ago at={last.time} /> after {duration(last.uptimeMs / 1000)} up</> : 'No crash on record'}</p>;
}

export function InstancesCard({ instances, backups, error }: { instances: Instance[] | null; backups: BackupRecord[]; error: unknown }) {
  const url = useAppUrl();
  return (
    <Card title="Instances" link={{ href: href({ page: 'new' }), label: 'New instance or restore from a backup' }}>
      {instances && instances.length === 0 && <p class="note">No instance yet.</p>}
      <ul class="items">
        {(instances ?? []).map((i) => {
          return (
            <li key={i.id}>
              <a href={href({ page: 'instance', id: i.id })}>{i.id}</a> <State state={i.state} />
              <p class="note">
                Path: <AppLink path={i.path} url={url(i.path)} />
              </p>
              <BackupLine instance={i} record={backups.find((b) => b.instance === i.id)} />
            </li>
          );
        })}
      </ul>
      <ErrorText error={error} />
    </Card>
  );
}

/** An instance's last successful backup, a failed last attempt with its reason, and the warning of backupWarning. */
export function BackupLine({ instance, record }: { instance: Instance; record: BackupRecord | undefined }) {
  if (instance.excludeFromBackup) return <p class="note">Excluded from backup</p>;
  const warning = backupWarning(instance, record);
  return (
    <>
      {record?.succeededAt && (
        <p class="note">
          Last backup <Ago at={record.succeededAt} />
          {record.sizeBytes !== null && ` (${bytes(record.sizeBytes)})`}
        </p>
      )}
      {record?.result === 'failed' && (
        <p class="warn">
          The last backup failed <Ago at={record.attemptedAt} />: {record.error}
        </p>
      )}
      {warning && <p class="warn">Warning: {warning}</p>}
    </>
  );
}

const PARTITIONS: Record<string, string> = { p1: 'boot', p2: 'data', p3: 'system' };

export function DiskCard() {
  const metrics = useFetch<{ series: Series[] }>('/metrics', { live: true });
  const settings = useFetch<{ settings: Record<string, SettingSpec> }>('/settings', { live: true });
  const threshold = Number(settings.data?.settings.diskThreshold?.value ?? NaN);
  const series = metrics.data?.series ?? [];
  const value = (name: string, partition: string) => series.find((s) => s.name === name && s.labels.partition === partition)?.value;
  const partitions = series.filter((s) => s.name === 'ap_disk_size_bytes').map((s) => s.labels.partition!).sort();
  return (
    <Card title="Disk" link={{ href: href({ page: 'system' }), label: 'Disk charts on System' }}>
      {metrics.data && partitions.length === 0 && <p class="note">No disk reading yet.</p>}
      <ul class="items">
        {partitions.map((p) => {
          const size = value('ap_disk_size_bytes', p) ?? 0;
          const used = value('ap_disk_used_bytes', p) ?? 0;
          // The disk guard watches the data partition: a warning from 10 points below the threshold, the apps stop at it.
          const guarded = p === 'p2' && Number.isFinite(threshold);
          const warn = guarded && (100 * used) / size >= threshold - 10;
          return (
            <li key={p}>
              <p>
                <strong>
                  {p}
                  {PARTITIONS[p] ? ` (${PARTITIONS[p]})` : ''}
                </strong>
                : {bytes(used)} of {bytes(size)} used, {percent(used, size)}
              </p>
              <Bar part={used} whole={size} warn={warn} />
              {guarded && <p class={warn ? 'warn' : 'note'}>{warn ? 'Warning: nearly full; ' : ''}the apps are stopped at {threshold} %</p>}
            </li>
          );
        })}
      </ul>
      <ErrorText error={metrics.error ?? settings.error} />
    </Card>
  );
}

export function MemoryCard() {
  const { data, error } = useFetch<Budget>('/system/budget', { live: true });
  const taken = data ? data.totalBytes - data.freeBytes : 0;
  return (
    <Card title="Memory" link={{ href: href({ page: 'system' }), label: 'Memory budget on System' }}>
      {data && (
        <>
          <p>
            {bytes(taken)} of {bytes(data.totalBytes)} taken, {percent(taken, data.totalBytes)}
          </p>
          <Bar part={taken} whole={data.totalBytes} warn={data.freeBytes < 0} />
          <p class={data.freeBytes < 0 ? 'warn' : 'note'}>{data.freeBytes < 0 ? `Warning: over the budget by ${bytes(-data.freeBytes)}` : `${bytes(data.freeBytes)} free for new apps and instances`}</p>
        </>
      )}
      <ErrorText error={error} />
    </Card>
  );
}

/** Asked once per visit, not on every change: it asks the App Store. */
export function UpdateCard() {
  const { data, error } = useFetch<UpdateState>('/update');
  const settings = useFetch<{ settings: Record<string, SettingSpec> }>('/settings', { live: true });
  const newer = data?.available && data.running && Number(data.available) > Number(data.running);
  // Without a store there is nothing to update from: the link leads to where its URL is set.
  const noStore = settings.data && !settings.data.settings.appStoreUrl?.value;
  const link = noStore ? { href: href({ page: 'settings', section: 'general' }), label: 'Set the App Store URL in Settings' } : { href: href({ page: 'settings', section: 'update' }), label: 'Update in Settings' };
  return (
    <Card title="Update" link={link}>
      {data && (
        <p class={newer ? 'warn' : ''}>
          {data.error
            ? `Cannot ask the App Store: ${data.error}`
            : newer
              ? `Image ${data.available} is available (this box runs ${data.running})`
              : `Up to date: image ${data.running ?? 'unknown'}${data.available ? '' : ' (the App Store offers none for this board)'}`}
        </p>
      )}
      <ErrorText error={error} />
    </Card>
  );
}

export function ReplicationCard() {
  const { data, error } = useFetch<Replication>('/replication', { live: true });
  return (
    <Card title="Replication" link={{ href: href({ page: 'replication' }), label: 'Replication' }}>
      {data?.mode === 'off' && <p>Off: no standby copies this box's data.</p>}
      {data?.mode === 'standby' && data.standby && (
        <p class={data.standby.streaming ? '' : 'warn'}>
          Standby of {data.standby.primary.host} port {data.standby.primary.port}: {data.standby.streaming ? 'streaming' : 'not streaming'}
          {data.standby.replayDelaySeconds !== null && `, ${duration(data.standby.replayDelaySeconds)} behind`}
        </p>
      )}
      {data?.mode === 'primary' && (
        <>
          <p>
            Primary with {data.standbys.length} {data.standbys.length === 1 ? 'standby' : 'standbys'}
          </p>
          <ul class="items">
            {data.standbys.map((s) => (
              <li key={s.name} class={s.connected ? '' : 'warn'}>
                {s.name}: {s.state}
                {s.lagBytes !== null && `, ${bytes(s.lagBytes)} behind`}
                {s.lagSeconds !== null && ` (${duration(s.lagSeconds)})`}
              </li>
            ))}
          </ul>
        </>
      )}
      <ErrorText error={error} />
    </Card>
  );
}
