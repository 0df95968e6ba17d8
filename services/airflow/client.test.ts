import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { AirflowClient, allTaskInstances } from './client.ts';
import {
  AirflowApiError,
  AirflowConflictError,
  AirflowNotFoundError,
  AirflowUnauthorizedError,
  AirflowUnavailableError,
  AirflowValidationError,
} from './errors.ts';

interface Seen {
  method: string;
  url: string;
  authorization: string | undefined;
  body: unknown;
}

type Handler = (req: Seen, res: ServerResponse, raw: IncomingMessage) => void;

/** A fake Airflow api-server on 127.0.0.1: logs every request, answers with `handler`. */
class FakeAirflow {
  readonly seen: Seen[] = [];
  handler: Handler = (_req, res) => json(res, 404, { detail: 'Not Found' });
  tokensIssued = 0;
  readonly #server: Server;

  constructor() {
    this.#server = createServer((raw, res) => {
      let body = '';
      raw.on('data', (chunk: Buffer) => (body += chunk.toString()));
      raw.on('end', () => {
        const req: Seen = {
          method: raw.method ?? '',
          url: raw.url ?? '',
          authorization: raw.headers.authorization,
          body: body ? JSON.parse(body) : undefined,
        };
        this.seen.push(req);
        this.handler(req, res, raw);
      });
    });
  }

  listen(port = 0): Promise<number> {
    return new Promise((resolve) => this.#server.listen(port, '127.0.0.1', () => resolve((this.#server.address() as AddressInfo).port)));
  }

  close(): Promise<void> {
    this.#server.closeAllConnections();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }

  /** Paths seen, e.g. `POST /auth/token`. */
  calls(): string[] {
    return this.seen.map((r) => `${r.method} ${r.url}`);
  }

  /** Answers `POST /auth/token` with tok1, tok2, … and delegates everything else. */
  withLogin(rest: Handler): Handler {
    return (req, res, raw) => {
      if (req.method === 'POST' && req.url === '/auth/token') {
        const { username, password } = req.body as { username: string; password: string };
        if (username !== 'admin' || password !== 'secret') return json(res, 401, { detail: 'Invalid credentials' });
        this.tokensIssued += 1;
        return json(res, 201, { access_token: `tok${this.tokensIssued}` });
      }
      rest(req, res, raw);
    };
  }
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

const dagBody = (dagId: string) => ({ dag_id: dagId, is_paused: true, file_token: 'ft' });

let fake: FakeAirflow;
const clients: AirflowClient[] = [];

function clientFor(port: number, overrides: Partial<ConstructorParameters<typeof AirflowClient>[0]> = {}): AirflowClient {
  const client = new AirflowClient({
    baseUrl: `http://127.0.0.1:${port}`,
    username: 'admin',
    password: 'secret',
    retries: 3,
    retryBaseDelayMs: 10,
    retryMaxDelayMs: 50,
    timeoutMs: 2_000,
    ...overrides,
  });
  clients.push(client);
  return client;
}

async function freePort(): Promise<number> {
  const probe = new FakeAirflow();
  const port = await probe.listen();
  await probe.close();
  return port;
}

afterEach(async () => {
  clients.length = 0;
  await fake?.close();
});

describe('AirflowClient auth', () => {
  it('logs in once with username/password and sends the token as Bearer', async () => {
    fake = new FakeAirflow();
    fake.handler = fake.withLogin((req, res) => json(res, 200, dagBody('a')));
    const client = clientFor(await fake.listen());

    await Promise.all([client.getDag('a'), client.getDag('a'), client.listImportErrors()]);

    expect(fake.calls().filter((c) => c === 'POST /auth/token')).toHaveLength(1);
    expect(fake.seen[0]?.body).toEqual({ username: 'admin', password: 'secret' });
    expect(fake.seen.filter((r) => r.url !== '/auth/token').every((r) => r.authorization === 'Bearer tok1')).toBe(true);
  });

  it('refreshes an expired token once and replays the request', async () => {
    fake = new FakeAirflow();
    fake.handler = fake.withLogin((req, res) => {
      if (req.authorization === 'Bearer tok1') return json(res, 401, { detail: 'Token expired' });
      json(res, 200, { dag_run_id: 'r1', state: 'queued' });
    });
    const client = clientFor(await fake.listen());

    // A POST too: a 401 means Airflow did not act on it, so replaying is safe.
    const run = await client.triggerDagRun('etl', { dag_run_id: 'r1' });

    expect(run.dag_run_id).toBe('r1');
    expect(fake.calls()).toEqual([
      'POST /auth/token',
      'POST /api/v2/dags/etl/dagRuns',
      'POST /auth/token',
      'POST /api/v2/dags/etl/dagRuns',
    ]);
    expect(fake.seen.at(-1)?.authorization).toBe('Bearer tok2');
  });

  it('gives up with AirflowUnauthorizedError when the fresh token is rejected too', async () => {
    fake = new FakeAirflow();
    fake.handler = fake.withLogin((_req, res) => json(res, 401, { detail: 'Invalid JWT' }));
    const client = clientFor(await fake.listen());

    const err = await client.getDag('a').catch((e: unknown) => e);

    expect(err).toBeInstanceOf(AirflowUnauthorizedError);
    expect(err).toMatchObject({ status: 401, kind: 'unauthorized', detail: 'Invalid JWT', method: 'GET', path: '/api/v2/dags/a' });
    expect(fake.tokensIssued).toBe(2);
  });

  it('reports bad credentials as an unauthorized /auth/token call', async () => {
    fake = new FakeAirflow();
    fake.handler = fake.withLogin((_req, res) => json(res, 200, {}));
    const client = clientFor(await fake.listen(), { password: 'wrong' });

    const err = await client.getDag('a').catch((e: unknown) => e);

    expect(err).toBeInstanceOf(AirflowUnauthorizedError);
    expect(err).toMatchObject({ method: 'POST', path: '/auth/token', detail: 'Invalid credentials' });
  });

  it('calls the health endpoints without logging in', async () => {
    fake = new FakeAirflow();
    fake.handler = (req, res) =>
      req.url === '/execution/health' ? json(res, 200, { status: 'healthy' }) : json(res, 200, { metadatabase: { status: 'healthy' } });
    const client = clientFor(await fake.listen());

    expect((await client.executionApiHealth()).status).toBe('healthy');
    expect((await client.health()).metadatabase.status).toBe('healthy');
    expect(fake.calls()).toEqual(['GET /execution/health', 'GET /api/v2/monitor/health']);
    expect(fake.seen.every((r) => r.authorization === undefined)).toBe(true);
  });
});

describe('AirflowClient retries', () => {
  it('retries an idempotent call while the connection is refused, then succeeds', async () => {
    fake = new FakeAirflow();
    fake.handler = fake.withLogin((_req, res) => json(res, 200, dagBody('early')));
    const port = await fake.listen();
    const client = clientFor(port, { retries: 6, retryBaseDelayMs: 40, retryMaxDelayMs: 200 });
    await client.getDag('early'); // logged in

    // Airflow restarts: down for a moment, so the next call's first attempts are refused.
    await fake.close();
    fake = new FakeAirflow();
    fake.handler = (_req, res) => json(res, 200, dagBody('late'));
    setTimeout(() => void fake.listen(port), 150);

    const dag = await client.getDag('late');

    expect(dag.dag_id).toBe('late');
    expect(fake.calls()).toEqual(['GET /api/v2/dags/late']);
  });

  it('reports an unreachable Airflow as AirflowUnavailableError naming the failed call', async () => {
    const client = clientFor(await freePort());
    fake = new FakeAirflow();
    // Login is retried (it has no side effect) but never gets through: the trigger is never sent.
    const err = await client.triggerDagRun('etl').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AirflowUnavailableError);
    expect(err).toMatchObject({ kind: 'unreachable', path: '/auth/token' });
    expect((err as Error).message).toContain('ECONNREFUSED');
  });

  it('retries GET on 502/503/504 and honours the bound', async () => {
    fake = new FakeAirflow();
    let n = 0;
    fake.handler = fake.withLogin((_req, res) => {
      n += 1;
      if (n === 1) return json(res, 502, { detail: 'bad gateway' });
      if (n === 2) return json(res, 503, { detail: 'unavailable' }, { 'retry-after': '0' });
      if (n === 3) return json(res, 504, { detail: 'timeout' });
      json(res, 200, dagBody('x'));
    });
    const client = clientFor(await fake.listen());

    await expect(client.getDag('x')).resolves.toMatchObject({ dag_id: 'x' });
    expect(n).toBe(4);
  });

  it('stops after the configured number of retries with AirflowUnavailableError', async () => {
    fake = new FakeAirflow();
    fake.handler = fake.withLogin((_req, res) => json(res, 503, { detail: 'still starting' }));
    const client = clientFor(await fake.listen(), { retries: 2 });

    const err = await client.listImportErrors().catch((e: unknown) => e);

    expect(err).toBeInstanceOf(AirflowUnavailableError);
    expect(err).toMatchObject({ status: 503, kind: 'server', detail: 'still starting' });
    expect(fake.calls().filter((c) => c.startsWith('GET'))).toHaveLength(3);
  });

  it('retries on a dropped connection for idempotent calls', async () => {
    fake = new FakeAirflow();
    let n = 0;
    fake.handler = fake.withLogin((_req, res, raw) => {
      n += 1;
      if (n === 1) return raw.socket.destroy();
      json(res, 200, dagBody('a'));
    });
    const client = clientFor(await fake.listen());

    await expect(client.pauseDag('a')).resolves.toMatchObject({ dag_id: 'a' });
    expect(n).toBe(2);
  });

  it('never retries a plain POST: not on 503, not on a dropped connection', async () => {
    fake = new FakeAirflow();
    let mode: 'unavailable' | 'drop' = 'unavailable';
    fake.handler = fake.withLogin((_req, res, raw) => {
      if (mode === 'drop') return raw.socket.destroy();
      json(res, 503, { detail: 'overloaded' });
    });
    const client = clientFor(await fake.listen());

    const unavailable = await client.triggerDagRun('etl', { conf: { a: 1 } }).catch((e: unknown) => e);
    mode = 'drop';
    const dropped = await client.triggerDagRun('etl', { conf: { a: 2 } }).catch((e: unknown) => e);

    expect(unavailable).toBeInstanceOf(AirflowUnavailableError);
    expect(unavailable).toMatchObject({ status: 503, method: 'POST', path: '/api/v2/dags/etl/dagRuns' });
    expect(dropped).toBeInstanceOf(AirflowUnavailableError);
    expect(dropped).toMatchObject({ status: null, kind: 'unreachable', path: '/api/v2/dags/etl/dagRuns' });
    expect(fake.calls().filter((c) => c !== 'POST /auth/token')).toEqual([
      'POST /api/v2/dags/etl/dagRuns',
      'POST /api/v2/dags/etl/dagRuns',
    ]);
  });

  it('retries a POST the caller marks idempotent', async () => {
    fake = new FakeAirflow();
    let n = 0;
    fake.handler = fake.withLogin((_req, res) => {
      n += 1;
      if (n === 1) return json(res, 503, { detail: 'overloaded' });
      json(res, 200, { dag_run_id: 'fixed', state: 'queued' });
    });
    const client = clientFor(await fake.listen());

    await expect(client.triggerDagRun('etl', { dag_run_id: 'fixed' }, { idempotent: true })).resolves.toMatchObject({
      dag_run_id: 'fixed',
    });
    expect(n).toBe(2);
  });
});

describe('AirflowClient errors', () => {
  it('turns 404, 409 and 422 into typed errors carrying Airflow detail', async () => {
    fake = new FakeAirflow();
    fake.handler = fake.withLogin((req, res) => {
      if (req.url === '/api/v2/dags/missing') return json(res, 404, { detail: 'The Dag with ID: `missing` was not found' });
      if (req.url === '/api/v2/dags/etl/dagRuns') {
        return json(res, 409, { detail: { reason: 'Unique constraint violation', statement: '…' } });
      }
      json(res, 422, {
        detail: [{ type: 'missing', loc: ['body', 'is_paused'], msg: 'Field required', input: {} }],
      });
    });
    const client = clientFor(await fake.listen());

    const notFound = await client.getDag('missing').catch((e: unknown) => e);
    const conflict = await client.triggerDagRun('etl', { dag_run_id: 'dup' }).catch((e: unknown) => e);
    const invalid = await client.request('PATCH', '/api/v2/dags/etl', { data: {} }).catch((e: unknown) => e);

    expect(notFound).toBeInstanceOf(AirflowNotFoundError);
    expect(notFound).toMatchObject({ status: 404, kind: 'not_found', method: 'GET', path: '/api/v2/dags/missing' });
    expect((notFound as Error).message).toContain('The Dag with ID: `missing` was not found');

    expect(conflict).toBeInstanceOf(AirflowConflictError);
    expect(conflict).toMatchObject({ status: 409, detail: { reason: 'Unique constraint violation' } });
    expect((conflict as Error).message).toContain('Unique constraint violation');

    expect(invalid).toBeInstanceOf(AirflowValidationError);
    expect(invalid).toBeInstanceOf(AirflowApiError);
    expect((invalid as AirflowValidationError).detail).toEqual([
      { type: 'missing', loc: ['body', 'is_paused'], msg: 'Field required', input: {} },
    ]);
    expect((invalid as Error).message).toContain('body.is_paused: Field required');
  });
});

describe('AirflowClient requests', () => {
  it('builds Airflow 3 paths, bodies and repeated query keys', async () => {
    fake = new FakeAirflow();
    fake.handler = fake.withLogin((req, res) => json(res, req.method === 'PUT' ? 201 : 200, { task_instances: [], dag_runs: [] }));
    const client = clientFor(await fake.listen());

    await client.triggerDagRun('etl', { dag_run_id: 'manual__2026-01-01T00:00:00+00:00', conf: { force: true } });
    await client.getDagRun('etl', 'manual__2026-01-01T00:00:00+00:00');
    await client.listDagRuns('etl', { state: ['failed', 'success'], limit: 5 });
    await client.listTaskInstances('etl', 'r/1', { state: ['deferred'] });
    await client.getTaskLog('etl', 'r1', 'handoff', 2, { mapIndex: 3 });
    await client.reparseDagFile('file/token');
    await client.unpauseDag('etl');
    await client.listImportErrors({ filename: 'etl.py' });

    const nonAuth = fake.seen.filter((r) => r.url !== '/auth/token');
    expect(nonAuth.map((r) => `${r.method} ${r.url}`)).toEqual([
      'POST /api/v2/dags/etl/dagRuns',
      'GET /api/v2/dags/etl/dagRuns/manual__2026-01-01T00%3A00%3A00%2B00%3A00',
      'GET /api/v2/dags/etl/dagRuns?state=failed&state=success&limit=5',
      'GET /api/v2/dags/etl/dagRuns/r%2F1/taskInstances?state=deferred',
      'GET /api/v2/dags/etl/dagRuns/r1/taskInstances/handoff/logs/2?full_content=true&map_index=3',
      'PUT /api/v2/parseDagFile/file%2Ftoken',
      'PATCH /api/v2/dags/etl?update_mask=is_paused',
      'GET /api/v2/importErrors?filename=etl.py',
    ]);
    // logical_date is required-but-nullable in Airflow 3's TriggerDAGRunPostBody.
    expect(nonAuth[0]?.body).toEqual({ dag_run_id: 'manual__2026-01-01T00:00:00+00:00', conf: { force: true }, logical_date: null });
    expect(nonAuth[6]?.body).toEqual({ is_paused: false });
  });
});

describe('allTaskInstances', () => {
  it('pages past Airflow’s 100-per-page cap until every task instance is read', async () => {
    const tis = Array.from({ length: 250 }, (_, i) => ({ task_id: `t${i}` }));
    fake = new FakeAirflow();
    fake.handler = fake.withLogin((req, res) => {
      const q = new URL(req.url ?? '/', 'http://x').searchParams;
      // Like Airflow: a limit above maximum_page_limit (100) is cut to it.
      const limit = Math.min(Number(q.get('limit') ?? 50), 100);
      const offset = Number(q.get('offset') ?? 0);
      json(res, 200, { task_instances: tis.slice(offset, offset + limit), total_entries: tis.length });
    });
    const client = clientFor(await fake.listen());
    const all = await allTaskInstances(client, 'etl', 'r1', { state: ['success'] });
    expect(all.map((t) => t.task_id)).toEqual(tis.map((t) => t.task_id));
    const pages = fake.seen.filter((r) => r.url.includes('/taskInstances')).map((r) => r.url);
    expect(pages).toEqual([0, 100, 200].map((o) => `/api/v2/dags/etl/dagRuns/r1/taskInstances?state=success&limit=100&offset=${o}`));
  });
});
