// A box as a standby: setting it up (validate, confirm, base backup, decide
// the switch with the marker, compose again), what it says of its WAL
// receiver, and leaving it by promotion (off or primary). The switch itself
// happens while nothing runs (swap.ts, at the start of a composition), so a
// crash anywhere is finished or undone by the next start.
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import type { Sql } from 'postgres';
import { T, type ApiRoute } from '../api';
import { ApError, describe, InvalidField } from '../errors';
import { writeStreamAtomic } from '../fsutil';
import type { Logger } from '../log';
import { takeBaseBackup } from './basebackup';
import type { Owner } from './files';
import { checkStandbyName, MAX_STANDBYS } from './names';
import { parsePrimary, parseStandbyConf, writeStandbyConf, type PrimaryAddress, type StandbyConf, type StandbyFiles } from './standbyconf';
import { scratchOf, writeMarker, type SwapPaths } from './swap';
import type { ReplicationView, StandbyView } from './views';

export interface StandbyRequest {
  readonly primary?: string;
  readonly name?: string;
  readonly password?: string;
}

export interface SwitchOptions {
  readonly paths: SwapPaths;
  /** The folder of the PostgreSQL client programs (pg_basebackup). */
  readonly pgBin: () => string;
  readonly owner: Owner | null;
  /** This box's --db-port (what GET says). */
  readonly port: number;
  /** The box's Manager settings now: they go into standby.conf. */
  readonly settings: () => Promise<Record<string, string>>;
  /** What goes, for the confirmation's message. */
  readonly localApps: () => { readonly services: readonly string[]; readonly instances: readonly string[] };
  /** Stops every part and composes again (serve's loop). */
  readonly recompose: (why: string) => void;
  readonly log: Logger;
}

/** Sets a box up as standby (or re-points a standby): one at a time. */
export class StandbySwitch {
  private busy = false;

  constructor(private readonly o: SwitchOptions) {}

  /** Validates, asks for confirmation, takes the base backup, decides the switch and composes again; `now`: the link a standby follows. */
  async setUp(request: StandbyRequest, confirm: boolean, now?: StandbyFiles): Promise<ReplicationView> {
    const primary = parsePrimary(request.primary);
    const name = checkStandbyName(request.name);
    const password = request.password;
    if (typeof password !== 'string' || password === '' || password.length > 256 || /[\0-\x1f]/.test(password)) {
      throw new InvalidField('password', 'the password the primary shows for this standby, as given');
    }
    if (!confirm) {
      const { services, instances } = this.o.localApps();
      const what = services.length + instances.length === 0 ? 'none are installed now' : `now: services ${services.join(', ') || 'none'}; instances ${instances.join(', ') || 'none'}`;
      throw new ApError(
        'CONFIRM_REQUIRED',
        `making this box a standby of ${primary.host}:${primary.port} removes the locally installed apps, their services and instances with their databases (${what}), and replaces its database with the primary's; send confirm: true (ap ctl replication standby … --yes)`,
      );
    }
    if (this.busy) throw new ApError('BUSY', 'a replication change is under way');
    this.busy = true;
    try {
      const settings = await this.o.settings();
      this.o.log.info(`taking a base backup from ${primary.host}:${primary.port} as standby ${name}`);
      // The same primary and name again (a fresh copy): this box's WAL receiver holds the slot until the switch.
      const again = now !== undefined && now.name === name && now.primary.host === primary.host && now.primary.port === primary.port;
      await takeBaseBackup({ bin: this.o.pgBin(), into: scratchOf(this.o.paths), owner: this.o.owner, primary, name, password, useSlot: !again });
      const conf: StandbyConf = { version: 1, primary, name, password, settings };
      // From here on the switch is decided: every start finishes it.
      await writeMarker(this.o.paths, conf);
    } catch (err) {
      this.busy = false;
      throw err;
    }
    this.o.log.info(`base backup from ${primary.host}:${primary.port} taken: switching to standby`);
    this.o.recompose(`becoming a standby of ${primary.host}:${primary.port}`);
    return switchingView(primary, name, this.o.port);
  }
}

export interface StandbyBoxOptions {
  /** The manager database (read-only, in recovery). */
  readonly sql: Sql;
  /** standby.conf as it is now (its settings change through the file-backed Settings). */
  readonly conf: () => StandbyConf;
  readonly switcher: StandbySwitch;
  readonly paths: SwapPaths;
  readonly port: number;
  readonly recompose: (why: string) => void;
  readonly log: Logger;
}

