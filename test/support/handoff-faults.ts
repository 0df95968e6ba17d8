/**
 * Fault drills for the Airflow → Temporal hand-off, shared by the CI test
 * (test/handoff-faults.test.ts, a few drills) and the benchmark (`npm run bench -- handoff-faults`,
 * many): a stack of its own (processes are killed, so never the shared integration stack), a
 * pipeline whose partitions each hand two reviews to Temporal — one parked in `awaiting_input`
 * (resumed by tandem), one deferred to the triggerer — so every drill covers both ways a hand-off
 * task waits, and one drill = run the pipeline,
 * `kill -9` one component (its whole process group) at a random moment, restart it, and check that
 * every hand-off completed exactly once:
 *
 * - the DAG run succeeds and every hand-off task ends `success`;
 * - the stage after each hand-off ran once (one line per partition and run in its log file);
 * - Temporal holds exactly one run of each hand-off's workflow id (no duplicate workflow);
 * - the notification webhook (the side effect) got exactly the expected idempotency keys —
 *   one reminder and one escalation per review, however often each was delivered;
 * - nothing is left deferred or parked.
 *
 * The review's escalation policy is shrunk to seconds (reminder after 3.6 s, escalation after
 * 7.2 s), so each drill exercises durable timers, the side effect and a decision through the API.
 */
import { mkdtempSync, mkdirSync, readFileSync, rmSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { loadConfig } from '../../shared/config.ts';
import { clientDataConverter, payloadCodecFor } from '../../shared/payload-codec.ts';
import { connectTemporal } from '../../shared/temporal-connection.ts';
import { handoffIdFor } from '../../shared/contracts/handoffs.ts';
import { startStack, type StackHandle, type StackProfile } from '../../deploy/dev/stack.ts';
import { AirflowClient } from '../../services/airflow/client.ts';
import { isolatedClusterEnv, isolatedStackEnv } from './free-ports.ts';
import { api } from './api-client.ts';
import { startSideEffectServer, type SideEffectServer } from './side-effect-server.ts';

/** Supervisor process names of the components a drill may kill. */
export const faultComponents = ['worker', 'api', 'airflow-triggerer', 'airflow-scheduler', 'temporal'] as const;
/** The cluster profile's Temporal services, instead of `temporal` (the dev server). */
export const clusterFaultComponents = ['temporal-history', 'temporal-matching', 'temporal-frontend'] as const;
export type FaultComponent = (typeof faultComponents)[number] | (typeof clusterFaultComponents)[number];

export const DRILL_PIPELINE_ID = 'handoff-drill';
const DRILL_DAG_ID = `tandem__${DRILL_PIPELINE_ID}`;
const PARTITIONS = ['north', 'south'] as const;
/** The hand-off stages of each partition and how each waits (`wait` in the spec). */
const HANDOFF_STAGES = [
  { id: 'review', wait: 'parked' },
  { id: 'review_deferred', wait: 'triggerer' },
] as const;
const CHIEF = 'chief-drill';

export interface FaultRig {
  stack: StackHandle;
  webhook: SideEffectServer;
  airflow: AirflowClient;
  temporal: Client;
  chiefKey: string;
  dataDir: string;
  close(): Promise<void>;
}

export interface DrillResult {
  /** `none`: the same drill without a fault (a baseline). */
  component: FaultComponent | 'none';
  killAtMs: number;
  downMs: number;
  dagRunId: string;
  /** Trigger of the run to the DAG run's success. */
  totalMs: number;
  /** Everything that was not exactly once; empty when the drill passed. */
  problems: string[];
  /** Webhook deliveries beyond one per key: at-least-once retries the receiver deduplicated. */
  redeliveries: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function drillSpec(dataDir: string) {
  return {
    apiVersion: 'tandem.dev/v1',
    id: DRILL_PIPELINE_ID,
    department: 'clinical-ai',
    description: 'Fault drill: one review hand-off per partition, then a stage that records that it ran.',
    partitions: { keys: [...PARTITIONS] },
    // Runs are forced; a source is still needed, as the fingerprint commit expects checked sources.
    sources: [{ id: 'clock', kind: 'command', command: 'echo drill' }],
    stages: [
      ...HANDOFF_STAGES.map((stage) => ({
        id: stage.id,
        kind: 'handoff',
        workflow: 'review.request',
        wait: stage.wait,
        // A task killed before it deferred (or parked) is retried; the retry attaches to the same workflow.
        retries: 3,
        retryDelaySeconds: 5,
        input: {
          department: 'clinical-ai',
          reviewType: 'fault-drill',
          title: 'Fault drill {partition}',
          artifact: { uri: 'drill://{partition}', version: '{run_id}/{task_id}' },
          assignee: 'group:reviewers',
          escalationContact: CHIEF,
          policy: { notifyAfterHours: 0.001, escalateAfterHours: 0.002, deadlineHours: 2 },
        },
      })),
      {
        id: 'after',
        kind: 'bash',
        dependsOn: HANDOFF_STAGES.map((stage) => stage.id),
        retries: 3,
        retryDelaySeconds: 5,
        command: `echo "$AIRFLOW_CTX_DAG_RUN_ID $TANDEM_PARTITION" >> ${path.join(dataDir, 'after.log')}`,
      },
    ],
  };
}

/** Calls the API until it answers (it may be the component that is down). */
async function apiUntilUp<T = any>(rig: FaultRig, method: string, route: string, key: string, body?: unknown, timeoutMs = 180_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const res = await api<T>(rig.stack.config.api.url, method, route, { key, ...(body !== undefined ? { body } : {}) });
      if (res.status < 500) return res;
    } catch {
      // connection refused while the API restarts
    }
    if (Date.now() > deadline) throw new Error(`${method} ${route}: API not answering after ${timeoutMs} ms`);
    await sleep(500);
  }
}

