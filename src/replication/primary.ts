// A box as replication primary: the standby entries (manager database), a
// role and a slot per standby, and what PostgreSQL is told (files.ts). One
// change at a time; each ends with the cluster as the entries and the mode
// say, and `reconcile` (at every start, after a restore) repairs whatever a
// crash left between the steps of one.
import type { Sql, TransactionSql } from 'postgres';
import { quoteLiteral, settingValue, SQLSTATE, sqlState, type Settings } from '../db';
import { ApError, describe } from '../errors';
import type { Logger } from '../log';
import { plan, type Mode, type Step } from './conf';
import { writeFiles, type Owner } from './files';
import { checkStandbyName, generatePassword, isStandbyRole, MAX_STANDBYS, standbyRole } from './names';
import { answering, probePort } from './restart';
import type { StandbyRequest } from './standby';
import type { ReplicationView, StandbyView } from './views';

export interface ReplicationOptions {
  /** The manager database, as the superuser (roles and slots are the cluster's). */
  readonly sql: Sql;
  readonly settings: Settings;
  /** The cluster's folder (postgresql.conf, pg_hba.conf). */
  readonly dataDir: string;
  /** Who runs PostgreSQL (its files are that account's), or null: ourselves. */
  readonly owner: Owner | null;
  /** listen_addresses while primary, and the port standbys connect to. */
  readonly listen: string;
  readonly port: number;
  /** The webserver's certificate and key, served by PostgreSQL too. */
  readonly tls: { readonly certPem: string; readonly keyPem: string };
  /** Stops and starts the cluster (a listen address is read only at its start); resolves once it answers again. */
  readonly restartCluster: (why: string) => Promise<void>;
  readonly log: Logger;
  /** PUT standby: the switch to standby (standby.ts); without it standby is UNSUPPORTED. */
  readonly standby?: (request: StandbyRequest, confirm: boolean) => Promise<ReplicationView>;
  /**
   * A standby's cluster without its standby.conf: the stored mode and entries
   * are its primary's, not this box's. It counts as off and nothing is applied
   * (its standby files stay, so a standby.conf put back streams again).
   */
  readonly orphaned?: boolean;
}

interface Entry {
  readonly name: string;
  readonly password: string;
  readonly created_at: Date;
}

export class Replication {
  private queue: Promise<unknown> = Promise.resolve();
  private tls: ReplicationOptions['tls'];

  private constructor(private readonly options: ReplicationOptions) {
    this.tls = options.tls;
  }

  /** Reconciles the cluster with the stored mode and entries, then serves; a failure is logged, the start goes on. */
  static async open(options: ReplicationOptions): Promise<Replication> {
    const made = new Replication(options);
    if (options.orphaned) return made;
    try {
      await made.reconcile();
    } catch (err) {
      options.log.error(`replication: could not bring PostgreSQL to the stored settings: ${describe(err)}`);
    }
    return made;
  }

  /** The mode, where PostgreSQL listens, and every standby with its slot's state. */
  async show(): Promise<ReplicationView> {
    const { sql } = this.options;
    const mode = await this.mode();
    const entries = await this.entries();
    const slots = await this.slotStates();
    const [listening] = await sql<{ value: string }[]>`SELECT current_setting('listen_addresses') AS value`;
    return {
      mode,
      listen: { addresses: this.options.listen, port: this.options.port, active: (listening?.value ?? '') !== '' },
      maxStandbys: MAX_STANDBYS,
      standbys: entries.map((e) => view(e, slots.find((s) => s.slot_name === standbyRole(e.name)))),
    };
  }

