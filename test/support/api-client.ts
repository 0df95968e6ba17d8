/** A tiny fetch wrapper for integration tests: the control API as any other service sees it. */
export interface ApiResponse<T = unknown> {
  status: number;
  headers: Headers;
  body: T;
}

export async function api<T = any>(
  baseUrl: string,
  method: string,
  path: string,
  options: { key?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<ApiResponse<T>> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.key) headers.authorization = `Bearer ${options.key}`;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${baseUrl}${path}`, {
    method,
    headers,
    ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    // Not JSON (e.g. /metrics); keep the text.
  }
  return { status: res.status, headers: res.headers, body: body as T };
}

/** Polls `probe` every `intervalMs` until it returns a value, or throws after `timeoutMs`. */
export async function eventually<T>(probe: () => Promise<T | undefined>, timeoutMs: number, what: string, intervalMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** `GET /v1/workflows/{id}` until the workflow is no longer running; its state then. */
export function workflowFinished(baseUrl: string, key: string, workflowId: string, timeoutMs: number): Promise<any> {
  return eventually(
    async () => {
      const res = await api<any>(baseUrl, 'GET', `/v1/workflows/${encodeURIComponent(workflowId)}`, { key });
      if (res.status !== 200) throw new Error(`GET /v1/workflows/${workflowId} answered ${res.status}: ${JSON.stringify(res.body)}`);
      return res.body.status === 'running' ? undefined : res.body;
    },
    timeoutMs,
    `workflow ${workflowId} to finish`,
  );
}
