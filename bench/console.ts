/**
 * `npm run bench -- console`: what the web console's pages cost to serve, over loopback HTTP
 * against an API built in-process on a real SQLite store with 1,000 pending reviews.
 *
 * - inbox page (`GET /console/inbox`, all 1,000 rows rendered) p50/p95, with `GET /v1/reviews`
 *   for the same reviews as the baseline, interleaved in the same run: the difference is the cost
 *   of rendering HTML over serialising JSON.
 * - review page (`GET /console/reviews/{id}`: inbox row, audit trail, a 20 KiB Markdown artifact
 *   rendered and sanitised, a `viewed` audit append) p50/p95. The workflow's status query answers
 *   from a stub here, so this is the console's own cost; the review benchmark measures Temporal
 *   round trips.
 *
 * 200 requests of each (10 warm-up discarded), one at a time; `--quick`: 50.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import type { AddressInfo } from 'node:net';
import { buildApp } from '../services/api/app.ts';
import { ConsoleSessions } from '../services/api/console/sessions.ts';
import { loadConfig, statePaths } from '../shared/config.ts';
import { newApiKey } from '../shared/credentials.ts';
import { hashApiKey } from '../shared/store/api-key-hash.ts';
import { openSqliteStore } from '../shared/store/sqlite-store.ts';
import type { ReviewStatus } from '../workflows/review/messages.ts';
import { percentile } from './measure.ts';
import { localRegion } from '../shared/regions.ts';
import { figure, round, writeReport, type Figure } from './report.ts';

const REVIEWS = 1000;
const WARMUP = 10;

export async function consoleBenchmark({ quick }: { quick: boolean }): Promise<Figure[]> {
  const requests = quick ? 50 : 200;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tandem-bench-console-'));
  const artifacts = path.join(dir, 'examples');
  mkdirSync(artifacts, { recursive: true });
  const artifact = path.join(artifacts, 'summary.md');
  const paragraph = 'Patient admitted with chest pain; troponin negative twice; discharged on aspirin 100 mg. ';
  writeFileSync(artifact, `# Discharge summary\n\n${Array.from({ length: 200 }, (_, i) => `${i + 1}. ${paragraph}`).join('\n')}\n`);

  const config = loadConfig({ cwd: dir, env: { TANDEM_STATE_DIR: dir, TANDEM_LOG_LEVEL: 'silent', TANDEM_HANDOFF_RECONCILE_SCHEDULE: 'off', TANDEM_API_RATE_LIMIT_PER_MINUTE: '1000000' } });
  const store = openSqliteStore(statePaths(dir).store);
  const key = newApiKey('key');
  await store.createApiKey({ name: 'dr-bench', role: 'reviewer', department: 'cardiology', keyHash: hashApiKey(key) });
  const now = Date.now();
  const ids: string[] = [];
  for (let i = 0; i < REVIEWS; i++) {
    const id = `bench-review-${i}`;
    ids.push(id);
    await store.reviews.create({
      id,
      department: 'cardiology',
      reviewType: i % 3 === 0 ? 'model-promotion' : 'discharge-summary',
      title: `Discharge summaries, ward ${i % 40}, day ${i}`,
      artifactUri: artifact,
      artifactVersion: `run-${i}/cardiology`,
      assignee: i % 2 ? 'group:reviewers' : 'dr-bench',
      escalationContact: 'dr-chief',
      dueAt: new Date(now + 168 * 3_600_000 - i * 60_000).toISOString(),
    });
    for (const event of ['workflow-started', 'created'] as const) {
      await store.audit.append({ actor: { kind: 'workflow', name: 'review.request' }, department: 'cardiology', subject: `review:${id}`, event, workflowId: id, artifactVersion: `run-${i}/cardiology` });
    }
  }
  const statusOf = (id: string): ReviewStatus => ({
    reviewId: id, department: 'cardiology', reviewType: 'discharge-summary', title: id, artifact: { uri: artifact, version: 'v' },
    status: 'pending', assignee: 'group:reviewers', escalationContact: 'dr-chief', escalationLevel: 0, escalations: [], comments: [],
    notifications: 0, createdAt: new Date(now).toISOString(), dueAt: new Date(now + 168 * 3_600_000).toISOString(), decidedBy: null, decidedAt: null, comment: null,
  });
  const client = { workflow: { getHandle: (id: string) => ({ query: async () => statusOf(id) }) } } as unknown as Client;
  const app = await buildApp({
    config,
    store,
    temporal: { regions: [{ region: localRegion, client, departmentSearchAttribute: false }], taskQueue: 'bench', ping: async () => {}, close: async () => {} },
    airflowProbe: { ping: async () => {} },
  });
  try {
    await app.listen({ host: '127.0.0.1', port: 0 });
    const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    const { sessionId } = (await new ConsoleSessions(store, { idleMinutes: 60, maxHours: 12 }).signIn(key))!;
    const timed = async (url: string, headers: Record<string, string>): Promise<number> => {
      const t0 = performance.now();
      const res = await fetch(`${base}${url}`, { headers });
      await res.arrayBuffer();
      if (res.status !== 200) throw new Error(`${url} answered ${res.status}`);
      return performance.now() - t0;
    };
    const cookie = { cookie: `tandem_session=${sessionId}` };
    const inbox: number[] = [];
    const api: number[] = [];
    const review: number[] = [];
    const rows = (await (await fetch(`${base}/v1/reviews?assignedToMe=true&status=pending&limit=1000`, { headers: { authorization: `Bearer ${key}` } })).json()) as { reviews: unknown[] };
    for (let i = 0; i < requests + WARMUP; i++) {
      const a = await timed('/console/inbox', cookie);
      const b = await timed('/v1/reviews?assignedToMe=true&status=pending&limit=1000', { authorization: `Bearer ${key}` });
      const c = await timed(`/console/reviews/${ids[(i * 37) % REVIEWS]}`, cookie);
      if (i >= WARMUP) {
        inbox.push(a);
        api.push(b);
        review.push(c);
      }
    }
    const sorted = (xs: number[]) => [...xs].sort((x, y) => x - y);
    const [si, sa, sr] = [sorted(inbox), sorted(api), sorted(review)];
    const note = `${rows.reviews.length} pending reviews listed; ${requests} requests each, ${WARMUP} warm-up discarded, loopback HTTP`;
    const figures = [
      figure({ metric: 'inbox_page_p50', unit: 'ms', value: percentile(si, 50), baseline: 'GET /v1/reviews (same reviews) p50', baseline_value: round(percentile(sa, 50), 2), note }),
      figure({ metric: 'inbox_page_p95', unit: 'ms', value: percentile(si, 95), baseline: 'GET /v1/reviews (same reviews) p95', baseline_value: round(percentile(sa, 95), 2) }),
      figure({ metric: 'review_page_p50', unit: 'ms', value: percentile(sr, 50), note: '20 KiB Markdown artifact; status query stubbed' }),
      figure({ metric: 'review_page_p95', unit: 'ms', value: percentile(sr, 95) }),
    ];
    writeReport('console', figures);
    return figures;
  } finally {
    await app.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
