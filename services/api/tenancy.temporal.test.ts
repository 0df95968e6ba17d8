/**
 * The authorisation matrix, walked over every route the app registers: for each operation, which
 * roles may call it (any other role → 403), and what a key of another department gets on
 * department A's resources (404 for a resource, so ids do not leak; 403 for starting work in A;
 * absent from a list). Keys of every role in two departments and `*`. A route missing from
 * `matrix` fails the test, so a new route is covered the day it is added.
 *
 * Real Temporal (dev server) and worker, so reviews, workflows and hand-offs exist; Airflow is a
 * fake whose unscripted calls answer "unavailable" (503), which still proves the door let the
 * caller through.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { HTTPMethods, RouteOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newApiKey } from '../../shared/credentials.ts';
import { roles, type Role } from '../../shared/contracts/roles.ts';
import { tenantSpecSchema } from '../../shared/contracts/tenants.ts';
import { hashApiKey } from '../../shared/store/api-key-hash.ts';
import { AirflowClient, type AirflowDag } from '../airflow/client.ts';
import { appWithWorker, type AppWithWorker } from '../../test/support/app-with-worker.ts';
import type { AppFixture } from '../../test/support/app-fixture.ts';

const A = 'cardiology';
const B = 'oncology';
const scopes = [A, B, '*'] as const;
type Scope = (typeof scopes)[number];

/** Airflow that pauses and unpauses; anything else finds nobody listening ("unavailable", 503). */
function fakeAirflow(): AirflowClient {
  const client = new AirflowClient({ baseUrl: 'http://127.0.0.1:9', username: 'x', password: 'x', retries: 0, timeoutMs: 1_000 });
  const dag = (paused: boolean) => ({ dag_id: 'tandem__kb-a', is_paused: paused, file_token: 't' }) as AirflowDag;
  return Object.assign(client, { pauseDag: async () => dag(true), unpauseDag: async () => dag(false) });
}

let stack: AppWithWorker;
let f: AppFixture;
let dagsFolder: string;
const keys = {} as Record<Role, Record<Scope, string>>;
const as = (role: Role, scope: Scope) => ({ authorization: `Bearer ${keys[role][scope]}` });
/** Department A's resources. */
const ids = { pipeline: 'kb-a', review: '', handoff: '', apiKey: '', subscription: '', delivery: '' };

const savePipeline = (id: string) =>
  f.store.pipelines.save({ id, department: A, spec: {}, specHash: 'h', dagId: `tandem__${id}`, fileName: `tandem__${id}.py`, status: 'deployed', deployedAt: null, lastError: null });

/** A subscription of department A, with one delivery recorded (its receiver is a closed loopback port). */
async function addSubscription(): Promise<{ subscription: string; delivery: string }> {
  const subscription = `whs_tenancy_${randomUUID()}`;
  await f.store.webhooks.createSubscription({
    id: subscription, department: A, url: 'http://127.0.0.1:9/hooks', eventTypes: ['review.decided'], description: null, secret: `whsec_${Buffer.from(randomUUID()).toString('base64')}`, createdBy: 'tenancy-test',
  });
  const delivery = `whd_tenancy_${randomUUID()}`;
  await f.store.webhooks.recordDelivery({ id: delivery, subscriptionId: subscription, department: A, eventId: `evt_${randomUUID()}`, eventType: 'review.decided', payload: '{}' });
  return { subscription, delivery };
}

async function addKey(name: string, role: Role, department: string): Promise<{ key: string; id: string }> {
  const key = newApiKey('key');
  const record = await f.store.createApiKey({ name, role, department, keyHash: hashApiKey(key) });
  return { key, id: record.id };
}

const reviewInput = (department = A) => ({
  department,
  reviewType: 'discharge-summary',
  title: `summary ${randomUUID()}`,
  artifact: { uri: 'file:///summaries/1', version: 'v1' },
  assignee: 'group:reviewers',
  escalationContact: 'dr-chief',
});
const spec = { apiVersion: 'tandem.dev/v1', id: 'kb-a', department: A, partitions: { keys: [A] }, sources: [{ id: 'docs', kind: 'file', path: '/data/{partition}/*.md' }], stages: [{ id: 'build', kind: 'python', callable: 'pkg.mod:build' }] };
const airflowCoordinates = () => ({ dagId: 'tandem__kb-a', runId: `manual__${randomUUID()}`, taskId: 'cardiology.review', mapIndex: -1, tryNumber: 1 });
const fingerprint = { pipelineId: 'kb-a', partition: A, runId: 'manual__1' };

interface Call {
  url: string;
  payload?: unknown;
}