/** Replication on a standby: its state, promotion (off, primary) and re-pointing (standby). */
export class StandbyBox {
  private busy = false;

  constructor(private readonly o: StandbyBoxOptions) {}

  /**
   * Mode standby and the primary. The WAL receiver's state is the replication
   * watch's (it reads pg_stat_wal_receiver for its alarm anyway): the API
   * fills it in from the watch's look (api.ts).
   */
  async show(): Promise<ReplicationView> {
    const conf = this.o.conf();
    const view = switchingView(conf.primary, conf.name, this.o.port);
    return { ...view, standby: { ...view.standby!, switching: false } };
  }

  /** standby: re-point (a new base backup); off or primary: promote (confirm needed). */
  async setMode(mode: string, confirm = false, request: StandbyRequest = {}): Promise<ReplicationView> {
    if (mode === 'standby') return this.o.switcher.setUp(request, confirm, this.o.conf());
    const conf = this.o.conf();
    if (!confirm) {
      throw new ApError(
        'CONFIRM_REQUIRED',
        `switching to ${mode} promotes this standby: it stops following ${conf.primary.host}:${conf.primary.port} for good (following it again takes a new base backup) and becomes a writable ${mode === 'off' ? 'standalone platform' : 'primary'}; send confirm: true (ap ctl replication mode ${mode} --yes)`,
      );
    }
    if (this.busy) throw new ApError('BUSY', 'a replication change is under way');
    this.busy = true;
    try {
      const [row] = await this.o.sql<{ done: boolean }[]>`SELECT pg_promote(true, 60) AS done`;
      if (!row?.done) throw new ApError('REPLICATION_FAILED', 'PostgreSQL did not finish the promotion within 60 s (its log says why); the box is still a standby');
    } catch (err) {
      this.busy = false;
      throw err instanceof ApError ? err : new ApError('REPLICATION_FAILED', `promotion failed: ${describe(err)}`, { cause: err });
    }
    // Promoted: the cluster must never start as a standby again (PostgreSQL removes the file itself; a cut before that would not).
    await rm(join(this.o.paths.pgsql, 'standby.signal'), { force: true });
    await writeStandbyConf(this.o.paths.standbyConf, { ...this.o.conf(), promote: mode === 'primary' ? 'primary' : 'off' });
    this.o.log.info(`promoted: this box is no longer a standby of ${conf.primary.host}:${conf.primary.port}; composing as ${mode}`);
    this.o.recompose(`promotion to ${mode}`);
    return { ...switchingView(conf.primary, conf.name, this.o.port), mode: mode === 'primary' ? 'primary' : 'off' };
  }

  add(): Promise<StandbyView> {
    return Promise.reject(this.refusal());
  }

  remove(): Promise<{ removed: string }> {
    return Promise.reject(this.refusal());
  }

  async reconcile(): Promise<void> {}

  async certificateChanged(): Promise<void> {}

  async stop(): Promise<void> {}

  private refusal(): ApError {
    return notOnStandby(this.o.conf().primary);
  }
}

/** NOT_ON_STANDBY, naming the primary. */
export function notOnStandby(primary: PrimaryAddress): ApError {
  return new ApError('NOT_ON_STANDBY', `this box is a standby of ${primary.host}:${primary.port}; change apps on the primary`);
}

/** What a standby refuses beyond GET: changes of services and instances, App Store and App Installer installs, restores, ANALYZE and API tokens (all write to the read-only database). Backups (pg_dump of the replica) stay. */
const CHANGES = /^\/(services|instances|store|installer|restores|maintenance|tokens)(\/|$)/;

/** A restore of the standby's own Manager backup (its standby.conf): what the answer says. */
export interface StandbyRestore {
  readonly restored: 'standby.conf';
  readonly from: string;
  readonly settings: number;
}

const StandbyRestoreView = T.Object({
  restored: T.Literal('standby.conf'),
  from: T.String({ description: 'when the backup was taken' }),
  settings: T.Integer({ description: 'how many settings it brought back' }),
});

/**
 * The routes of a standby: changes to apps are refused (its database is
 * read-only; they come from the primary). `POST /restores/manager` (a file on
 * the box) and `/restores/manager/upload` (the Manager's form) restore the
 * settings of a Manager backup taken on a standby (its standby.conf) and
 * answer at once; the supervisor composes again after the answer. An upload
 * waits in `uploadDir` while it is read and is removed whatever the outcome.
 */
