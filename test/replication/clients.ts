// What a standby (or an intruder) does to a primary, with PostgreSQL's own
// client programs, and small TCP probes; shared by the primary's tests.
import { execFile } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { connect as tcpConnect, createServer } from 'node:net';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { findPgBin, findPgTools } from '../../src/db';

const tools = () => findPgTools(findPgBin(process.env.AP_PG_BIN ?? null));

/** A port nothing listens on now. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Whether a TCP connection to 127.0.0.1:port is accepted. */
export function tcpOpen(port: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const socket = tcpConnect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNREFUSED' ? resolve(false) : reject(err)));
  });
}

/** Runs a PostgreSQL client program with `password`; never throws for its exit status. */
export function pgClient(program: string, args: string[], password: string): Promise<{ code: number; stderr: string; stdout: string }> {
  return new Promise((resolve) => {
    execFile(join(tools(), program), args, { env: { PATH: process.env.PATH ?? '', PGPASSWORD: password, PGCONNECT_TIMEOUT: '10' }, timeout: 120_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0, stdout, stderr }),
    );
  });
}

/** pg_basebackup as a standby runs it: over TCP with its role, slot and password, into a new folder below `under`. */
export async function baseBackup(under: string, port: number, standby: { role: string; slot: string }, password: string, sslmode: string): Promise<{ code: number; stderr: string; dir: string }> {
  const into = join(await mkdtemp(join(under, 'copy-')), 'data');
  const args = ['-d', `host=127.0.0.1 port=${port} user=${standby.role} sslmode=${sslmode}`, '-D', into, '-X', 'stream', '-S', standby.slot, '-c', 'fast', '--no-password'];
  const result = await pgClient('pg_basebackup', args, password);
  return { code: result.code, stderr: result.stderr, dir: into };
}

/**
 * The SHA-256 fingerprint of the certificate PostgreSQL serves on
 * 127.0.0.1:port (its SSLRequest, then a TLS handshake that trusts anything:
 * we only look at what is presented).
 */
export function servedFingerprint(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tcpConnect({ host: '127.0.0.1', port });
    socket.once('error', reject);
    socket.once('connect', () => {
      const request = Buffer.alloc(8);
      request.writeInt32BE(8, 0);
      request.writeInt32BE(80877103, 4); // SSLRequest
      socket.write(request);
    });
    socket.once('data', (answer: Buffer) => {
      if (answer.toString('latin1', 0, 1) !== 'S') {
        socket.destroy();
        reject(new Error(`PostgreSQL refused TLS (answered "${answer.toString('latin1', 0, 1)}")`));
        return;
      }
      const secure = tlsConnect({ socket, rejectUnauthorized: false }, () => {
        const fingerprint = secure.getPeerCertificate().fingerprint256;
        secure.destroy();
        resolve(fingerprint);
      });
      secure.once('error', reject);
    });
  });
}
