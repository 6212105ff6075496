// pg_dump and pg_restore as child processes, streamed: a dump is never held
// in memory or in a temporary file; a program that fails is an error with the
// last lines it wrote.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { pipeline } from 'node:stream/promises';
import { ApError } from '../errors';

/** How to reach a database: the local cluster as superuser, or an external host with a password. */
export interface PgConnection {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password?: string;
  readonly sslmode?: 'disable' | 'prefer';
}

function env(conn: PgConnection): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    LANG: 'C',
    LC_ALL: 'C',
    PGCONNECT_TIMEOUT: '10',
    PGSSLMODE: conn.sslmode ?? 'disable',
    ...(conn.password !== undefined ? { PGPASSWORD: conn.password } : {}),
  };
}

function connArgs(conn: PgConnection): string[] {
  return ['-h', conn.host, '-p', String(conn.port), '-U', conn.user, '--no-password'];
}

/** Keeps the last lines of a child's stderr for the error message. */
function stderrTail(child: ChildProcess): () => string {
  let text = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    text = (text + chunk).slice(-4000);
  });
  return () => {
    const lines = text
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean);
    // The error line first: after it pg_restore prints the whole failed command.
    const error = lines.findIndex((l) => / error: /.test(l));
    return (error >= 0 ? lines.slice(error, error + 3) : lines.slice(-3)).join(' / ');
  };
}

function exited(child: ChildProcess): Promise<number> {
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}

/**
 * Its exit status once it is gone; CANCELLED when `signal` killed it (the job
 * was cancelled: the supervisor is stopping), after it has really exited.
 */
function exitedUnlessCancelled(child: ChildProcess, signal: AbortSignal | undefined): Promise<number> {
  return new Promise((resolve, reject) => {
    let failure: unknown = null;
    child.once('error', (err) => {
      // Never started: no close follows.
      if (child.pid === undefined) reject(err);
      else failure = err;
    });
    child.once('close', (code, killed) => {
      if (signal?.aborted) reject(new ApError('CANCELLED', 'pg_restore was stopped: the supervisor is stopping'));
      else if (failure !== null) reject(failure);
      else resolve(code ?? (killed ? 128 : 1));
    });
  });
}

/** pg_dump --version, e.g. "pg_dump (PostgreSQL) 15.14". */
export function pgDumpVersion(tools: string): string {
  const result = spawnSync(join(tools, 'pg_dump'), ['--version'], { encoding: 'utf8' });
  return result.status === 0 ? result.stdout.trim() : 'pg_dump (unknown version)';
}

/**
 * The chunks of `pg_dump -Fc` of `database`, without owners and grants (our
 * restores set both themselves; without them `pg_restore -d` on another host,
 * where the instance's role does not exist, restores without an error); throws
 * DUMP_FAILED when pg_dump fails. Stopping early (the consumer failed) kills pg_dump; so does `signal`,
 * even while pg_dump writes nothing (it may wait for a lock for ever).
 */
export async function* pgDump(tools: string, conn: PgConnection, database: string, signal?: AbortSignal): AsyncGenerator<Buffer> {
  if (signal?.aborted) throw new ApError('DUMP_CANCELLED', `the dump of "${database}" was cancelled`);
  const child = spawn(join(tools, 'pg_dump'), ['-Fc', '--no-owner', '--no-privileges', ...connArgs(conn), '-d', database], { stdio: ['ignore', 'pipe', 'pipe'], env: env(conn), signal, killSignal: 'SIGKILL' });
  const tail = stderrTail(child);
  const done = exited(child);
  // A cancel rejects `done` while the consumer may not be waiting on it: that is not an unhandled failure.
  done.catch(() => {});
  let finished = false;
  try {
    for await (const chunk of child.stdout! as AsyncIterable<Buffer>) yield chunk;
    const code = await done.catch((err: unknown) => {
      if (signal?.aborted) throw new ApError('DUMP_CANCELLED', `the dump of "${database}" was cancelled`);
      throw err;
    });
    finished = true;
    if (signal?.aborted) throw new ApError('DUMP_CANCELLED', `the dump of "${database}" was cancelled`);
    if (code !== 0) throw new ApError('DUMP_FAILED', `pg_dump of "${database}" failed (status ${code}): ${tail() || 'no message'}`);
  } finally {
    if (!finished) {
      child.kill('SIGKILL');
      await done.catch(() => {});
    }
  }
}

