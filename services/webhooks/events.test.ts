import { describe, expect, it } from 'vitest';
import type { AuditEntry } from '../../shared/store/audit-log.ts';
import { eventsOfAuditEntry } from './events.ts';

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

  it('workflow ends: completed and failed (a pipeline run also pipeline.run.finished); never the delivery flow, never cancelled', () => {
    const finished = (details: Record<string, unknown>) => eventsOfAuditEntry(entry({ event: 'workflow-finished', subject: 'workflow:w1', workflowId: 'w1', details }));
    expect(finished({ type: 'echoWorkflow', outcome: 'completed', runId: 'r' }).map((e) => [e.type, e.data.type])).toEqual([['workflow.completed', 'smoke.echo']]);
    expect(finished({ type: 'pipelineRunWorkflow', outcome: 'failed', runId: 'r', failureType: 'AirflowDagRunFailed' }).map((e) => [e.type, e.data.failureType])).toEqual([
      ['workflow.failed', 'AirflowDagRunFailed'],
      ['pipeline.run.finished', 'AirflowDagRunFailed'],
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
});
