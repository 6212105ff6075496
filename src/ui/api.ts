// The Manager's JSON API from the browser: the session cookie rides along by
// itself; state changes carry the CSRF token; errors become ApiError with the
// server's code, message and field. A GET can be given an AbortSignal: a page
// that moved on cancels what it no longer shows. Whether the box answers at
// all is recorded in connection.ts from every request and the event socket.
import { isOnline, setOnline, UNREACHABLE } from './connection';
import type { Job, PushEvent } from './types';

let csrf = '';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
    /** Every refused field with its reason, when a request taken whole named several (PUT /settings). */
    readonly fields?: readonly FieldError[],
  ) {
    super(message);
  }
}

export interface FieldError {
  readonly field: string;
  readonly message: string;
}

export function setCsrf(token: string): void {
  csrf = token;
}

const GATEWAY_DOWN = new Set([502, 503, 504]);

/** The body of every failed API answer: { error: { code, message, field?, fields? } }. */
interface ErrorBody {
  readonly error?: { readonly code?: string; readonly message?: string; readonly field?: string; readonly fields?: readonly FieldError[] };
}

/** One call of the Manager's API; the answer's JSON, or an ApiError. */
/**
 * Requests that may start a job, under way. A job can end (and its end be
 * pushed on the event socket) before the answer that names it arrives; what
 * asks whether a page follows a job waits for these first (quiet()).
 */
let asking = 0;
let waiting: (() => void)[] = [];

function asked(): void {
  if (--asking > 0) return;
  // The caller goes on (and follows the job it started) in the microtasks after the answer: a task later it has.
  const ready = waiting;
  waiting = [];
  setTimeout(() => ready.forEach((resolve) => resolve()), 0);
}

/** Resolves once no request that may start a job is under way (at once when none is). */
export function quiet(): Promise<void> {
  return asking === 0 ? Promise.resolve() : new Promise((resolve) => waiting.push(resolve));
}

export async function api<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
  if (method === 'GET') return ask<T>(method, path, body, signal);
  asking++;
  try {
    return await ask<T>(method, path, body, signal);
  } finally {
    asked();
  }
}

async function ask<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
  let response: Response;
  try {
    response = await fetch(`/manager/api${path}`, {
      method,
      credentials: 'same-origin',
      headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...(method !== 'GET' ? { 'x-csrf-token': csrf } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
    });
  } catch (err) {
    // Aborted by the page that asked: that says nothing about the box.
    if (signal?.aborted) throw err;
    unreachable();
    throw new ApiError(0, 'UNREACHABLE', UNREACHABLE);
  }
  // A body that is not JSON (a proxy's error page) still ends as an ApiError with the status.
  const data: unknown = await response.json().catch(() => ({}));
  const error = (data as ErrorBody | null)?.error;
  // A gateway's error page in front of a box that is down (the box's own errors have a body of ours).
  if (!error && GATEWAY_DOWN.has(response.status)) {
    unreachable();
    throw new ApiError(response.status, 'UNREACHABLE', UNREACHABLE);
  }
  reachable();
  if (!response.ok) {
    // The session is gone (expired, logged out elsewhere, password changed): the UI shows the login.
    if (response.status === 401 && path !== '/session') tell({ type: 'ended' });
    throw new ApiError(response.status, error?.code ?? 'ERROR', error?.message ?? `failed (${response.status})`, error?.field, error?.fields);
  }
  return data as T;
}

/** Uploads a file as the request body, reporting progress (0..1). */
export function upload<T>(path: string, file: Blob, onProgress: (share: number) => void): Promise<T> {
  asking++;
  const sent = send<T>(path, file, onProgress);
  sent.then(asked, asked);
  return sent;
}

