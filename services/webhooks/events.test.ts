import { describe, expect, it } from 'vitest';
import type { AuditEntry } from '../../shared/store/audit-log.ts';
import { webhookEventDataSchemas } from '../../shared/contracts/webhooks.ts';
import { eventsOfAuditEntry, type WebhookEvent } from './events.ts';
import { partitionFailedEntry, pipelineRunFinishedEntry } from '../pipelines/run-outcomes.ts';
import type { PipelineRecord } from '../../shared/store/pipelines.ts';
import type { AirflowDagRun } from '../airflow/client.ts';

const entry = (over: Partial<AuditEntry>): AuditEntry => ({
  seq: 1,
  at: '2026-12-01T10:00:00.000Z',
  actor: { kind: 'workflow', name: 'x' },
  department: 'cardiology',
  subject: 'review:r1',
  event: 'decided',
  workflowId: 'r1',
  artifactVersion: 'v1',
  details: {},
  dedupeKey: 'r1:run:decided',
  prevHash: '0',
  hash: '1',
  ...over,
});

describe('events of audit entries', () => {
  it('a decision is review.decided without the comment, with an id stable for the entry', () => {
    const [event, ...rest] = eventsOfAuditEntry(entry({ details: { outcome: 'approved', comment: 'patient X looks fine', escalationLevel: 0, decidedAt: 't' } }));
    expect(rest).toEqual([]);
    expect(event).toMatchObject({ type: 'review.decided', department: 'cardiology', data: { reviewId: 'r1', outcome: 'approved', department: 'cardiology' } });
    expect(JSON.stringify(event)).not.toContain('patient');
    expect(eventsOfAuditEntry(entry({ details: { outcome: 'approved' } }))[0]!.id).toBe(event!.id);
    expect(eventsOfAuditEntry(entry({ dedupeKey: 'r1:run2:decided' }))[0]!.id).not.toBe(event!.id);
  });

  it('workflow ends: completed and failed (a pipeline.run flow too: its DAG run is the pipeline event); never the delivery flow, never cancelled', () => {
    const finished = (details: Record<string, unknown>) => eventsOfAuditEntry(entry({ event: 'workflow-finished', subject: 'workflow:w1', workflowId: 'w1', details }));
    expect(finished({ type: 'echoWorkflow', outcome: 'completed', runId: 'r' }).map((e) => [e.type, e.data.type])).toEqual([['workflow.completed', 'smoke.echo']]);
    expect(finished({ type: 'pipelineRunWorkflow', outcome: 'failed', runId: 'r', failureType: 'AirflowDagRunFailed' }).map((e) => [e.type, e.data.failureType])).toEqual([
      ['workflow.failed', 'AirflowDagRunFailed'],
    ]);
    expect(finished({ type: 'webhookDeliveryWorkflow', outcome: 'completed' })).toEqual([]);
    expect(finished({ type: 'echoWorkflow', outcome: 'cancelled' })).toEqual([]);
  });

  it('an escalation is review.escalated; other entries are no event', () => {
    expect(eventsOfAuditEntry(entry({ event: 'escalated', details: { level: 1, at: 't', from: 'a', to: 'b' } })).map((e) => e.data)).toEqual([
      { department: 'cardiology', reviewId: 'r1', level: 1, escalatedAt: 't' },
    ]);
    expect(eventsOfAuditEntry(entry({ event: 'commented', details: { text: 'x' } }))).toEqual([]);
  });

  const pipeline = { id: 'kb', department: 'oncology', dagId: 'tandem__kb' } as PipelineRecord;
  const actor = { kind: 'key', keyId: 'k1', name: 'airflow', role: 'service' } as const;
  const asAppended = (e: ReturnType<typeof partitionFailedEntry>) =>
    entry({ ...e, workflowId: null, artifactVersion: null, details: e.details ?? {}, dedupeKey: e.dedupeKey ?? null });

  it('a failed partition is partition.failed of the pipeline’s department, one id per partition and run, without the message', () => {
    const failure = { partition: 'oncology', taskId: 'oncology.build_index', tryNumber: 2, errorType: 'AirflowException', failedAt: 't' };
    const [event, ...rest] = eventsOfAuditEntry(asAppended(partitionFailedEntry(pipeline, 'manual__1', failure, actor)));
    expect(rest).toEqual([]);
    expect(event).toMatchObject({
      type: 'partition.failed',
      department: 'oncology',
      data: {
        department: 'oncology',
        pipelineId: 'kb',
        dagId: 'tandem__kb',
        runId: 'manual__1',
        partition: 'oncology',
        taskId: 'oncology.build_index',
        tryNumber: 2,
        error: { type: 'AirflowException', summary: 'task oncology.build_index failed on try 2 with AirflowException' },
        failedAt: 't',
      },
    });
    // Another failing task of the same partition and run is the same event; another run is not.
    const other = { ...failure, taskId: 'oncology.embed' };
    expect(eventsOfAuditEntry(asAppended(partitionFailedEntry(pipeline, 'manual__1', other, actor)))[0]!.id).toBe(event!.id);
    expect(eventsOfAuditEntry(asAppended(partitionFailedEntry(pipeline, 'manual__2', failure, actor)))[0]!.id).not.toBe(event!.id);
  });

  it('a DAG run’s end is pipeline.run.finished with the partitions by outcome; a run ended again is a new event', () => {
    const run = { dag_run_id: 'manual__1', state: 'failed', logical_date: null, end_date: '2026-12-01T10:00:00Z' } as AirflowDagRun;
    const partitions = { succeeded: ['cardiology'], failed: ['oncology'], skipped: ['radiology'] };
    const [event] = eventsOfAuditEntry(asAppended(pipelineRunFinishedEntry(pipeline, run, partitions, actor)));
    expect(event).toMatchObject({
      type: 'pipeline.run.finished',
      department: 'oncology',
      data: { department: 'oncology', pipelineId: 'kb', dagId: 'tandem__kb', runId: 'manual__1', state: 'failed', logicalDate: null, endDate: run.end_date, partitions },
    });
    const again = pipelineRunFinishedEntry(pipeline, { ...run, end_date: '2026-12-02T10:00:00Z' }, partitions, actor);
    expect(eventsOfAuditEntry(asAppended(again))[0]!.id).not.toBe(event!.id);
  });

  it('every event’s data is exactly its documented schema', () => {
    const events: WebhookEvent[] = [
      ...eventsOfAuditEntry(entry({ details: { outcome: 'approved', escalationLevel: 0, decidedAt: 't' } })),
      ...eventsOfAuditEntry(entry({ event: 'escalated', details: { level: 1, at: 't' } })),
      ...eventsOfAuditEntry(entry({ event: 'workflow-finished', workflowId: 'w1', details: { type: 'echoWorkflow', outcome: 'completed', runId: 'r' } })),
      ...eventsOfAuditEntry(entry({ event: 'workflow-finished', workflowId: 'w1', details: { type: 'echoWorkflow', outcome: 'failed', runId: 'r', failureType: 'X' } })),
      ...eventsOfAuditEntry(asAppended(partitionFailedEntry(pipeline, 'r', { partition: 'p', taskId: 'p.t', tryNumber: null, errorType: 'unknown', failedAt: 't' }, actor))),
      ...eventsOfAuditEntry(
        asAppended(pipelineRunFinishedEntry(pipeline, { dag_run_id: 'r', state: 'success', logical_date: null, end_date: 't' } as AirflowDagRun, { succeeded: [], failed: [], skipped: [] }, actor)),
      ),
    ];
    expect(new Set(events.map((e) => e.type)).size).toBe(Object.keys(webhookEventDataSchemas).length);
    for (const e of events) expect(webhookEventDataSchemas[e.type].strict().parse(e.data), e.type).toEqual(e.data);
  });
});
