// The Manager's JSON API from the browser: the session cookie rides along by
// itself; state changes carry the CSRF token; errors become ApiError with the
// server's code, message and field.
let csrf = '';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

export function setCsrf(token: string): void {
  csrf = token;
}

export async function api<T = any>(method: string, path: string, body?: unknown): Promise<T> {
  const response = await fetch(`/manager/api${path}`, {
    method,
    credentials: 'same-origin',
    headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...(method !== 'GET' ? { 'x-csrf-token': csrf } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = (await response.json().catch(() => ({}))) as any;
  if (!response.ok) {
    const error = data?.error ?? {};
    throw new ApiError(response.status, error.code ?? 'ERROR', error.message ?? `failed (${response.status})`, error.field);
  }
  return data as T;
}

/** Uploads a file as the request body, reporting progress (0..1). */
export function upload<T = any>(path: string, file: Blob, onProgress: (share: number) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', `/manager/api${path}`);
    xhr.setRequestHeader('x-csrf-token', csrf);
    xhr.setRequestHeader('content-type', 'application/octet-stream');
    xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded / e.total);
    xhr.onload = () => {
      const data = JSON.parse(xhr.responseText || '{}');
      if (xhr.status >= 400) reject(new ApiError(xhr.status, data.error?.code ?? 'ERROR', data.error?.message ?? 'failed'));
      else resolve(data as T);
    };
    xhr.onerror = () => reject(new ApiError(0, 'NETWORK', 'the upload was cut off'));
    xhr.send(file);
  });
}

/** Follows a job until it ends. */
export async function follow(id: string, onProgress: (job: any) => void): Promise<any> {
  for (;;) {
    const job = await api('GET', `/jobs/${id}`);
    onProgress(job);
    if (job.state !== 'running') return job;
    await new Promise((r) => setTimeout(r, 400));
  }
}