/**
 * Runs pg_restore with `args`, feeding it `input`; throws RESTORE_FAILED with
 * its last lines. `list` (the entries to restore, `pg_restore -L`) is written
 * to a private temporary file for the run (pg_restore cannot read it from a
 * socket, which is what Node's extra stdio pipes are), removed afterwards.
 */
export async function pgRestore(tools: string, conn: PgConnection, args: readonly string[], input: AsyncIterable<Buffer>, list?: string, signal?: AbortSignal): Promise<void> {
  const folder = list === undefined ? null : await mkdtemp(join(tmpdir(), 'ap-restore-list-'));
  try {
    const listArgs: string[] = [];
    if (folder !== null) {
      await writeFile(join(folder, 'list'), list!, { mode: 0o600 });
      listArgs.push('-L', join(folder, 'list'));
    }
    // `signal`: the supervisor stopping kills it (the restore runs in a scratch database, so nothing is half-written).
    const child = spawn(join(tools, 'pg_restore'), [...args, ...listArgs, ...connArgs(conn)], { stdio: ['pipe', 'ignore', 'pipe'], env: env(conn), signal, killSignal: 'SIGKILL' });
    const tail = stderrTail(child);
    const done = exitedUnlessCancelled(child, signal);
    const fed = pipeline(input, child.stdin!).catch((err: NodeJS.ErrnoException) => {
      // pg_restore stopping early closes its stdin: its status says why.
      if (err.code !== 'EPIPE' && err.code !== 'ERR_STREAM_PREMATURE_CLOSE') throw err;
    });
    const code = await done;
    await fed.catch(() => {});
    if (code !== 0) throw new ApError('RESTORE_FAILED', `pg_restore failed (status ${code}): ${tail() || 'no message'}`);
  } finally {
    if (folder !== null) await rm(folder, { recursive: true, force: true });
  }
}

/** pg_restore --list of the dump (its table of contents; nothing is restored); BAD_BACKUP when pg_restore cannot read it. */
export async function pgRestoreList(tools: string, input: AsyncIterable<Buffer>, signal?: AbortSignal): Promise<string> {
  const child = spawn(join(tools, 'pg_restore'), ['--list'], { stdio: ['pipe', 'pipe', 'pipe'], env: env({ host: '', port: 0, user: '' }), signal, killSignal: 'SIGKILL' });
  const tail = stderrTail(child);
  let text = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    text += chunk;
  });
  const done = exitedUnlessCancelled(child, signal);
  const fed = pipeline(input, child.stdin!).catch(() => {});
  const code = await done;
  await fed;
  if (code !== 0) throw new ApError('BAD_BACKUP', `pg_restore cannot read the dump (status ${code}): ${tail() || 'no message'}`);
  return text;
}

/** Streams the SQL pg_restore would run (`pg_restore -f -`) through `onText`, chunk by chunk; nothing is restored. */
export async function pgRestoreScript(tools: string, input: AsyncIterable<Buffer>, onText: (chunk: string) => void, signal?: AbortSignal): Promise<void> {
  const child = spawn(join(tools, 'pg_restore'), ['-f', '-'], { stdio: ['pipe', 'pipe', 'pipe'], env: env({ host: '', port: 0, user: '' }), signal, killSignal: 'SIGKILL' });
  const tail = stderrTail(child);
  child.stdout!.setEncoding('utf8').on('data', onText);
  const done = exitedUnlessCancelled(child, signal);
  const fed = pipeline(input, child.stdin!).catch(() => {});
  const code = await done;
  await fed;
  if (code !== 0) throw new ApError('BAD_BACKUP', `pg_restore cannot read the dump (status ${code}): ${tail() || 'no message'}`);
}
