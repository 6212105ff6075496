// Where PostgreSQL is to listen, and bringing it back after a restart: a
// probe of the port before the cluster is told to listen there, the init
// script's restart (and stop and start, around a switch to standby) for an
// attached cluster, and the wait for it to answer.
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import type { Sql } from 'postgres';
import { ApError, describe } from '../errors';
import type { Logger } from '../log';

/**
 * Refuses listen addresses where the port is taken (another PostgreSQL) or
 * that are not this box's: PostgreSQL would not start on them. `*` is every
 * IPv4 address (and IPv6 where the box has it).
 */
export async function probePort(listen: string, port: number): Promise<void> {
  const hosts = listen === '*' ? ['0.0.0.0', '::'] : listen.split(',');
  for (const host of hosts) {
    const problem = await new Promise<string | null>((resolve) => {
      const server = createServer();
      server.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
      server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(null)));
    });
    if (problem === null || (host === '::' && (problem === 'EAFNOSUPPORT' || problem === 'EADDRNOTAVAIL'))) continue;
    throw new ApError(
      'PORT_IN_USE',
      problem === 'EADDRINUSE'
        ? `port ${port} is in use on ${host} (another PostgreSQL or program): PostgreSQL cannot listen there; free it, or use another --db-port or --pg-listen`
        : `PostgreSQL cannot listen on ${host} port ${port} (${problem}): is it an address of this box? (--pg-listen)`,
    );
  }
}

/** Attached: restarts PostgreSQL with the init script's argv (S50postgresql restart), then waits until `sql` answers. */
export function commandRestart(argv: readonly string[], sql: Sql, log: Logger): (why: string) => Promise<void> {
  return async (why) => {
    log.info(`replication: restarting PostgreSQL to apply ${why}: ${argv.join(' ')}`);
    await runClusterCommand(argv, '--pg-restart-command');
    await answering(sql, 120_000);
  };
}

/** Runs one of the init script's argvs (no shell); REPLICATION_FAILED with the end of its output when it fails. */
export async function runClusterCommand(argv: readonly string[], flag: string): Promise<void> {
  const [program, ...args] = argv;
  if (!program) throw new ApError('REPLICATION_FAILED', `no command to run PostgreSQL's init script with (${flag})`);
  const output: string[] = [];
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn(program, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (d: Buffer) => output.push(d.toString()));
    child.stderr!.on('data', (d: Buffer) => output.push(d.toString()));
    child.once('error', reject);
    child.once('exit', (c) => resolve(c));
  }).catch((err: Error) => {
    throw new ApError('REPLICATION_FAILED', `cannot run ${program}: ${err.message}`);
  });
  if (code !== 0) throw new ApError('REPLICATION_FAILED', `${argv.join(' ')} failed (exit ${code}): ${output.join('').trim().split('\n').slice(-3).join(' / ')}`);
}

/** Resolves once `sql` answers a query (the server back after a restart); REPLICATION_FAILED after `withinMs`. */
export async function answering(sql: Sql, withinMs: number): Promise<void> {
  const deadline = Date.now() + withinMs;
  for (let attempt = 0; ; attempt++) {
    try {
      await sql`SELECT 1`;
      return;
    } catch (err) {
      if (Date.now() > deadline) throw new ApError('REPLICATION_FAILED', `PostgreSQL does not answer: ${describe(err)}`);
      await new Promise((resolve) => setTimeout(resolve, Math.min(100 * 2 ** attempt, 2000)));
    }
  }
}
