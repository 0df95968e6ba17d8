import { describe, expect, it } from 'vitest';
import type { Principal } from '../../shared/contracts/principal.ts';
import { reviewRejections } from './messages.ts';
import { commentRejection, decisionRejection, reassignRejection, type ReviewAuthority } from './rules.ts';

const review: ReviewAuthority = { department: 'cardiology', assignee: 'dr-a', artifactVersion: 'v2', finished: false };
const key = (over: Partial<Principal> = {}): Principal => ({ keyId: 'k', name: 'dr-a', role: 'reviewer', department: 'cardiology', ...over });
const approve = (principal: Principal, artifactVersion = 'v2') => ({ decision: 'approve' as const, artifactVersion, principal });

describe('review rules', () => {
  it('lets the assignee decide, from its department or from `*`', () => {
    expect(decisionRejection(review, approve(key()))).toBeUndefined();
    expect(decisionRejection(review, approve(key({ role: 'admin', department: '*' })))).toBeUndefined();
  });

  it('refuses other departments, other roles and other reviewers as forbidden', () => {
    expect(decisionRejection(review, approve(key({ department: 'oncology' })))?.type).toBe(reviewRejections.forbidden);
    expect(decisionRejection(review, approve(key({ role: 'service', department: '*' })))?.type).toBe(reviewRejections.forbidden);
    expect(decisionRejection(review, approve(key({ name: 'dr-b' })))?.type).toBe(reviewRejections.forbidden);
  });

  it('lets any reviewer of the department decide for the reviewers group', () => {
    const group = { ...review, assignee: 'group:reviewers' };
    expect(decisionRejection(group, approve(key({ name: 'dr-b' })))).toBeUndefined();
    expect(decisionRejection(group, approve(key({ name: 'dr-b', department: 'oncology' })))?.type).toBe(reviewRejections.forbidden);
  });

  it('checks finished first, then the body, then the caller, then the version', () => {
    expect(decisionRejection({ ...review, finished: true }, approve(key({ department: 'oncology' })))?.type).toBe(reviewRejections.finished);
    expect(decisionRejection(review, { decision: 'reject', artifactVersion: 'v2', principal: key(), comment: '  ' })?.type).toBe(reviewRejections.invalid);
    expect(decisionRejection(review, approve(key({ department: 'oncology' }), 'v1'))?.type).toBe(reviewRejections.forbidden);
    expect(decisionRejection(review, approve(key(), 'v1'))).toMatchObject({ type: reviewRejections.staleVersion, message: expect.stringMatching(/v1.*v2/) });
  });

  it('lets the assignee or a department admin reassign, and any reviewer of the department comment', () => {
    expect(reassignRejection(review, { assignee: 'dr-b', principal: key() })).toBeUndefined();
    expect(reassignRejection(review, { assignee: 'dr-b', principal: key({ name: 'ops', role: 'admin' }) })).toBeUndefined();
    expect(reassignRejection(review, { assignee: 'dr-b', principal: key({ name: 'ops', role: 'admin', department: 'oncology' }) })?.type).toBe(
      reviewRejections.forbidden,
    );
    expect(reassignRejection(review, { assignee: 'dr-b', principal: key({ name: 'dr-c' }) })?.type).toBe(reviewRejections.forbidden);
    expect(commentRejection(review, { text: 'hm', principal: key({ name: 'dr-c' }) })).toBeUndefined();
    expect(commentRejection(review, { text: 'hm', principal: key({ department: 'oncology' }) })?.type).toBe(reviewRejections.forbidden);
  });
});
