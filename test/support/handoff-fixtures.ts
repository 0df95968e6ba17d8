/**
 * What the hand-off tests start with: the Airflow task a hand-off serves (a fresh run id each
 * call, so tests never share a hand-off) and a review as its workflow input.
 */
import { randomUUID } from 'node:crypto';
import type { HandoffAirflowCoordinates } from '../../shared/contracts/handoffs.ts';

/** `cardiology.review` of a new manual run of `tandem__notes`, at try 1 unless told otherwise. */
export function handoffCoordinates(over: Partial<Pick<HandoffAirflowCoordinates, 'mapIndex' | 'tryNumber'>> = {}): HandoffAirflowCoordinates {
  return { dagId: 'tandem__notes', runId: `manual__${randomUUID()}+00:00`, taskId: 'cardiology.review', mapIndex: -1, tryNumber: 1, ...over };
}

/** A cardiology discharge-summary review of artifact `version`, for dr-a with dr-chief to escalate to. */
export function handoffReviewInput(version = 'v1') {
  return {
    department: 'cardiology',
    reviewType: 'discharge-summary',
    title: 'Summaries for cardiology',
    artifact: { uri: 'file:///summaries/cardiology', version },
    assignee: 'dr-a',
    escalationContact: 'dr-chief',
  };
}