function send<T>(path: string, file: Blob, onProgress: (share: number) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', `/manager/api${path}`);
    xhr.setRequestHeader('x-csrf-token', csrf);
    xhr.setRequestHeader('content-type', 'application/octet-stream');
    xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded / e.total);
    xhr.onload = () => {
      let data: unknown;
      try {
        data = JSON.parse(xhr.responseText || '{}');
      } catch {
        return reject(new ApiError(xhr.status, 'ERROR', `the box answered ${xhr.status} with no JSON`));
      }
      const error = (data as ErrorBody | null)?.error;
      if (xhr.status >= 400) reject(new ApiError(xhr.status, error?.code ?? 'ERROR', error?.message ?? 'failed', error?.field));
      else resolve(data as T);
    };
    xhr.onerror = () => {
      // Cut off by the box going away, or by something between: a request tells which.
      void probe();
      reject(new ApiError(0, 'NETWORK', 'the upload was cut off'));
    };
    xhr.send(file);
  });
}

// The push channel (/manager/api/events): jobs, service states, alarms and
// changes arrive as they happen. Without it (a proxy that drops WebSockets)
// the UI polls, as it did before. When the box stops answering, one loop
// looks again with a backoff (a request first, so a session that ended
// meanwhile is found out); the first answer reopens the socket and tells
// every view to load again (`reconnect`). A box that hangs, or a network
// that drops everything, closes no socket: while the socket is open the box
// is looked at now and then, and a look without an answer in time counts as
// none.
type Listener = (event: PushEvent) => void;
const listeners = new Set<Listener>();
let socket: WebSocket | null = null;
let connected = false;
/** Events may have been missed: the socket closed after it was open. */
let missed = false;
let wanted = false;
const RETRY_FIRST = 1000;
// A box restarts in seconds: looking again every 10 s at most notices it soon enough, and costs nothing.
const RETRY_MOST = 10_000;
let retry = RETRY_FIRST;
let timer: ReturnType<typeof setTimeout> | null = null;
/** How long a look at the box may go unanswered before the box counts as not answering. */
const ANSWER_MS = 10_000;
/** How often the box is looked at while the socket is open and the page is shown. */
const HEARTBEAT_MS = 20_000;
let heartbeat: ReturnType<typeof setInterval> | null = null;

function tell(event: PushEvent): void {
  for (const listener of [...listeners]) listener(event);
}

