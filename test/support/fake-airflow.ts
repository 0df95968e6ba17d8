/**
 * A tiny fake of Airflow 3's REST API, enough for the airflow activities: token, trigger (409 on
 * a duplicate run id), get run, patch a run's state, list task instances, task log. Each run's
 * fate is chosen by the test (`outcomes[dagId]`); a run reports `running` for `pollsBeforeEnd`
 * reads, then its outcome (`running` never ends by itself) — or the state a PATCH set.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeTaskInstance {
  task_id: string;
  state: string;
}

export interface FakeAirflow {
  url: string;
  /** dagId → how its runs end; default success. `tasks` are its task instances (default: the failed task only). */
  outcomes: Record<string, { state: 'success' | 'failed' | 'running'; failedTask?: string; log?: string[]; tasks?: FakeTaskInstance[] }>;
  pollsBeforeEnd: number;
  /** The next N triggers create the run but answer 503, like a response lost after Airflow committed. */
  failTriggers: number;
  /** Every request as "METHOD path". */
  calls: string[];
  /** dagId/runId → conf of the run. */
  runs: Map<string, Record<string, unknown>>;
  /** Every PATCH of a run, in order. */
  patches: { dagId: string; runId: string; body: Record<string, unknown> }[];
  close(): Promise<void>;
}

const START = '2026-11-01T01:30:00+00:00';
const END = '2026-11-01T01:31:05+00:00';

export async function startFakeAirflow(): Promise<FakeAirflow> {
  const reads = new Map<string, number>();
  const patchedStates = new Map<string, string>();
  const fake: Omit<FakeAirflow, 'url' | 'close'> = { outcomes: {}, pollsBeforeEnd: 1, failTriggers: 0, calls: [], runs: new Map(), patches: [] };
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://x');
      fake.calls.push(`${req.method} ${url.pathname}`);
      const json = (status: number, data: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(data));
      if (url.pathname === '/auth/token') return json(201, { access_token: 'token' });
      const m = /^\/api\/v2\/dags\/([^/]+)\/dagRuns(?:\/([^/]+))?(\/taskInstances)?(?:\/([^/]+)\/logs\/(\d+))?$/.exec(url.pathname);
      if (!m) return json(404, { detail: 'not found' });
      const dagId = decodeURIComponent(m[1]!);
      const runKey = (runId: string) => `${dagId}/${runId}`;
      const run = (runId: string, state: string) => ({
        dag_id: dagId,
        dag_run_id: runId,
        state,
        conf: fake.runs.get(runKey(runId)) ?? null,
        logical_date: null,
        run_after: START,
        start_date: state === 'queued' ? null : START,
        end_date: state === 'success' || state === 'failed' ? END : null,
      });
      if (req.method === 'POST' && !m[2]) {
        const { dag_run_id: runId, conf } = JSON.parse(body) as { dag_run_id: string; conf: Record<string, unknown> };
        if (fake.runs.has(runKey(runId))) return json(409, { detail: `DAG run ${runId} already exists` });
        fake.runs.set(runKey(runId), conf);
        if (fake.failTriggers > 0) {
          fake.failTriggers -= 1;
          return json(503, { detail: 'Service Unavailable' });
        }
        return json(200, run(runId, 'queued'));
      }
      const runId = decodeURIComponent(m[2] ?? '');
      if (!fake.runs.has(runKey(runId))) return json(404, { detail: `DagRun ${runId} not found` });
      const outcome = fake.outcomes[dagId] ?? { state: 'success' };
      if (req.method === 'PATCH' && !m[3]) {
        const patch = JSON.parse(body) as Record<string, unknown>;
        fake.patches.push({ dagId, runId, body: patch });
        if (typeof patch.state === 'string') patchedStates.set(runKey(runId), patch.state);
        return json(200, run(runId, patchedStates.get(runKey(runId)) ?? 'running'));
      }
      if (m[4]) return json(200, { content: (outcome.log ?? []).map((event) => ({ event, level: 'error' })), continuation_token: null });
      if (m[3]) {
        const all =
          outcome.tasks ?? (outcome.state === 'failed' ? [{ task_id: outcome.failedTask ?? 'build', state: 'failed' }] : []);
        const wanted = url.searchParams.getAll('state');
        const tasks = all
          .filter((t) => wanted.length === 0 || wanted.includes(t.state))
          .map((t) => ({ ...t, try_number: 2, map_index: -1 }));
        return json(200, { task_instances: tasks, total_entries: tasks.length });
      }
      const patched = patchedStates.get(runKey(runId));
      if (patched) return json(200, run(runId, patched));
      const n = (reads.get(runKey(runId)) ?? 0) + 1;
      reads.set(runKey(runId), n);
      return json(200, run(runId, n > fake.pollsBeforeEnd ? outcome.state : 'running'));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return Object.assign(fake, {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  });
}
