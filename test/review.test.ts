// Human review end to end through the real API, Temporal dev server and tandem worker: start a
// review, find it in the reviewer's inbox, decide, see the workflow complete and the audit chain
// verify.
import { randomUUID } from 'node:crypto';
import { describe, expect, inject, it } from 'vitest';
import { api, eventually } from './support/api-client.ts';

const stack = inject('stack');

async function createKey(name: string, role: string, department: string): Promise<string> {
  const res = await api<any>(stack.apiUrl, 'POST', '/v1/api-keys', { key: stack.adminKey, body: { name, role, department } });
  expect(res.status).toBe(201);
  return res.body.key as string;
}

describe('review through the stack', () => {
  it('starts a review, lists it for the reviewer, refuses another department, accepts the decision, audits it all', async () => {
    const suffix = randomUUID().slice(0, 8);
    const reviewerName = `dr-it-${suffix}`;
    const reviewer = await createKey(reviewerName, 'reviewer', 'cardiology');
    const outsider = await createKey(`dr-onc-${suffix}`, 'reviewer', 'oncology');
    const engineer = await createKey(`eng-${suffix}`, 'ai-engineer', 'cardiology');

    const started = await api<any>(stack.apiUrl, 'POST', '/v1/workflows', {
      key: engineer,
      body: {
        type: 'review.request',
        input: {
          department: 'cardiology',
          reviewType: 'discharge-summary',
          title: 'Discharge summary, bed 4',
          artifact: { uri: 's3://summaries/bed-4', version: 'v7' },
          assignee: reviewerName,
          escalationContact: 'dr-chief',
        },
      },
    });
    expect(started.status).toBe(201);
    const id = started.body.workflowId as string;

    const inbox = await eventually(
      async () => {
        const res = await api<any>(stack.apiUrl, 'GET', '/v1/reviews?assignedToMe=true&status=pending', { key: reviewer });
        expect(res.status).toBe(200);
        return res.body.reviews.find((r: { id: string }) => r.id === id);
      },
      30_000,
      'the review in the reviewer inbox',
    );
    expect(inbox).toMatchObject({ artifactVersion: 'v7', assignee: reviewerName, department: 'cardiology' });

    const forbidden = await api<any>(stack.apiUrl, 'POST', `/v1/reviews/${id}/decision`, {
      key: outsider,
      body: { decision: 'approve', artifactVersion: 'v7' },
    });
    // Another department's review reads as missing (ids are not a side channel); still audited.
    expect(forbidden.status).toBe(404);

    const decided = await api<any>(stack.apiUrl, 'POST', `/v1/reviews/${id}/decision`, {
      key: reviewer,
      body: { decision: 'approve', artifactVersion: 'v7', comment: 'reads well' },
    });
    expect(decided.status).toBe(200);
    expect(decided.body).toMatchObject({ accepted: true, review: { status: 'approved', decidedBy: reviewerName } });

    const done = await eventually(
      async () => {
        const res = await api<any>(stack.apiUrl, 'GET', `/v1/workflows/${encodeURIComponent(id)}`, { key: stack.adminKey });
        return res.body.status === 'running' ? undefined : res.body;
      },
      30_000,
      'the review workflow to complete',
    );
    expect(done).toMatchObject({ status: 'completed', type: 'review.request', result: { outcome: 'approved', decidedBy: reviewerName, artifactVersion: 'v7', escalations: [] } });

    const trail = await api<any>(stack.apiUrl, 'GET', `/v1/audit?workflowId=${encodeURIComponent(id)}`, { key: stack.adminKey });
    expect(trail.status).toBe(200);
    const events = trail.body.entries.map((e: { event: string; actor: { name: string } }) => [e.event, e.actor.name]);
    // The outsider's attempt is refused by the API before the workflow is asked, so it may land
    // before or after the workflow's own `created`.
    expect(events).toContainEqual(['decision-rejected', `dr-onc-${suffix}`]);
    expect(events.filter(([, who]: string[]) => who !== `dr-onc-${suffix}`)).toEqual([
      ['workflow-started', `eng-${suffix}`],
      ['created', 'reviewWorkflow'],
      ['decided', reviewerName],
      ['workflow-finished', 'reviewWorkflow'],
    ]);
    const verified = await api<any>(stack.apiUrl, 'GET', '/v1/audit/verify', { key: stack.adminKey });
    expect(verified.body).toMatchObject({ ok: true });
    expect(verified.body.entries).toBeGreaterThanOrEqual(3);
  });
});