/** `profile: 'cluster'`: the store, a Temporal cluster and Airflow on PostgreSQL (stack.ts). */
export async function startFaultRig(progress: (line: string) => void, options: { profile?: StackProfile } = {}): Promise<FaultRig> {
  const stateDir = mkdtempSync(path.join(os.tmpdir(), 'tandem-drill-'));
  const webhook = await startSideEffectServer();
  const stackEnv = await isolatedStackEnv(stateDir);
  const env = {
    ...stackEnv,
    ...(options.profile === 'cluster' ? await isolatedClusterEnv(stackEnv) : {}),
    TANDEM_LOG_LEVEL: 'warn',
    TANDEM_NOTIFY_WEBHOOK_URL: webhook.url,
  };
  const config = loadConfig({ cwd: stateDir, env });
  let stack: StackHandle;
  try {
    stack = await startStack(config, progress, { profile: options.profile });
  } catch (err) {
    await webhook.close();
    rmSync(stateDir, { recursive: true, force: true });
    throw err;
  }
  const rig: FaultRig = {
    stack,
    webhook,
    airflow: AirflowClient.forStack(config, stack.credentials),
    temporal: await connectTemporal(config, { dataConverter: clientDataConverter(payloadCodecFor(config)) }),
    chiefKey: '',
    dataDir: path.join(stateDir, 'drill'),
    async close() {
      await rig.temporal.connection.close().catch(() => {});
      await stack.stop();
      await webhook.close();
      if (!process.env.TANDEM_TEST_KEEP_STATE) rmSync(stateDir, { recursive: true, force: true });
    },
  };
  try {
    mkdirSync(rig.dataDir, { recursive: true });
    const admin = stack.credentials.adminApiKey;
    const applied = await apiUntilUp<any>(rig, 'POST', '/v1/pipelines', admin, drillSpec(rig.dataDir));
    if (applied.status !== 201 && applied.status !== 200) throw new Error(`applying the drill pipeline: ${applied.status} ${JSON.stringify(applied.body)}`);
    const key = await apiUntilUp<any>(rig, 'POST', '/v1/api-keys', admin, { name: CHIEF, role: 'reviewer', department: 'clinical-ai' });
    if (key.status !== 201) throw new Error(`creating the chief's key: ${key.status} ${JSON.stringify(key.body)}`);
    rig.chiefKey = key.body.key;
  } catch (err) {
    await rig.close();
    throw err;
  }
  return rig;
}

/** Every hand-off task of a run: each partition's parked and deferred review. */
function handoffTasks(): string[] {
  return PARTITIONS.flatMap((partition) => HANDOFF_STAGES.map((stage) => `${partition}.${stage.id}`));
}

function handoffIdOf(dagRunId: string, taskId: string): string {
  return handoffIdFor({ dagId: DRILL_DAG_ID, runId: dagRunId, taskId, mapIndex: -1 });
}

/** Approves each review once the webhook has seen its escalation (the chief is then the assignee). */
async function approveWhenEscalated(rig: FaultRig, dagRunId: string, until: () => boolean): Promise<void> {
  const pending = new Set<string>(handoffTasks());
  while (pending.size > 0 && !until()) {
    for (const taskId of [...pending]) {
      const reviewId = handoffIdOf(dagRunId, taskId);
      const escalated = rig.webhook.deliveries.some((d) => d.body.reviewId === reviewId && d.body.kind === 'review-escalated');
      if (!escalated) continue;
      const res = await apiUntilUp<any>(rig, 'POST', `/v1/reviews/${encodeURIComponent(reviewId)}/decision`, rig.chiefKey, {
        decision: 'approve',
        artifactVersion: `${dagRunId}/${taskId}`,
      });
      // 409: already decided (a decision whose answer was lost to a kill, then retried).
      if (res.status === 200 || res.status === 409) pending.delete(taskId);
    }
    await sleep(300);
  }
}