/**
 * What another department's key (with a role that may call the route) gets:
 * `not-found` for A's resource, `forbidden` for starting work in A, `hidden` when a list answers
 * 200 without A's item, `open` when the route is about no department.
 */
type Other = 'not-found' | 'forbidden' | 'hidden' | 'open';

interface Expectation {
  roles: readonly Role[];
  /** Async so a call that consumes its resource (a delete) gets a fresh one each time. */
  call: () => Call | Promise<Call>;
  other: Other;
  /** Only keys of these scopes are "in scope" (default A and `*`). */
  inScope?: readonly Scope[];
}

const all = roles;
const matrix: Record<string, Expectation> = {
  'GET /v1/version': { roles: all, call: () => ({ url: '/v1/version' }), other: 'open' },

  'GET /v1/api-keys': { roles: ['admin'], call: () => ({ url: '/v1/api-keys' }), other: 'hidden' },
  'POST /v1/api-keys': { roles: ['admin'], call: () => ({ url: '/v1/api-keys', payload: { name: `k-${randomUUID()}`, role: 'reviewer', department: A } }), other: 'forbidden' },
  'GET /v1/api-keys/:id': { roles: ['admin'], call: () => ({ url: `/v1/api-keys/${ids.apiKey}` }), other: 'not-found' },
  'POST /v1/api-keys/:id/rotate': {
    roles: ['admin'],
    call: async () => ({ url: `/v1/api-keys/${(await addKey(`rotated-${randomUUID()}`, 'reviewer', A)).id}/rotate`, payload: { overlapHours: 1 } }),
    other: 'not-found',
  },
  'DELETE /v1/api-keys/:id': {
    roles: ['admin'],
    call: async () => ({ url: `/v1/api-keys/${(await addKey(`victim-${randomUUID()}`, 'reviewer', A)).id}` }),
    other: 'not-found',
  },

  'POST /v1/workflows': { roles: ['admin', 'ai-engineer', 'data-engineer', 'service'], call: () => ({ url: '/v1/workflows', payload: { type: 'review.request', input: reviewInput() } }), other: 'forbidden' },
  'GET /v1/workflows': { roles: ['admin', 'ai-engineer', 'data-engineer', 'reviewer', 'service'], call: () => ({ url: '/v1/workflows' }), other: 'hidden' },
  'GET /v1/workflows/:id': { roles: ['admin', 'ai-engineer', 'data-engineer', 'reviewer', 'service'], call: () => ({ url: `/v1/workflows/${ids.review}` }), other: 'not-found' },
  'POST /v1/workflows/:id/cancel': { roles: ['admin', 'ai-engineer', 'data-engineer', 'service'], call: () => ({ url: `/v1/workflows/${ids.review}/cancel` }), other: 'not-found' },

  'GET /v1/fingerprints': { roles: ['service', 'admin'], call: () => ({ url: `/v1/fingerprints?pipelineId=kb-a&partition=${A}` }), other: 'not-found' },
  'POST /v1/fingerprints/check': { roles: ['service', 'admin'], call: () => ({ url: '/v1/fingerprints/check', payload: { ...fingerprint, sources: [] } }), other: 'not-found' },
  'POST /v1/fingerprints/commit': { roles: ['service', 'admin'], call: () => ({ url: '/v1/fingerprints/commit', payload: fingerprint }), other: 'not-found' },
  'POST /v1/fingerprints/fail': {
    roles: ['service', 'admin'],
    call: () => ({ url: '/v1/fingerprints/fail', payload: { ...fingerprint, taskId: `${A}.build`, error: { type: 'AirflowException' } } }),
    other: 'not-found',
  },

  'POST /v1/pipelines/validate': { roles: ['admin', 'data-engineer'], call: () => ({ url: '/v1/pipelines/validate', payload: spec }), other: 'forbidden' },
  'POST /v1/pipelines': { roles: ['admin', 'data-engineer'], call: () => ({ url: '/v1/pipelines', payload: spec }), other: 'forbidden' },
  'GET /v1/pipelines': { roles: ['admin', 'data-engineer', 'ai-engineer', 'service'], call: () => ({ url: '/v1/pipelines' }), other: 'hidden' },
  'GET /v1/pipelines/:id': { roles: ['admin', 'data-engineer', 'ai-engineer', 'service'], call: () => ({ url: '/v1/pipelines/kb-a' }), other: 'not-found' },
  'POST /v1/pipelines/:id/pause': { roles: ['admin', 'data-engineer'], call: () => ({ url: '/v1/pipelines/kb-a/pause' }), other: 'not-found' },
  'POST /v1/pipelines/:id/unpause': { roles: ['admin', 'data-engineer'], call: () => ({ url: '/v1/pipelines/kb-a/unpause' }), other: 'not-found' },
  'DELETE /v1/pipelines/:id': {
    roles: ['admin', 'data-engineer'],
    call: async () => {
      const id = `del-${randomUUID().slice(0, 8)}`;
      await savePipeline(id);
      return { url: `/v1/pipelines/${id}` };
    },
    other: 'not-found',
  },
  'POST /v1/pipelines/:id/runs': { roles: ['admin', 'data-engineer', 'service'], call: () => ({ url: '/v1/pipelines/kb-a/runs', payload: {} }), other: 'not-found' },
  'POST /v1/pipelines/:id/runs/:runId/finished': { roles: ['service', 'admin'], call: () => ({ url: '/v1/pipelines/kb-a/runs/manual__1/finished' }), other: 'not-found' },
  'GET /v1/pipelines/:id/runs': { roles: ['admin', 'data-engineer', 'ai-engineer', 'service'], call: () => ({ url: '/v1/pipelines/kb-a/runs' }), other: 'not-found' },
  'GET /v1/pipelines/:id/partitions': { roles: ['admin', 'data-engineer', 'ai-engineer', 'service'], call: () => ({ url: '/v1/pipelines/kb-a/partitions' }), other: 'not-found' },

  'GET /v1/reviews': { roles: ['reviewer', 'admin', 'ai-engineer'], call: () => ({ url: '/v1/reviews' }), other: 'hidden' },
  'GET /v1/reviews/:id': { roles: ['reviewer', 'admin', 'ai-engineer'], call: () => ({ url: `/v1/reviews/${ids.review}` }), other: 'not-found' },
  'POST /v1/reviews/:id/decision': { roles: ['reviewer', 'admin'], call: () => ({ url: `/v1/reviews/${ids.review}/decision`, payload: { decision: 'approve', artifactVersion: 'v1' } }), other: 'not-found' },
  'POST /v1/reviews/:id/reassign': { roles: ['reviewer', 'admin'], call: () => ({ url: `/v1/reviews/${ids.review}/reassign`, payload: { assignee: 'dr-b' } }), other: 'not-found' },
  'POST /v1/reviews/:id/comments': { roles: ['reviewer', 'admin'], call: () => ({ url: `/v1/reviews/${ids.review}/comments`, payload: { text: 'looks fine' } }), other: 'not-found' },

  'GET /v1/audit': { roles: ['admin'], call: () => ({ url: `/v1/audit?workflowId=${ids.review}` }), other: 'hidden' },
  'GET /v1/audit/verify': { roles: ['admin'], call: () => ({ url: '/v1/audit/verify' }), other: 'open' },

  'POST /v1/handoffs': {
    roles: ['service'],
    call: () => ({ url: '/v1/handoffs', payload: { workflowType: 'review.request', input: reviewInput(), department: A, pipelineId: 'kb-a', partition: A, airflow: airflowCoordinates() } }),
    other: 'forbidden',
  },
  'GET /v1/handoffs/:id': { roles: ['service'], call: () => ({ url: `/v1/handoffs/${encodeURIComponent(ids.handoff)}` }), other: 'not-found' },
  'POST /v1/handoffs/:id/xcom': { roles: ['service'], call: () => ({ url: `/v1/handoffs/${encodeURIComponent(ids.handoff)}/xcom` }), other: 'not-found' },
  'POST /v1/handoffs/:id/complete-task': { roles: ['service'], call: () => ({ url: `/v1/handoffs/${encodeURIComponent(ids.handoff)}/complete-task` }), other: 'not-found' },
  'POST /v1/handoffs/:id/cancel': { roles: ['service'], call: () => ({ url: `/v1/handoffs/${encodeURIComponent(ids.handoff)}/cancel` }), other: 'not-found' },
  'POST /v1/subscriptions': {
    roles: ['admin', 'service'],
    call: () => ({ url: '/v1/subscriptions', payload: { department: A, url: 'http://127.0.0.1:9/hooks', eventTypes: ['review.decided'] } }),
    other: 'forbidden',
  },
  'GET /v1/subscriptions': { roles: ['admin', 'service'], call: () => ({ url: '/v1/subscriptions' }), other: 'hidden' },
  'GET /v1/subscriptions/:id': { roles: ['admin', 'service'], call: () => ({ url: `/v1/subscriptions/${ids.subscription}` }), other: 'not-found' },
  'DELETE /v1/subscriptions/:id': { roles: ['admin', 'service'], call: async () => ({ url: `/v1/subscriptions/${(await addSubscription()).subscription}` }), other: 'not-found' },
  'GET /v1/subscriptions/:id/deliveries': { roles: ['admin', 'service'], call: () => ({ url: `/v1/subscriptions/${ids.subscription}/deliveries` }), other: 'not-found' },
  'GET /v1/subscriptions/:id/deliveries/:deliveryId': {
    roles: ['admin', 'service'],
    call: () => ({ url: `/v1/subscriptions/${ids.subscription}/deliveries/${ids.delivery}` }),
    other: 'not-found',
  },
  'POST /v1/subscriptions/:id/deliveries/:deliveryId/redeliver': {
    roles: ['admin', 'service'],
    call: async () => {
      const { subscription, delivery } = await addSubscription();
      return { url: `/v1/subscriptions/${subscription}/deliveries/${delivery}/redeliver` };
    },
    other: 'not-found',
  },

  // Anyone reads their own department's tenant; changing one takes a platform admin (scope `*`):
  // a department's own admin is refused like an outsider, so a department cannot raise its quota.
  'GET /v1/tenants': { roles: all, call: () => ({ url: '/v1/tenants' }), other: 'hidden' },
  'GET /v1/tenants/:department': { roles: all, call: () => ({ url: `/v1/tenants/${A}` }), other: 'not-found' },
  'POST /v1/tenants': { roles: ['admin'], call: () => ({ url: '/v1/tenants', payload: { department: `new-${randomUUID().slice(0, 8)}` } }), other: 'forbidden', inScope: ['*'] },
  'PUT /v1/tenants/:department': { roles: ['admin'], call: () => ({ url: `/v1/tenants/${A}`, payload: { region: 'eu-west' } }), other: 'forbidden', inScope: ['*'] },
  'POST /v1/tenants/:department/apply': { roles: ['admin'], call: () => ({ url: `/v1/tenants/${A}/apply` }), other: 'forbidden', inScope: ['*'] },
  'DELETE /v1/tenants/:department': {
    roles: ['admin'],
    call: async () => {
      const department = `gone-${randomUUID().slice(0, 8)}`;
      await f.store.tenants.put({ department, namespace: department, spec: tenantSpecSchema.parse({}), updatedBy: 'tenancy-test', cluster: { state: 'no-cluster', at: null, message: null } });
      return { url: `/v1/tenants/${department}` };
    },
    other: 'forbidden',
    inScope: ['*'],
  },

  // A pass acts on every department: only `*` keys, the department's own included, are refused.
  'POST /v1/handoffs/reconcile': { roles: ['admin', 'service'], call: () => ({ url: '/v1/handoffs/reconcile' }), other: 'forbidden', inScope: ['*'] },
};

