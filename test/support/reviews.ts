/**
 * Review helpers for tests that run the real review workflow: start one through the API, as the
 * fixture's ai-engineer key, and wait until its inbox task exists.
 */
import { randomUUID } from 'node:crypto';
import { expect } from 'vitest';
import type { AppFixture } from './app-fixture.ts';

export interface TestReviewOptions {
  department?: string;
  assignee?: string;
  /** Escalation hours; the default policy when omitted. */
  policy?: { notifyAfterHours: number; escalateAfterHours: number; deadlineHours: number };
}

/** A discharge-summary review at artifact version `v2`; resolves with its id once its task is in the inbox. */
export async function startTestReview(f: AppFixture, options: TestReviewOptions = {}): Promise<string> {
  const res = await f.app.inject({
    method: 'POST',
    url: '/v1/workflows',
    headers: f.headers('ai-engineer'),
    payload: {
      type: 'review.request',
      input: {
        department: options.department ?? 'cardiology',
        reviewType: 'discharge-summary',
        title: `summary ${randomUUID()}`,
        artifact: { uri: 's3://summaries/1', version: 'v2' },
        assignee: options.assignee ?? 'dr-a',
        escalationContact: 'dr-chief',
        ...(options.policy ? { policy: options.policy } : {}),
      },
    },
  });
  expect(res.statusCode).toBe(201);
  const id = res.json().workflowId as string;
  for (let i = 0; i < 400 && !(await f.store.reviews.get(id)); i++) await new Promise((r) => setTimeout(r, 25));
  return id;
}
