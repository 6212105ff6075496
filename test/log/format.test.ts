// The supervisor's log on stderr: text (time, level, part), or with syslog
// priorities for systemd's journal, chosen by --log-format or, on auto, by
// whether stderr is the journal (JOURNAL_STREAM).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, openSync, readFileSync, statSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, it } from 'node:test';
import { workspace } from '../harness/workspace';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '../..');
const dirs: string[] = [];
after(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

/** What a logger of `format` writes to stderr (a file), with JOURNAL_STREAM as given or naming that very file. */
async function logged(format: string, journalStream: 'this file' | string | undefined): Promise<string> {
  const dir = await workspace('ap-logfmt-');
  dirs.push(dir);
  const file = join(dir, 'stderr');
  const fd = openSync(file, 'a');
  const st = statSync(file);
  const script = `import { createLogger } from './src/log/index.ts';
const log = createLogger({ level: 'debug', file: null, format: '${format}' });
log.error('broken'); log.warn('careful'); log.child('db').info('two\\nlines'); log.debug('detail');`;
  const env = { ...process.env, JOURNAL_STREAM: journalStream === 'this file' ? `${st.dev}:${st.ino}` : journalStream };
  if (journalStream === undefined) delete env.JOURNAL_STREAM;
  const child = spawnSync(process.execPath, ['--import', join(REPO, 'test/register.mjs'), '--input-type=module', '-e', script], { cwd: REPO, env, stdio: ['ignore', 'ignore', fd] });
  closeSync(fd);
  assert.equal(child.status, 0, readFileSync(file, 'utf8'));
  return readFileSync(file, 'utf8');
}

const JOURNAL = '<3>ap: broken\n<4>ap: careful\n<6>db: two\n<6>db: lines\n<7>ap: detail\n';

it('writes syslog priorities and no time for the journal, each line of a message with its priority', async () => {
  assert.equal(await logged('journal', undefined), JOURNAL);
});

it('on auto, takes the journal format only when stderr is the journal JOURNAL_STREAM names', async () => {
  assert.equal(await logged('auto', 'this file'), JOURNAL);
  const TEXT = /^\d{4}-\d\d-\d\dT\S+Z error ap: broken\n\S+ warn {2}ap: careful\n\S+ info {2}db: two\nlines\n\S+ debug ap: detail\n$/;
  assert.match(await logged('auto', '1:2'), TEXT, 'another stream named');
  assert.match(await logged('auto', undefined), TEXT, 'none named');
  assert.match(await logged('text', 'this file'), TEXT, 'text asked for');
});
