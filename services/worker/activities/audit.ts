/**
 * The audit family: workflows append to the hash-chained audit log in the store through this
 * activity (workflow code may not do I/O). Called with the `audit` preset, which retries forever;
 * that is safe because every call carries a dedupe key and a repeated append writes nothing.
 */
import { ApplicationFailure } from '@temporalio/common';
import { activityErrorTypes } from '../../../shared/contracts/activity-errors.ts';
import { auditEvents, type AuditEntry, type AuditLog, type NewAuditEntry } from '../../../shared/store/audit-log.ts';

/** What a workflow sends: a dedupe key is required, so a retried activity never writes twice. */
export type AuditAppend = NewAuditEntry & { dedupeKey: string };

export function createAuditActivities(log: AuditLog) {
  return {
    async appendAudit(entry: AuditAppend): Promise<Pick<AuditEntry, 'seq' | 'hash'>> {
      if (!(auditEvents as readonly string[]).includes(entry.event) || !entry.dedupeKey || !entry.subject) {
        throw ApplicationFailure.create({
          type: activityErrorTypes.audit.invalidEvent,
          nonRetryable: true,
          message: `audit entry needs a known event, a subject and a dedupe key (got event ${JSON.stringify(entry.event)})`,
        });
      }
      const stored = await log.append(entry);
      return { seq: stored.seq, hash: stored.hash };
    },
  };
}
export type AuditActivities = ReturnType<typeof createAuditActivities>;