const routes: RouteOptions[] = [];

beforeAll(async () => {
  dagsFolder = mkdtempSync(path.join(tmpdir(), 'tandem-dags-'));
  stack = await appWithWorker('dev', { onRoute: (route) => routes.push(route), airflowClient: fakeAirflow(), env: { TANDEM_AIRFLOW_DAGS_FOLDER: dagsFolder } });
  f = stack.f;
  for (const role of roles) {
    keys[role] = {} as Record<Scope, string>;
    for (const scope of scopes) keys[role][scope] = (await addKey(`${role}@${scope}`, role, scope)).key;
  }
  await savePipeline(ids.pipeline);
  await f.store.tenants.put({ department: A, namespace: A, spec: tenantSpecSchema.parse({}), updatedBy: 'tenancy-test', cluster: { state: 'no-cluster', at: null, message: null } });
  ids.apiKey = (await addKey('dr-a', 'reviewer', A)).id;
  ({ subscription: ids.subscription, delivery: ids.delivery } = await addSubscription());

  const review = await f.app.inject({ method: 'POST', url: '/v1/workflows', headers: f.headers('admin'), payload: { type: 'review.request', input: reviewInput() } });
  expect(review.statusCode).toBe(201);
  ids.review = review.json().workflowId;
  const handoff = await f.app.inject({
    method: 'POST',
    url: '/v1/handoffs',
    headers: f.headers('service'),
    payload: { workflowType: 'review.request', input: reviewInput(), department: A, pipelineId: 'kb-a', partition: A, airflow: airflowCoordinates() },
  });
  expect(handoff.statusCode).toBe(201);
  ids.handoff = handoff.json().handoffId;
  for (let i = 0; i < 400 && !(await f.store.reviews.get(ids.review)); i++) await new Promise((r) => setTimeout(r, 25));
}, 120_000);

