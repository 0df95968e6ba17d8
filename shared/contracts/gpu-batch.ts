/**
 * The `gpu.batch` durable flow: one batch job (embedding, evaluation, fine-tuning) run through
 * the worker's job runner — a local process, or a Kubernetes Job (services/kubernetes) — with
 * heartbeats while it runs, resumption from the job's last checkpoint after preemption, and
 * clean-up on cancellation. Pure: zod only.
 *
 * Every GPU workload sets both requests and limits; that is checked here, before anything runs: a GPU request needs an equal GPU limit,
 * cpu and memory set on both sides must be equal (one side alone is used for both, so the Pod
 * is in the Guaranteed QoS class), the image must be a valid reference, and only fault-tolerant
 * work may ask for spot capacity.
 */
import { z } from 'zod';
import { imageReferenceSchema, quantityPattern, quantityValue } from './kubernetes.ts';

export const gpuResource = 'nvidia.com/gpu';

/** Kubernetes quantities, e.g. "500m", "2", "16Gi". */
const quantity = z.string().regex(quantityPattern, 'must be a Kubernetes quantity such as "500m", "2" or "16Gi"');

const resourceList = z
  .object({
    cpu: quantity.optional(),
    memory: quantity.optional(),
    [gpuResource]: z
      .number()
      .int('must be a whole number of GPUs (devices are not shared)')
      .min(1, 'must be at least 1 GPU; leave nvidia.com/gpu out for a job without GPUs')
      .max(16)
      .optional(),
  })
  .strict();

export const gpuJobResourcesSchema = z
  .object({ requests: resourceList.prefault({}), limits: resourceList.prefault({}) })
  .strict()
  .superRefine((r, ctx) => {
    const requested = r.requests[gpuResource];
    const limited = r.limits[gpuResource];
    if (requested !== limited) {
      ctx.addIssue({
        code: 'custom',
        path: [requested === undefined ? 'requests' : 'limits', gpuResource],
        message: `${gpuResource} requests and limits must both be set and equal (requests ${requested ?? 'unset'}, limits ${limited ?? 'unset'})`,
      });
    }
    for (const resource of ['cpu', 'memory'] as const) {
      const request = r.requests[resource];
      const limit = r.limits[resource];
      if (request === undefined || limit === undefined || !quantityPattern.test(request) || !quantityPattern.test(limit)) continue;
      if (quantityValue(request) !== quantityValue(limit)) {
        ctx.addIssue({
          code: 'custom',
          path: ['limits', resource],
          message: `${resource} requests and limits must be equal (requests ${request}, limits ${limit}); set one side alone to use it for both`,
        });
      }
    }
  });

/** DNS-1123 label, short enough to leave room for the suffix that makes it unique per workflow. */
const jobName = z
  .string()
  .min(1)
  .max(40)
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be lower-case letters, digits and "-", starting and ending with a letter or digit');

export const gpuBatchInputSchema = z
  .object({
    name: jobName.describe('Job name; the workflow adds a suffix unique to itself'),
    command: z.array(z.string().min(1).max(4096)).min(1).max(256).describe('argv of the job (no shell)'),
    env: z
      .record(z.string(), z.string().max(32_768))
      // Key rules as a refinement: a record's own key schema reports only "Invalid key in record".
      .superRefine((env, ctx) => {
        for (const key of Object.keys(env)) {
          if (key.startsWith('TANDEM_')) ctx.addIssue({ code: 'custom', path: [key], message: 'TANDEM_* variables are set by tandem' });
          else if (!/^[A-Z_][A-Z0-9_]*$/.test(key)) ctx.addIssue({ code: 'custom', path: [key], message: 'must be an upper-case environment variable name' });
        }
      })
      .optional(),
    image: imageReferenceSchema.optional().describe('Container image reference (the Kubernetes runner requires it; the local runner ignores it)'),
    resources: gpuJobResourcesSchema,
    faultTolerant: z.boolean().default(false).describe('The job checkpoints and may be preempted and resumed'),
    spot: z.boolean().default(false).describe('May run on spot/preemptible capacity; requires faultTolerant'),
    maxPreemptions: z.number().int().min(0).max(50).default(3).describe('Resumptions after preemption before the attempt fails'),
    deadlineSeconds: z
      .number()
      .int()
      .min(60)
      .max(12 * 3600)
      .default(12 * 3600)
      .describe("The Job's activeDeadlineSeconds: running longer fails it (at most the activity's 12 h)"),
  })
  .strict()
  .refine((i) => !i.spot || i.faultTolerant, { path: ['spot'], message: 'spot capacity is only for faultTolerant jobs' })
  .meta({ id: 'GpuBatchInput' });
export type GpuBatchInput = z.infer<typeof gpuBatchInputSchema>;

export const gpuBatchResultSchema = z
  .object({
    jobId: z.string(),
    exitCode: z.number().int(),
    checkpoint: z.string().nullable().describe('The last checkpoint the job wrote'),
    preemptions: z.number().int().describe('How often the job was killed and resumed'),
    submissions: z.number().int().describe('How often the job was started, the first time included'),
  })
  .meta({ id: 'GpuBatchResult' });
export type GpuBatchResult = z.infer<typeof gpuBatchResultSchema>;
