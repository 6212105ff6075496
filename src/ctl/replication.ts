// `ap ctl replication show | mode <off|primary> [--yes] | add <name> | remove <name>`:
// the admin API's replication resources, formatted for people.
import { UsageError } from '../errors';
import type { ReplicationView, StandbyShown, StandbyView } from '../replication';
import type { ApiCall } from './instances';

const USAGE = 'ap ctl replication show | mode off|primary [--yes] | standby <host[:port]> <name> --password <pw> [--yes] | add <name> | remove <name>';

/** The API call of `ap ctl replication <sub> [arg]`. */
export function replicationCall(sub: string | undefined, arg: string | undefined, switches: ReadonlySet<string>, name?: string, password?: string): ApiCall {
  const need = (what: string) => {
    if (arg === undefined) throw new UsageError(`ap ctl replication ${sub} needs ${what}\n\n${USAGE}`);
    return arg;
  };
  switch (sub) {
    case undefined:
    case 'show':
      if (arg !== undefined) break;
      return { method: 'GET', path: '/replication' };
    case 'mode':
      return { method: 'PUT', path: '/replication', body: { mode: need('off or primary'), ...(switches.has('yes') ? { confirm: true } : {}) } };
    case 'standby':
      if (name === undefined || password === undefined) throw new UsageError(`ap ctl replication standby needs the primary, this standby's name and --password\n\n${USAGE}`);
      return { method: 'PUT', path: '/replication', body: { mode: 'standby', primary: need('the primary, host[:port]'), name, password, ...(switches.has('yes') ? { confirm: true } : {}) } };
    case 'add':
      return { method: 'POST', path: '/replication/standbys', body: { name: need('a standby name (a domain name)') } };
    case 'remove':
      return { method: 'DELETE', path: `/replication/standbys/${encodeURIComponent(need('a standby name'))}` };
  }
  throw new UsageError(USAGE);
}

/** The replication state for people: mode, where PostgreSQL listens, one line per standby. */
export function formatReplication(r: ReplicationView): string {
  if (r.mode === 'standby' && r.standby) {
    const s = r.standby;
    if (s.switching) return `mode:     standby of ${s.primary.host}:${s.primary.port} as ${s.name}\nswitching: the base backup is taken; the supervisor starts again as a standby (ap ctl replication shows it)`;
    return [
      `mode:     standby of ${s.primary.host}:${s.primary.port} as ${s.name} (read-only; apps change on the primary)`,
      `receiver: ${s.streaming ? 'streaming' : `NOT streaming (${s.receiverStatus ?? 'no WAL receiver'})`}`,
      `received: ${s.receivedLsn ?? '-'}  replayed: ${s.replayedLsn ?? '-'}  delay: ${s.replayDelaySeconds === null ? '-' : `${Math.round(s.replayDelaySeconds)} s`}`,
    ].join('\n');
  }
  const lines = [
    `mode:     ${r.mode}`,
    `listen:   ${r.mode === 'primary' ? `${r.listen.addresses} port ${r.listen.port}, TLS only${r.listen.active ? '' : ' (NOT listening yet)'}` : 'Unix socket only'}`,
    `standbys: ${r.standbys.length} of at most ${r.maxStandbys}`,
    ...r.standbys.map((s) => `  ${formatStandby(s)}`),
  ];
  return lines.join('\n');
}

export function formatStandby(s: StandbyView & Partial<Pick<StandbyShown, 'lagBytes' | 'lagSeconds'>>): string {
  const behind = s.active && s.lagBytes != null ? ` ${Math.round(s.lagBytes / 1024)} KB${s.lagSeconds != null ? ` / ${s.lagSeconds.toFixed(1)} s` : ''} behind,` : '';
  const slot = !s.slotExists ? 'no slot (replication is off)' : `${s.active ? 'streaming' : 'not connected'},${behind} keeps ${s.retainedBytes === null ? '-' : `${Math.round(s.retainedBytes / 1024)} KB`} of WAL`;
  return `${s.name}  password ${s.password}  role/slot ${s.role}  ${slot}`;
}