  /** Off or primary; off with standbys needs `confirm` (their slots go). Standby: the switch (standby.ts). */
  async setMode(mode: string, confirm = false, request: StandbyRequest = {}): Promise<ReplicationView> {
    if (mode === 'standby') {
      if (!this.options.standby) throw new ApError('UNSUPPORTED', 'this box cannot be made a standby');
      // Its standbys would lose their primary without a word: leaving that role is a step of its own.
      if ((await this.mode()) === 'primary') {
        throw new ApError('IS_PRIMARY', 'this box is a replication primary: turn replication off first (ap ctl replication mode off), then set it up as a standby');
      }
      return this.options.standby(request, confirm);
    }
    return this.serialize(async () => {
      const before = await this.mode();
      const wanted = mode as Mode;
      if (wanted === 'off' && before === 'primary' && !confirm) {
        const count = (await this.entries()).length;
        if (count > 0) {
          throw new ApError(
            'CONFIRM_REQUIRED',
            `turning replication off drops the roles and slots of ${count} standby${count === 1 ? '' : 's'}: they stop replicating and need a new base backup when it is on again (their names and passwords are kept); send confirm: true (ap ctl replication mode off --yes)`,
          );
        }
      }
      await this.options.settings.set('replicationMode', wanted);
      try {
        await this.apply(wanted, `replication ${wanted}`);
      } catch (err) {
        if (before !== wanted) {
          try {
            await this.options.settings.set('replicationMode', before);
            await this.apply(before, `replication ${before} again`);
          } catch (again) {
            this.options.log.error(`replication: could not go back to ${before} (the next start tries again): ${describe(again)}`);
          }
        }
        throw err instanceof ApError ? err : new ApError('REPLICATION_FAILED', `could not switch replication ${wanted}: ${describe(err)}`, { cause: err });
      }
      this.options.log.info(`replication: ${wanted}${wanted === 'primary' ? ` (PostgreSQL listens on ${this.options.listen} port ${this.options.port}, TLS only)` : ''}`);
      return this.show();
    });
  }

  /** A new standby entry with its role and slot; its password is generated here and answered. */
  async add(rawName: unknown): Promise<StandbyView> {
    const name = checkStandbyName(rawName);
    return this.serialize(async () => {
      if ((await this.mode()) !== 'primary') throw new ApError('NOT_PRIMARY', 'standbys are added to a primary: switch replication to primary first (ap ctl replication mode primary)');
      const role = standbyRole(name);
      const password = generatePassword();
      await this.options.sql.begin(async (tx) => {
        // One adder at a time across connections too: the count and the insert must agree.
        await tx`LOCK TABLE replication_standbys IN SHARE ROW EXCLUSIVE MODE`;
        const names = (await tx<{ name: string }[]>`SELECT name FROM replication_standbys`).map((r) => r.name);
        const clash = names.find((n) => n === name || standbyRole(n) === role);
        if (clash !== undefined) throw new ApError('STANDBY_EXISTS', `there is a standby named ${clash} already${clash === name ? '' : ` (its role is ${role} too)`}; every standby needs a name of its own`);
        if (names.length >= MAX_STANDBYS) throw new ApError('STANDBY_LIMIT', `a primary has at most ${MAX_STANDBYS} standbys (${names.join(', ')}); remove one first`);
        await tx`INSERT INTO replication_standbys (name, password) VALUES (${name}, ${password})`;
        await setRole(tx, role, password, (await tx`SELECT 1 FROM pg_roles WHERE rolname = ${role}`).length > 0);
      });
      try {
        // A slot left by an entry removed half-way would hold its old WAL: a new standby starts from now.
        await this.run({ kind: 'drop-slot', slot: role });
        await this.run({ kind: 'create-slot', slot: role });
        await this.applyFiles('primary', `standby ${name}`);
      } catch (err) {
        await this.forget(name).catch((undo) => this.options.log.error(`replication: could not undo standby ${name} (repaired at the next start): ${describe(undo)}`));
        throw new ApError('REPLICATION_FAILED', `could not add standby ${name}: ${describe(err)}`, { cause: err });
      }
      this.options.log.info(`replication: standby ${name} added (role and slot ${role})`);
      const entry = (await this.entries()).find((e) => e.name === name)!;
      const slots = await this.slotStates();
      return view(entry, slots.find((s) => s.slot_name === role));
    });
  }

  /** Removes a standby's entry, role and slot (its walsender is ended). */
  async remove(rawName: string): Promise<{ removed: string }> {
    const name = rawName.toLowerCase();
    return this.serialize(async () => {
      const gone = await this.forget(name);
      if (!gone) throw new ApError('NOT_FOUND', `no standby named ${name}`);
      await this.applyFiles(await this.mode(), `the removal of standby ${name}`);
      this.options.log.info(`replication: standby ${name} removed, with its role and slot`);
      return { removed: name };
    });
  }

