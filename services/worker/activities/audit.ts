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

/**
 * `onAppended` sees every appended entry (also one a retried append found already written): the
 * worker passes the webhook emitter (./webhooks.ts). A failure there fails the append, which the
 * `audit` preset retries, so no event is lost; the entry itself is written once.
 */
export function createAuditActivities(log: AuditLog, onAppended?: (entry: AuditEntry) => Promise<void>) {
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
      await onAppended?.(stored);
      return { seq: stored.seq, hash: stored.hash };
    },
  };
}
export type AuditActivities = ReturnType<typeof createAuditActivities>;
