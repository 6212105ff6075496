// The memory a 64 MB package takes on its way into the manager database and
// back, measured in this process (the same code the supervisor runs): no file
// is held whole, so the resident set grows by far less than the package.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { migrate, MIGRATIONS } from '../../src/db';
import { readPackage, storePackage } from '../../src/packages';
import { silentLogger } from '../harness/log';
import { createTestDatabase, stopTestCluster, type TestDatabase } from '../harness/pg';
import { workspace } from '../harness/workspace';

const SIZE = 64 * 1024 * 1024;
let dir: string;
let db: TestDatabase;

before(async () => {
  dir = await workspace('ap-packages-mem-');
  db = await createTestDatabase();
  await migrate(db.sql, MIGRATIONS, silentLogger());
});
after(async () => {
  await db?.drop();
  await rm(dir, { recursive: true, force: true });
  await stopTestCluster();
});

/** Runs `work` while sampling the resident set; answers its peak above the start, in MB. */
async function peakGrowthMB(work: () => Promise<unknown>): Promise<number> {
  const start = process.memoryUsage.rss();
  let peak = start;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 5);
  try {
    await work();
  } finally {
    clearInterval(timer);
  }
  peak = Math.max(peak, process.memoryUsage.rss());
  return (peak - start) / 1048576;
}

describe('packages in the manager database: memory', () => {
  it('stores and restores a 64 MB package with a bounded resident set', async () => {
    const source = join(dir, 'big');
    await mkdir(source);
    await writeFile(join(source, 'app.json'), JSON.stringify({ name: 'big', version: '1.0.0', entry: ['node', 'service.js'] }));
    await writeFile(join(source, 'service.js'), '');
    const out = createWriteStream(join(source, 'data.bin'));
    for (let written = 0; written < SIZE; written += 1048576) {
      if (!out.write(randomBytes(1048576))) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
    }
    await new Promise<void>((resolve, reject) => {
      out.once('error', reject);
      out.end(() => resolve());
    });
    const storing = await peakGrowthMB(() => storePackage(db.sql, source, { name: 'big', version: '1.0.0', label: '1.0.0' }, { maxBytes: 512 * 1048576 }));
    const into = join(dir, 'restored');
    const restoring = await peakGrowthMB(() => readPackage(db.sql, 'big', into, { maxBytes: 512 * 1048576 }));
    assert.equal((await stat(join(into, 'data.bin'))).size, SIZE);
    console.log(`# a 64 MB package: resident set grew by at most ${storing.toFixed(1)} MB storing it, ${restoring.toFixed(1)} MB restoring it`);
    // A whole-file buffer alone would be 64 MB (and its hex text for the database 128 MB). What is
    // measured is 11–22 MB on a quiet machine; garbage the collector has not reached yet counts too,
    // and on a loaded one (a QEMU test beside it) storing once reached 44 MB: the bound stays below
    // one whole file.
    assert.ok(storing < 60, `storing grew the resident set by ${storing.toFixed(1)} MB`);
    assert.ok(restoring < 60, `restoring grew the resident set by ${restoring.toFixed(1)} MB`);
  });
});