async function dagRunState(rig: FaultRig, dagRunId: string): Promise<string | undefined> {
  try {
    return (await rig.airflow.getDagRun(DRILL_DAG_ID, dagRunId)).state;
  } catch {
    return undefined;
  }
}

export async function runDrill(
  rig: FaultRig,
  options: { component: FaultComponent | 'none'; killAtMs: number; downMs: number; timeoutMs?: number },
  progress: (line: string) => void = () => {},
): Promise<DrillResult> {
  const { component, killAtMs, downMs } = options;
  const t0 = Date.now();
  const trigger = await apiUntilUp<any>(rig, 'POST', `/v1/pipelines/${DRILL_PIPELINE_ID}/runs`, rig.stack.credentials.adminApiKey, { force: true });
  if (trigger.status !== 201) throw new Error(`triggering the drill: ${trigger.status} ${JSON.stringify(trigger.body)}`);
  const dagRunId: string = trigger.body.runs[0].runId;
  progress(`drill ${component}: run ${dagRunId}, kill at ${killAtMs} ms, down ${downMs} ms`);

  let finished = false;
  const fault = (async () => {
    if (component === 'none') return;
    await sleep(Math.max(0, killAtMs - (Date.now() - t0)));
    await rig.stack.supervisor.kill(component);
    await sleep(downMs);
    await rig.stack.supervisor.restart(component);
  })();
  const decisions = approveWhenEscalated(rig, dagRunId, () => finished);

  const deadline = t0 + (options.timeoutMs ?? 6 * 60_000);
  let state: string | undefined;
  while (Date.now() < deadline) {
    state = await dagRunState(rig, dagRunId);
    if (state === 'success' || state === 'failed') break;
    await sleep(500);
  }
  const totalMs = Date.now() - t0;
  finished = true;
  await fault;
  await decisions;

  const problems: string[] = [];
  if (state !== 'success') problems.push(`DAG run ${dagRunId} ended ${state ?? 'nowhere'} after ${totalMs} ms`);
  const tis = await rig.airflow.listTaskInstances(DRILL_DAG_ID, dagRunId).catch(() => ({ task_instances: [] }));
  for (const ti of tis.task_instances) {
    if (ti.state === 'deferred' || ti.state === 'awaiting_input') problems.push(`${ti.task_id} left ${ti.state}`);
  }
  const afterLog = existsSync(path.join(rig.dataDir, 'after.log')) ? readFileSync(path.join(rig.dataDir, 'after.log'), 'utf8') : '';
  let redeliveries = 0;
  for (const partition of PARTITIONS) {
    // The stage after the hand-offs runs once per try that got going: once, unless a kill hit it.
    const after = tis.task_instances.find((t) => t.task_id === `${partition}.after`);
    const ranAfter = afterLog.split('\n').filter((l) => l === `${dagRunId} ${partition}`).length;
    if (ranAfter < 1 || ranAfter > (after?.try_number ?? 1)) problems.push(`${partition}.after ran ${ranAfter} times in ${after?.try_number ?? 0} tries`);
  }
  for (const taskId of handoffTasks()) {
    const review = tis.task_instances.find((t) => t.task_id === taskId);
    if (review?.state !== 'success') problems.push(`${taskId} is ${review?.state ?? 'missing'}`);

    const workflowId = handoffIdOf(dagRunId, taskId);
    const runs: string[] = [];
    for await (const execution of rig.temporal.workflow.list({ query: `WorkflowId = '${workflowId.replaceAll("'", "\\'")}'` })) runs.push(execution.runId);
    if (runs.length !== 1) problems.push(`${workflowId} has ${runs.length} Temporal runs`);

    const effects = rig.webhook.effects((d) => d.body.reviewId === workflowId);
    const kinds = rig.webhook.deliveries.filter((d) => d.body.reviewId === workflowId).map((d) => String(d.body.kind));
    if (effects.size !== 2 || !kinds.includes('review-reminder') || !kinds.includes('review-escalated')) {
      problems.push(`${workflowId}: ${effects.size} distinct notifications (${[...new Set(kinds)].join(', ')}), expected one reminder and one escalation`);
    }
    for (const count of effects.values()) redeliveries += count - 1;
  }
  return { component, killAtMs, downMs, dagRunId, totalMs, problems, redeliveries };
}
