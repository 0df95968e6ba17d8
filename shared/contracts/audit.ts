/** Responses of /v1/audit: entries of the hash-chained audit log and the result of verifying it. */
import { z } from 'zod';
import { pageQuery } from './pagination.ts';

export const auditActorSchema = z
  .union([
    z.object({ kind: z.literal('key'), keyId: z.string(), name: z.string(), role: z.string() }),
    z.object({ kind: z.enum(['system', 'workflow']), name: z.string() }),
  ])
  .meta({ id: 'AuditActor' });

export const auditEntrySchema = z
  .object({
    seq: z.number().int(),
    at: z.string(),
    actor: auditActorSchema,
    department: z.string(),
    subject: z.string(),
    event: z.string(),
    workflowId: z.string().nullable(),
    artifactVersion: z.string().nullable(),
    details: z.record(z.string(), z.unknown()),
    dedupeKey: z.string().nullable(),
    prevHash: z.string(),
    hash: z.string(),
  })
  .meta({ id: 'AuditEntry' });

export const auditQuerySchema = z
  .object({
    subject: z.string().min(1).max(500).optional().describe('e.g. `review:<id>`'),
    workflowId: z.string().min(1).max(400).optional(),
    ...pageQuery(500, 5000),
  })
  .strict();

export const auditVerificationSchema = z
  .union([
    z.object({ ok: z.literal(true), entries: z.number().int(), headHash: z.string() }),
    z.object({ ok: z.literal(false), entries: z.number().int(), firstBrokenSeq: z.number().int(), reason: z.string() }),
  ])
  .meta({ id: 'AuditVerification' });
