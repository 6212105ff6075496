import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BackupSchedule, type Backups } from '../../src/backup';
import type { CommandFile } from '../../src/backup/commands';
import type { Settings } from '../../src/db';
import { createLogger } from '../../src/log';

const log = createLogger({ level: 'error', file: null });

function memorySettings(values: Record<string, string>): Settings {
  const store = new Map(Object.entries(values));
  return {
    get: async (name) => store.get(name) ?? null,
    set: async (name, value) => void store.set(name, value),
    setMany: async (values) => void Object.entries(values).forEach(([n, v]) => store.set(n, v)),
    delete: async (name) => void store.delete(name),
  };
}

describe('command file schedule (injected clock)', () => {
  it('runs in the listed hours of the time zone, once per hour, across a restart, with #bN counting runs', async () => {
    const settings = memorySettings({ commandFile: 'times 2,14\nbackup-manager http://nas/m-#b2.dump\n', timezone: 'Europe/Berlin' });
    const runs: { at: string; run: number }[] = [];
    let now = new Date('2026-11-28T00:30:00Z'); // 01:30 in Berlin
    const backups = {
      runCommands: async (file: CommandFile, counters: Record<string, number>) => {
        runs.push({ at: now.toISOString(), run: counters[String(file.backups[0]!.line)]! });
        return { ok: 1, failed: 0, skipped: [] };
      },
    } as unknown as Backups;
    const make = () => new BackupSchedule({ backups, settings, log, now: () => now });
    let schedule = make();
    await schedule.tick();
    assert.equal(runs.length, 0);
    now = new Date('2026-11-28T01:05:00Z'); // 02:05
    await schedule.tick();
    await schedule.tick();
    schedule = make(); // a restart in the same hour
    await schedule.tick();
    assert.deepEqual(runs, [{ at: '2026-11-28T01:05:00.000Z', run: 0 }]);
    now = new Date('2026-11-28T13:10:00Z'); // 14:10
    await schedule.tick();
    now = new Date('2026-11-29T01:00:00Z'); // 02:00 the next day
    await schedule.tick();
    assert.deepEqual(
      runs.map((r) => r.run),
      [0, 1, 2],
    );
    // A manual run counts too.
    await schedule.runNow();
    assert.equal(runs.at(-1)!.run, 3);
    assert.match(String((await schedule.status()).lastResult), /1 backed up, 0 failed/);
    // Without "times": every hour.
    await settings.set('commandFile', 'backup-manager http://nas/m.dump');
    now = new Date('2026-11-29T02:00:00Z');
    await schedule.tick();
    now = new Date('2026-11-29T03:00:00Z');
    await schedule.tick();
    assert.equal(runs.length, 6);
  });

  it('does nothing without a command file, and refuses a manual run', async () => {
    const schedule = new BackupSchedule({ backups: {} as Backups, settings: memorySettings({}), log });
    await schedule.tick();
    await assert.rejects(schedule.runNow(), /no valid command file/);
  });
});
