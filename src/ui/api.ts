// The Manager's JSON API from the browser: the session cookie rides along by
// itself; state changes carry the CSRF token; errors become ApiError with the
// server's code, message and field. A GET can be given an AbortSignal: a page
// that moved on cancels what it no longer shows.
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

/** The body of every failed API answer: { error: { code, message, field?, fields? } }. */
interface ErrorBody {
  readonly error?: { readonly code?: string; readonly message?: string; readonly field?: string; readonly fields?: readonly FieldError[] };
}

/** One call of the Manager's API; the answer's JSON, or an ApiError. */
export async function api<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
  const response = await fetch(`/manager/api${path}`, {
    method,
    credentials: 'same-origin',
    headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...(method !== 'GET' ? { 'x-csrf-token': csrf } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal,
  });
  // A body that is not JSON (a proxy's error page) still ends as an ApiError with the status.
  const data: unknown = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = (data as ErrorBody | null)?.error ?? {};
    // The session is gone (expired, logged out elsewhere, password changed): the UI shows the login.
    if (response.status === 401 && path !== '/session') tell({ type: 'ended' });
    throw new ApiError(response.status, error.code ?? 'ERROR', error.message ?? `failed (${response.status})`, error.field, error.fields);
  }
  return data as T;
}

/** Uploads a file as the request body, reporting progress (0..1). */
export function upload<T>(path: string, file: Blob, onProgress: (share: number) => void): Promise<T> {
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
    xhr.onerror = () => reject(new ApiError(0, 'NETWORK', 'the upload was cut off'));
    xhr.send(file);
  });
}

// The push channel (/manager/api/events): jobs, service states, alarms and
// changes arrive as they happen. Without it (a proxy that drops WebSockets)
// the UI polls, as it did before.
type Listener = (event: PushEvent) => void;
const listeners = new Set<Listener>();
let socket: WebSocket | null = null;
let connected = false;
let wanted = false;
let retry = 1000;

function tell(event: PushEvent): void {
  for (const listener of [...listeners]) listener(event);
}

/** Hears every event; returns the unsubscribe. */
export function subscribe(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** Opens the channel (after login) and keeps it open, reconnecting with a backoff. */
export function connectEvents(): void {
  wanted = true;
  if (socket) return;
  const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/manager/api/events`);
  socket = ws;
  ws.onopen = () => {
    connected = true;
    retry = 1000;
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
    const was = connected;
    socket = null;
    connected = false;
    if (!wanted) return;
    if (e.code === 4001) return tell({ type: 'ended' });
    if (was) tell({ type: 'reconnect' });
    setTimeout(() => wanted && connectEvents(), retry);
    retry = Math.min(retry * 2, 30_000);
  };
}

export function disconnectEvents(): void {
  wanted = false;
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

/** Follows a job until it ends: pushed progress when the channel is open, polling otherwise (and as a safety net). */
export async function follow(id: string, onProgress: (job: Job) => void): Promise<Job> {
  let job = await api<Job>('GET', `/jobs/${id}`);
  for (;;) {
    onProgress(job);
    if (job.state !== 'running') return job;
    job = (await nextJobEvent(id, connected ? 2000 : 400)) ?? (await api<Job>('GET', `/jobs/${id}`));
  }
}