  /** Brings roles, slots and PostgreSQL's files to the stored mode and entries (at start; after a manager restore). */
  reconcile(): Promise<void> {
    return this.serialize(async () => {
      const mode = await this.mode();
      await this.apply(mode, `replication ${mode}`);
    });
  }

  /** The webserver's certificate changed: PostgreSQL serves the new one too. */
  certificateChanged(tls: ReplicationOptions['tls']): Promise<void> {
    this.tls = tls;
    return this.serialize(async () => {
      const mode = await this.mode();
      if (mode === 'primary') await this.applyFiles(mode, 'a new certificate');
    });
  }

  /** Lets a change under way finish. */
  async stop(): Promise<void> {
    await this.queue.catch(() => {});
  }

  private serialize<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => {});
    return next;
  }

  /** The stored mode; a "standby" stored through the settings before this increment counts as off. */
  private async mode(): Promise<Mode> {
    if (this.options.orphaned) return 'off';
    const value = await settingValue(this.options.settings, 'replicationMode');
    return value === 'primary' ? 'primary' : 'off';
  }

  private async entries(): Promise<Entry[]> {
    return this.options.sql<Entry[]>`SELECT name, password, created_at FROM replication_standbys ORDER BY name`;
  }

  private async slotStates() {
    return this.options.sql<{ slot_name: string; active: boolean; restart_lsn: string | null; retained: number | null }[]>`
      SELECT slot_name, active, restart_lsn::text AS restart_lsn,
             CASE WHEN restart_lsn IS NULL THEN NULL ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::float8 END AS retained
        FROM pg_replication_slots WHERE slot_type = 'physical'`;
  }

  /** Roles and slots as the plan says, then the files. */
  private async apply(mode: Mode, why: string): Promise<void> {
    const { sql } = this.options;
    const roles = (await sql<{ rolname: string }[]>`SELECT rolname FROM pg_roles WHERE starts_with(rolname, 'ap_standby_')`).map((r) => r.rolname).filter(isStandbyRole);
    const slots = (await sql<{ slot_name: string }[]>`SELECT slot_name FROM pg_replication_slots WHERE slot_type = 'physical'`).map((r) => r.slot_name).filter(isStandbyRole);
    const entries = (await this.entries()).map((e) => ({ role: standbyRole(e.name), password: e.password }));
    const steps = plan({ roles, slots }, mode, entries);
    for (const step of steps) await this.run(step);
    const changed = steps.filter((s) => s.kind !== 'role');
    if (changed.length > 0) this.options.log.info(`replication: ${changed.map((s) => `${s.kind} ${'slot' in s ? s.slot : s.role}`).join(', ')}`);
    await this.applyFiles(mode, why);
  }

  /**
   * Writes the files; restarts the cluster when where it listens changed,
   * else reloads it when a file changed. A port another program holds is
   * refused before anything is written; a cluster that does not come back
   * gets the socket-only replication.conf it started with before, so a
   * replication change never leaves the box without its database.
   */
  private async applyFiles(mode: Mode, why: string): Promise<void> {
    const { sql } = this.options;
    const roles = mode === 'primary' ? (await this.entries()).map((e) => standbyRole(e.name)) : [];
    const rows = await sql<{ name: string; setting: string }[]>`
      SELECT name, setting FROM pg_settings WHERE name IN ('listen_addresses', 'wal_level', 'max_wal_senders', 'max_replication_slots')`;
    const now = Object.fromEntries(rows.map((r) => [r.name, r.setting]));
    const listen = mode === 'primary' ? this.options.listen : '';
    if (mode === 'primary' && now.listen_addresses === '') await probePort(this.options.listen, this.options.port);
    const changed = await writeFiles(this.options.dataDir, { mode, listen: this.options.listen, roles, tls: this.tls }, this.options.owner);
    // A cluster that never was a primary (no replication.conf) listens where it was made to: nothing to restart for.
    const restart =
      changed.written &&
      (now.listen_addresses !== listen || (mode === 'primary' && (now.wal_level === 'minimal' || Number(now.max_wal_senders) < 10 || Number(now.max_replication_slots) < 10)));
    if (!restart) {
      if (changed.conf || changed.hba) await this.reload();
      return;
    }
    try {
      await this.options.restartCluster(why);
    } catch (err) {
      if (mode === 'off') throw err;
      this.options.log.error(`replication: PostgreSQL did not come back listening on ${listen} (${describe(err)}); going back to the Unix socket only`);
      await writeFiles(this.options.dataDir, { mode: 'off', listen, roles: [], tls: this.tls }, this.options.owner);
      // Managed: the keeper is already starting it again (with these files); attached: the init script does.
      await this.options.restartCluster('replication off, after a failed start').catch(() => {});
      await answering(sql, 60_000).catch((again) => this.options.log.error(`replication: PostgreSQL is still down: ${describe(again)}`));
      throw err;
    }
  }

  /** pg_reload_conf(), and waits until the server has read the files again (a new connection meets the new pg_hba.conf). */
  private async reload(): Promise<void> {
    const { sql } = this.options;
    const [stamp] = await sql<{ at: string }[]>`SELECT clock_timestamp()::text AS at`;
    const at = stamp!.at;
    await sql`SELECT pg_reload_conf()`;
    // Our backend re-reads the files after the postmaster, which loads them before it accepts the next connection.
    for (let attempt = 0; ; attempt++) {
      const [row] = await sql<{ done: boolean }[]>`SELECT pg_conf_load_time() >= ${at}::timestamptz AS done`;
      if (row?.done) return;
      if (attempt > 100) throw new ApError('REPLICATION_FAILED', 'PostgreSQL did not reload its configuration within 10 s (its log says why)');
      await new Promise((resolve) => setTimeout(resolve, Math.min(10 * 2 ** attempt, 100)));
    }
  }

  /** Deletes an entry and drops its role and slot; false when there was no such entry. */
  private async forget(name: string): Promise<boolean> {
    const role = standbyRole(name);
    const found = await this.options.sql.begin(async (tx) => {
      const rows = await tx`DELETE FROM replication_standbys WHERE name = ${name} RETURNING name`;
      if (rows.length > 0) await tx.unsafe(`DROP ROLE IF EXISTS ${role}`);
      return rows.length > 0;
    });
    if (!found) return false;
    await this.run({ kind: 'drop-role', role });
    await this.run({ kind: 'drop-slot', slot: role });
    return true;
  }

  private async run(step: Step): Promise<void> {
    const { sql } = this.options;
    switch (step.kind) {
      case 'role':
        await sql.begin((tx) => setRole(tx, step.role, step.password, step.exists));
        return;
      case 'drop-role':
        await sql.unsafe(`DROP ROLE IF EXISTS ${step.role}`);
        // A dropped role's sessions would go on: a base backup under way ends here.
        await sql`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = ${step.role}`;
        return;
      case 'create-slot':
        try {
          // Reserved at once: the slot keeps WAL from now, before a standby first connects.
          await sql`SELECT pg_create_physical_replication_slot(${step.slot}, true)`;
        } catch (err) {
          if (sqlState(err) !== SQLSTATE.duplicateObject) throw err;
        }
        return;
      case 'drop-slot':
        for (let attempt = 0; ; attempt++) {
          await sql`SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = ${step.slot} AND active_pid IS NOT NULL`;
          try {
            await sql`SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = ${step.slot}`;
            return;
          } catch (err) {
            // 55006: still active, its walsender not gone yet.
            if (sqlState(err) !== '55006' || attempt >= 50) throw err;
            await new Promise((resolve) => setTimeout(resolve, 100));
          }
        }
    }
  }
}

/** A standby role: logs in for replication only, owns and may do nothing else; its password SCRAM-hashed. */
async function setRole(tx: TransactionSql, role: string, password: string, exists: boolean): Promise<void> {
  await tx.unsafe(`SET LOCAL password_encryption = 'scram-sha-256'`);
  const rights = 'LOGIN REPLICATION NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOBYPASSRLS';
  await tx.unsafe(`${exists ? 'ALTER' : 'CREATE'} ROLE ${role} WITH ${rights} PASSWORD ${quoteLiteral(password)}`);
}

function view(e: Entry, slot: { active: boolean; restart_lsn: string | null; retained: number | null } | undefined): StandbyView {
  const role = standbyRole(e.name);
  return {
    name: e.name,
    password: e.password,
    createdAt: e.created_at.toISOString(),
    role,
    slot: role,
    slotExists: slot !== undefined,
    active: slot?.active ?? false,
    restartLsn: slot?.restart_lsn ?? null,
    retainedBytes: slot?.retained ?? null,
  };
}