/** Hears every event; returns the unsubscribe. */
export function subscribe(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** A request got no answer: say so, and make sure someone looks again. */
function unreachable(): void {
  setOnline(false);
  if (wanted && !timer) later();
}

/** An answer came: after a break everything shown is old, so every view loads again and the socket reopens at once. */
function reachable(): void {
  if (isOnline()) return;
  setOnline(true);
  retry = RETRY_FIRST;
  tell({ type: 'reconnect' });
  if (wanted && !socket) connectEvents();
}

function later(): void {
  timer = setTimeout(() => {
    timer = null;
    if (!wanted) return;
    if (isOnline()) connectEvents();
    else void probe();
  }, retry);
  retry = Math.min(retry * 2, RETRY_MOST);
}

/** Asks the box for the session: no answer keeps the loop going, 401 ends the session here too, an answer reopens the socket. */
async function probe(): Promise<void> {
  const deadline = new AbortController();
  const late = setTimeout(() => deadline.abort(), ANSWER_MS);
  try {
    await api('GET', '/session', undefined, deadline.signal);
  } catch (err) {
    // After a logout here (wanted is false) a 401 is no news.
    if (!wanted) return;
    if (err instanceof ApiError && err.status === 401) tell({ type: 'ended' });
    else if (deadline.signal.aborted) {
      // No answer in time: whatever the socket seems, nothing comes through it; a new one is opened once the box answers.
      dropSocket();
      unreachable();
    } else if (!timer) later();
    return;
  } finally {
    clearTimeout(late);
  }
  if (wanted && !socket) connectEvents();
}

/**
 * Whether the box still answers while its socket is open: the Manager's page
 * itself (HEAD, no session: the look must not keep an idle session alive),
 * answered by the same server; no answer in time drops the socket.
 */
async function look(ws: WebSocket): Promise<void> {
  const deadline = new AbortController();
  const late = setTimeout(() => deadline.abort(), ANSWER_MS);
  try {
    await fetch('/manager/', { method: 'HEAD', cache: 'no-store', signal: deadline.signal });
  } catch {
    if (!wanted || socket !== ws) return;
    dropSocket();
    unreachable();
  } finally {
    clearTimeout(late);
  }
}

/** Forgets the socket without waiting for its close, which a dead network may never bring. */
function dropSocket(): void {
  stopHeartbeat();
  if (!socket) return;
  const ws = socket;
  socket = null;
  connected = false;
  missed = true;
  ws.onclose = ws.onmessage = ws.onopen = null;
  ws.close();
}

function stopHeartbeat(): void {
  if (heartbeat) clearInterval(heartbeat);
  heartbeat = null;
}

/** Looks again now (the banner's "Try now"), not when the backoff says. */
export function retryNow(): void {
  if (timer) clearTimeout(timer);
  timer = null;
  retry = RETRY_FIRST;
  void probe();
}

/** Opens the channel (after login) and keeps it open, reconnecting with a backoff. */
export function connectEvents(): void {
  wanted = true;
  if (socket) return;
  if (timer) clearTimeout(timer);
  timer = null;
  const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/manager/api/events`);
  socket = ws;
  ws.onopen = () => {
    connected = true;
    stopHeartbeat();
    heartbeat = setInterval(() => {
      if (document.visibilityState === 'visible' && isOnline()) void look(ws);
    }, HEARTBEAT_MS);
    retry = RETRY_FIRST;
    if (missed && isOnline()) tell({ type: 'reconnect' });
    missed = false;
    reachable();
  };
  ws.onmessage = (e) => {
    let event: PushEvent;
    try {
      event = JSON.parse(String(e.data)) as PushEvent;
    } catch {
      // Not one of ours (nothing else writes to this socket): nothing to tell.
      return;
    }
    tell(event);
  };
  ws.onclose = (e) => {
    stopHeartbeat();
    const was = connected;
    socket = null;
    connected = false;
    if (!wanted) return;
    if (e.code === 4001) return tell({ type: 'ended' });
    // It was open: the box went away, or only this socket did (too slow, a proxy); a request tells which, at once.
    if (was) {
      missed = true;
      void probe();
    } else if (!timer) later();
  };
}

export function disconnectEvents(): void {
  wanted = false;
  stopHeartbeat();
  if (timer) clearTimeout(timer);
  timer = null;
  socket?.close(1000);
  socket = null;
}

/** The next pushed state of job `id`, or null after `ms`. */
function nextJobEvent(id: string, ms: number): Promise<Job | null> {
  return new Promise((resolve) => {
    const stop = subscribe((event) => {
      if (event.type !== 'job' || event.job.id !== id) return;
      finish(event.job);
    });
    const timer = setTimeout(() => finish(null), ms);
    function finish(job: Job | null) {
      clearTimeout(timer);
      stop();
      resolve(job);
    }
  });
}

/** Jobs a page follows, whose progress and outcome it shows itself (until it forgets them: unfollow). */
const followed = new Set<string>();

/** Whether a page shows job `id` to its end itself (so nothing else need tell of it). */
export function followedByPage(id: string): boolean {
  return followed.has(id);
}

/** The page that followed job `id` is gone: its end is no longer shown there. */
export function unfollow(id: string): void {
  followed.delete(id);
}

/** Follows a job until it ends: pushed progress when the channel is open, polling otherwise (and as a safety net). */
export async function follow(id: string, onProgress: (job: Job) => void): Promise<Job> {
  followed.add(id);
  let job = await api<Job>('GET', `/jobs/${id}`);
  for (;;) {
    onProgress(job);
    if (job.state !== 'running') return job;
    job = (await nextJobEvent(id, connected ? 2000 : 400)) ?? (await api<Job>('GET', `/jobs/${id}`));
  }
}
