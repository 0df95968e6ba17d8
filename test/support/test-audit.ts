/**
 * The audit family for test workers that run the bundled workflows with mocked activities.
 *
 * Every bundled workflow audits its end through `appendAudit` (workflows/audit-interceptors.ts)
 * under the `audit` preset, which retries forever: a worker registering only a test's mocks would
 * leave each workflow retrying that append, and the test hanging. This gives such a worker the
 * real audit activity on a throwaway in-memory store, which the test can then read:
 *
 *   const audit = openTestAudit();
 *   await Worker.create({ …, workflowBundle: { codePath }, activities: audit.withAuditFamily({ stampEcho }) });
 *   expect(await audit.finishOf(workflowId)).toMatchObject({ details: { outcome: 'completed' } });
 *   await audit.close();
 *
 * Tests whose worker registers `createActivities(…)` already have the family, on their own store.
 */
import { createAuditActivities, type AuditActivities } from '../../services/worker/activities/audit.ts';
import { registerFamilies } from '../../services/worker/activities/index.ts';
import type { AuditEntry, AuditLog } from '../../shared/store/audit-log.ts';
import { openSqliteStore } from '../../shared/store/sqlite-store.ts';

type MockedActivities = Record<string, (...args: never[]) => Promise<unknown>>;

export interface TestAudit {
  log: AuditLog;
  /** The test's activities plus the audit family (a mocked `appendAudit` is refused as a clash). */
  withAuditFamily<A extends MockedActivities>(activities: A): A & AuditActivities;
  /** The `workflow-finished` entries of a workflow id, one per run, oldest first. */
  finishesOf(workflowId: string): Promise<AuditEntry[]>;
  /** The last of them, or undefined. */
  finishOf(workflowId: string): Promise<AuditEntry | undefined>;
  close(): Promise<void>;
}

export function openTestAudit(): TestAudit {
  const store = openSqliteStore(':memory:');
  const finishesOf = async (workflowId: string) =>
    (await store.audit.list({ subject: `workflow:${workflowId}` })).filter((e) => e.event === 'workflow-finished');
  return {
    log: store.audit,
    withAuditFamily: <A extends MockedActivities>(activities: A) =>
      // registerFamilies types the union of two generic families loosely; the merge is exactly A plus the audit family.
      registerFamilies({ test: activities, audit: createAuditActivities(store.audit) }) as A & AuditActivities,
    finishesOf,
    finishOf: async (workflowId) => (await finishesOf(workflowId)).at(-1),
    close: () => store.close(),
  };
}
