// Password hashing for the Manager: argon2id (libsodium-wrappers-sumo's
// crypto_pwhash_str) with OWASP's minimum cost (19 MiB, 2 passes), computed in a
// worker thread so a login never blocks the event loop. The worker is the
// bundle itself started with workerData.role = 'pwhash'; it is started on the
// first hash and ended after a minute without work (it holds ~20 MB while it lives).
// node:worker_threads is loaded then too, not at every start (issue 18's idle memory).
import type { Worker } from 'node:worker_threads';
import { loadSodiumSumo } from '../native';

export const OPSLIMIT = 2;
export const MEMLIMIT = 19 * 1024 * 1024;
/** The worker's extra argument: only a thread started with it asks whether it is the worker. */
const WORKER_ARG = 'pwhash-worker';

const sodium = loadSodiumSumo;

type Request = { id: number; op: 'hash'; password: string } | { id: number; op: 'verify'; hash: string; password: string };
type Reply = { id: number; ok: true; value: string | boolean } | { id: number; ok: false; error: string };

/** Hashes and verifies: in the calling thread (tests, tools) or through a worker. */
export interface PasswordHasher {
  hash(password: string): Promise<string>;
  verify(hash: string, password: string): Promise<boolean>;
  /** Ends the worker (the supervisor stops). */
  stop(): Promise<void>;
}

/** In this thread: for tests and tools. */
export function inlineHasher(): PasswordHasher {
  return {
    async hash(password) {
      return (await sodium()).crypto_pwhash_str(password, OPSLIMIT, MEMLIMIT);
    },
    async verify(hash, password) {
      try {
        return (await sodium()).crypto_pwhash_str_verify(hash, password);
      } catch {
        return false;
      }
    },
    async stop() {},
  };
}

/** Through a worker running `script` (the bundle) with workerData.role 'pwhash'. */
export function workerHasher(script: string | URL, idleMs = 60_000): PasswordHasher {
  let worker: Worker | null = null;
  let next = 1;
  const pending = new Map<number, { resolve: (v: string | boolean) => void; reject: (e: Error) => void }>();
  let idle: NodeJS.Timeout | null = null;

  const ensure = async (): Promise<Worker> => {
    if (idle) clearTimeout(idle);
    idle = null;
    if (worker) return worker;
    const { Worker } = await import('node:worker_threads');
    if (worker) return worker; // another request started it meanwhile
    const w = new Worker(script, { workerData: { role: 'pwhash' }, argv: [WORKER_ARG] });
    w.unref();
    w.on('message', (reply: Reply) => {
      const p = pending.get(reply.id);
      if (!p) return;
      pending.delete(reply.id);
      if (reply.ok) p.resolve(reply.value);
      else p.reject(new Error(reply.error));
      if (pending.size === 0) {
        idle = setTimeout(() => void w.terminate(), idleMs);
        idle.unref();
      }
    });
    const failAll = (err: Error) => {
      for (const p of pending.values()) p.reject(err);
      pending.clear();
      if (worker === w) worker = null;
    };
    w.on('error', failAll);
    w.on('exit', () => failAll(new Error('the password worker ended')));
    worker = w;
    return w;
  };

  const ask = (request: { op: 'hash'; password: string } | { op: 'verify'; hash: string; password: string }): Promise<string | boolean> =>
    new Promise((resolve, reject) => {
      const id = next++;
      pending.set(id, { resolve, reject });
      ensure().then(
        (w) => w.postMessage({ ...request, id }),
        (err: Error) => {
          pending.delete(id);
          reject(err);
        },
      );
    });

  return {
    hash: async (password) => (await ask({ op: 'hash', password })) as string,
    verify: async (hash, password) => (await ask({ op: 'verify', hash, password })) as boolean,
    async stop() {
      if (idle) clearTimeout(idle);
      await worker?.terminate();
      worker = null;
    },
  };
}

/** True (and the worker runs) when this thread is the password worker. */
export async function runPasswordWorker(): Promise<boolean> {
  if (!process.argv.includes(WORKER_ARG)) return false;
  const { isMainThread, parentPort, workerData } = await import('node:worker_threads');
  if (isMainThread || (workerData as { role?: string } | null)?.role !== 'pwhash' || !parentPort) return false;
  const port = parentPort;
  const inline = inlineHasher();
  port.on('message', (request: Request) => {
    const work = request.op === 'hash' ? inline.hash(request.password) : inline.verify(request.hash, request.password);
    work.then(
      (value) => port.postMessage({ id: request.id, ok: true, value } satisfies Reply),
      (err: Error) => port.postMessage({ id: request.id, ok: false, error: err.message } satisfies Reply),
    );
  });
  return true;
}
