/**
 * `/v1/fingerprints` (service role): the Airflow check task of each partition asks whether its
 * sources changed since the partition's last successful run, the commit task makes the checked
 * values the committed ones, and a task of the partition that fails reports it (its
 * `on_failure_callback`). Shapes shared by the API and (by hand, in Python) dags/tandem_airflow.
 */
import { z } from 'zod';

const id = z.string().min(1).max(200);

export const sourceFingerprintSchema = z
  .object({
    source: id,
    kind: z.string().min(1).max(40),
    /** What decides "changed": `sha256:…`, `etag:…`, `last-modified:…`, `watermark:…`. */
    identity: z.string().min(1).max(2000),
    /** Everything measured (size, mtimeNs, sha256, files of a glob…), kept for the fast path and the API. */
    value: z.record(z.string(), z.unknown()),
  })
  .meta({ id: 'SourceFingerprint' });

export const fingerprintQuerySchema = z.object({ pipelineId: id, partition: id });

export const fingerprintCheckBodySchema = z
  .object({
    pipelineId: id,
    partition: id,
    runId: id,
    force: z.boolean().default(false),
    sources: z.array(sourceFingerprintSchema).max(1000),
  })
  .strict();

export const fingerprintCheckResultSchema = z
  .object({
    changed: z.boolean(),
    reasons: z.array(z.string()),
    sources: z.array(z.object({ source: z.string(), changed: z.boolean(), reason: z.string() })),
  })
  .meta({ id: 'FingerprintCheckResult' });

export const fingerprintCommitBodySchema = z
  .object({
    pipelineId: id,
    partition: id,
    runId: id,
    /** Omitted: commit what the check of this run recorded. */
    sources: z.array(sourceFingerprintSchema).max(1000).optional(),
  })
  .strict();

export const partitionFailureBodySchema = z
  .object({
    pipelineId: id,
    partition: id,
    runId: id,
    /** The failed task, with its group: `oncology.build_index`. */
    taskId: id,
    tryNumber: z.number().int().min(0).max(10_000).nullable().default(null),
    error: z
      .object({
        /** The exception's class name. */
        type: z.string().min(1).max(200),
        /** Its message's first line, kept as the partition's last-run reason only (never in an event or the audit log). */
        message: z.string().max(2000).default(''),
      })
      .strict(),
  })
  .strict();
export type PartitionFailureBody = z.infer<typeof partitionFailureBodySchema>;

export const committedFingerprintSchema = sourceFingerprintSchema
  .extend({ committedRunId: z.string(), committedAt: z.string(), changedAt: z.string() })
  .meta({ id: 'CommittedFingerprint' });

export const partitionRunSchema = z
  .object({
    runId: z.string(),
    outcome: z.enum(['pending', 'ran', 'skipped', 'failed']),
    reason: z.string(),
    at: z.string(),
  })
  .meta({ id: 'PartitionRun' });