afterAll(async () => {
  await stack?.close();
  rmSync(dagsFolder, { recursive: true, force: true });
});

const routeKey = (method: string, url: string) => `${method} ${url}`;

function v1Operations(): { method: HTTPMethods; url: string }[] {
  const operations = routes
    .filter((r) => r.url.startsWith('/v1'))
    .flatMap((r) => ([] as HTTPMethods[]).concat(r.method).map((method) => ({ method, url: r.url })));
  // HEAD mirrors GET (Fastify adds it); it is covered by its GET.
  for (const head of operations.filter((o) => o.method === 'HEAD')) {
    expect(operations.some((o) => o.method === 'GET' && o.url === head.url), `HEAD ${head.url} mirrors a GET`).toBe(true);
  }
  return operations.filter((o) => o.method !== 'HEAD');
}

async function send(method: HTTPMethods, role: Role, scope: Scope, expectation: Expectation) {
  const { url, payload } = await expectation.call();
  const res = await f.app.inject({ method, url, headers: as(role, scope), ...(payload !== undefined ? { payload: payload as Record<string, unknown> } : {}) });
  return { res, label: `${method} ${url} as ${role}@${scope}` };
}

describe('the authorisation matrix', () => {
  it('names every /v1 route, and only routes that exist', () => {
    const registered = v1Operations().map((o) => routeKey(o.method, o.url));
    expect(registered.filter((k) => !(k in matrix)), 'routes missing from the matrix').toEqual([]);
    expect(Object.keys(matrix).filter((k) => !registered.includes(k)), 'matrix entries without a route').toEqual([]);
  });

  it('refuses every role a route does not list with 403, whatever its department', async () => {
    let checks = 0;
    for (const { method, url } of v1Operations()) {
      const expectation = matrix[routeKey(method, url)]!;
      for (const role of roles.filter((r) => !expectation.roles.includes(r))) {
        for (const scope of scopes) {
          const { res, label } = await send(method, role, scope, expectation);
          expect(res.statusCode, label).toBe(403);
          expect(res.json().detail, label).toMatch(/^role .* may not call/);
          checks++;
        }
      }
    }
    expect(checks).toBeGreaterThan(100);
  });

  it('keeps another department out: its resources read as 404, starting work there is 403, lists leave them out', async () => {
    for (const { method, url } of v1Operations()) {
      const expectation = matrix[routeKey(method, url)]!;
      const outsiders = scopes.filter((s) => !(expectation.inScope ?? [A, '*']).includes(s));
      for (const role of expectation.roles) {
        for (const scope of outsiders) {
          const { res, label } = await send(method, role, scope, expectation);
          if (expectation.other === 'not-found') expect(res.statusCode, `${label}: ${res.body}`).toBe(404);
          if (expectation.other === 'forbidden') {
            expect(res.statusCode, label).toBe(403);
            expect(res.json().detail, label).not.toMatch(/^role /);
          }
          if (expectation.other === 'hidden') {
            expect(res.statusCode, label).toBe(200);
            expect(res.body, label).not.toContain(ids.review);
            expect(res.body, label).not.toContain('"kb-a"');
            expect(res.body, label).not.toContain(ids.apiKey);
            expect(res.body, label).not.toContain(ids.subscription);
            expect(res.body, label).not.toContain(`"department":"${A}"`);
          }
          if (expectation.other === 'open') expect(res.statusCode, label).toBe(200);
        }
      }
    }
  });

  it('lets every listed role of the department (and `*`) through the door', async () => {
    // Deletes last: a cancelled review must not turn later reads into 404s.
    const operations = v1Operations().sort((a, b) => Number(a.method === 'DELETE') - Number(b.method === 'DELETE'));
    for (const { method, url } of operations) {
      const expectation = matrix[routeKey(method, url)]!;
      for (const role of expectation.roles) {
        for (const scope of expectation.inScope ?? [A, '*']) {
          const { res, label } = await send(method, role, scope, expectation);
          // Past the door the answer is the route's own: 2xx, 409 (a finished review), 422, or 503
          // from the fake Airflow; never a refusal of the caller or a hidden resource, never a bug.
          expect([401, 403, 404], `${label}: ${res.body}`).not.toContain(res.statusCode);
          expect(res.statusCode < 500 || res.statusCode === 503, `${label}: ${res.statusCode} ${res.body}`).toBe(true);
        }
      }
    }
    // The list shows department A's items to A and `*`.
    const list = await f.app.inject({ url: '/v1/reviews', headers: as('reviewer', A) });
    expect(list.body).toContain(ids.review);
  });
});