export function refuseOnStandby(routes: readonly ApiRoute[], primary: PrimaryAddress, restore?: { readonly conf: (file: string) => Promise<StandbyRestore>; readonly uploadDir: string }): ApiRoute[] {
  const restoring = (r: ApiRoute, handler: ApiRoute['handler']): ApiRoute => ({
    ...r,
    summary: `on a standby: restore its settings from ${r.upload ? 'the uploaded body' : '{"file"}'}, a Manager backup taken on a standby (its standby.conf); the supervisor composes again after the answer`,
    status: 200,
    response: StandbyRestoreView,
    errors: [...(r.errors ?? []), 'NOT_ON_STANDBY', 'STANDBY_CONF_INVALID'],
    handler,
  });
  return routes.map((r) =>
    restore && r.method === 'POST' && r.pattern === '/restores/manager'
      ? restoring(r, ({ body }) => {
          const file = (body as { file?: unknown }).file;
          if (typeof file !== 'string' || !isAbsolute(file) || file.includes('\0')) throw new InvalidField('file', 'expected an absolute path on the box');
          return restore.conf(file);
        })
      : restore && r.method === 'POST' && r.pattern === '/restores/manager/upload'
      ? restoring(r, async ({ body }) => {
          const path = join(restore.uploadDir, `upload-${randomBytes(6).toString('hex')}.apbk`);
          try {
            await writeStreamAtomic(body as unknown as AsyncIterable<Buffer>, path);
            return await restore.conf(path);
          } finally {
            await rm(path, { force: true });
          }
        })
      : r.method !== 'GET' && CHANGES.test(r.pattern)
      ? {
          ...r,
          errors: [...(r.errors ?? []), 'NOT_ON_STANDBY'],
          handler: () => {
            throw notOnStandby(primary);
          },
        }
      : r,
  );
}

/**
 * A standby's Manager backup restored on a standby: its settings replace the
 * box's in standby.conf (one atomic write); the link to the primary (address,
 * name, password) stays the one this box streams with now, as the backup's may
 * be of an earlier setup. The caller composes again so every part reads them.
 */
export async function restoreStandbySettings(text: string, store: { replaceAll(settings: Record<string, string>): Promise<void> }, log: Logger): Promise<number> {
  let restored: StandbyConf;
  try {
    restored = parseStandbyConf(text);
  } catch (err) {
    throw new ApError('STANDBY_CONF_INVALID', `the backup's standby.conf is not valid (${describe(err)}); nothing was changed`, { cause: err });
  }
  const settings = Object.fromEntries(Object.entries(restored.settings).filter(([name]) => name !== 'replicationMode'));
  await store.replaceAll(settings);
  log.info(`restored this standby's settings (${Object.keys(settings).length}) from a Manager backup`);
  return Object.keys(settings).length;
}

/** The settings a promoted standby writes into its (now writable) manager database: its own, replacing the primary's. */
export async function applyPromotion(sql: Sql, conf: StandbyConf, log: Logger): Promise<void> {
  const mode = conf.promote ?? 'off';
  const entries = Object.entries(conf.settings).filter(([name]) => name !== 'replicationMode');
  await sql.begin(async (tx) => {
    // The primary's settings go: the seed, "the standby server has its own configuration".
    await tx`DELETE FROM config`;
    for (const [name, value] of [...entries, ['replicationMode', mode] as const]) await tx`INSERT INTO config (name, value) VALUES (${name}, ${value})`;
    // The seed offers the *other* entries: this box's own would keep WAL for a standby that is now the primary.
    await tx`DELETE FROM replication_standbys WHERE name = ${conf.name}`;
  });
  log.info(`promotion: this box's own settings (${entries.length}) are in its database now, its own standby entry ${conf.name} is gone; replication ${mode}`);
}

function switchingView(primary: PrimaryAddress, name: string, port: number): ReplicationView {
  return {
    mode: 'standby',
    standby: { primary, name, switching: true, streaming: false, receiverStatus: null, receivedLsn: null, replayedLsn: null, replayDelaySeconds: null },
    listen: { addresses: '', port, active: false },
    maxStandbys: MAX_STANDBYS,
    standbys: [],
  };
}
