/**
 * Tenants: a department as tandem runs it — its Kubernetes namespace under a ResourceQuota and a
 * LimitRange, its off-peak window and what a GPU batch started at peak time does, whether its
 * fault-tolerant work may use spot capacity, its LLM token budget and its data-residency region.
 * Settings a tenant leaves out fall back to the global configuration (shared/config.ts), so a
 * department without a tenant behaves exactly as before. Pure: zod only.
 */
import { z } from 'zod';
import { localRegion, regionNamePattern, regionNameRule } from '../regions.ts';
import { gpuResource } from './gpu-batch.ts';
import { nextLinkSchema, pageQuery } from './pagination.ts';
import { departmentIdSchema } from './roles.ts';

/** A Kubernetes quantity as a ResourceQuota or LimitRange takes it: "500m", "2", "16Gi". */
const quantity = z
  .string()
  .regex(/^\d+(\.\d+)?(m|k|Ki|M|Mi|G|Gi|T|Ti|P|Pi)?$/, 'must be a Kubernetes quantity such as "500m", "2" or "16Gi"');

/** RFC 1123 label: what Kubernetes accepts as a namespace name. */
export const namespaceNameSchema = z
  .string()
  .min(1)
  .max(63)
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a DNS label: lower-case letters, digits and "-", starting and ending with a letter or digit, at most 63 characters');

const clockTime = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be a time HH:MM (00:00–23:59)');

/**
 * The zones this runtime knows, by their canonical IANA names, as an enum: the document then says
 * exactly which names are accepted (a refinement would be invisible to it).
 */
export const timeZoneNames = ['UTC', ...Intl.supportedValuesOf('timeZone').filter((z) => z !== 'UTC')] as [string, ...string[]];

export const tenantOffPeakSchema = z
  .strictObject({
    start: clockTime.describe('Start of the window, local time'),
    end: clockTime.describe('End (exclusive); before the start, the window wraps past midnight; equal to the start, the whole day is off-peak'),
    timezone: z.enum(timeZoneNames).default('UTC').describe('IANA time zone of start and end'),
  })
  .meta({ id: 'TenantOffPeakWindow' });
export type TenantOffPeak = z.infer<typeof tenantOffPeakSchema>;

const cpuMemory = { cpu: quantity.optional(), memory: quantity.optional() };

export const tenantQuotaSchema = z
  .strictObject({
    // GPUs under requests only: every GPU Pod tandem runs requests exactly its limit, and
    // Kubernetes quotas an extended resource by its requests alone, so one number bounds both.
    requests: z.strictObject({ ...cpuMemory, [gpuResource]: z.number().int().min(0).max(10_000).optional() }).prefault({}),
    limits: z.strictObject(cpuMemory).prefault({}),
    pods: z.number().int().min(0).max(100_000).optional(),
  })
  .describe(
    'The namespace’s ResourceQuota (`spec.hard`): requests.cpu, requests.memory, requests.nvidia.com/gpu (GPU Pods request their limit, so this bounds both), limits.cpu, limits.memory, pods',
  )
  .meta({ id: 'TenantQuota' });
export type TenantQuota = z.infer<typeof tenantQuotaSchema>;

export const tenantLimitRangeSchema = z
  .strictObject({
    defaultRequest: z.strictObject(cpuMemory).prefault({}).describe('Requests a container gets when it sets none'),
    default: z.strictObject(cpuMemory).prefault({}).describe('Limits a container gets when it sets none'),
  })
  .describe('The namespace’s LimitRange for containers, so a Pod without requests still counts against the quota')
  .meta({ id: 'TenantLimitRange' });

export const gpuPeakPolicies = ['wait', 'refuse'] as const;
export const gpuPeakPolicySchema = z
  .enum(gpuPeakPolicies)
  .describe('A gpu.batch started outside the off-peak window: `wait` sleeps on a durable timer until it opens, `refuse` is a 409 at the API');
export type GpuPeakPolicy = z.infer<typeof gpuPeakPolicySchema>;

export const regionSchema = z.string().regex(regionNamePattern, regionNameRule);

/** What an admin sends (PUT body; POST adds `department`). */
export const tenantSpecSchema = z
  .strictObject({
    namespace: namespaceNameSchema
      .optional()
      .describe('Kubernetes namespace of the department’s Jobs; default `<TANDEM_KUBERNETES_NAMESPACE_PREFIX><department>` (`tandem-<department>`); cannot change later'),
    quota: tenantQuotaSchema.prefault({}),
    limitRange: tenantLimitRangeSchema.optional(),
    offPeak: tenantOffPeakSchema.optional().describe('Default: `pipelines.offPeakByDepartment`, then `pipelines.offPeak` (UTC)'),
    gpuPeakPolicy: gpuPeakPolicySchema.default('wait'),
    spotAllowed: z.boolean().default(false).describe('Whether the department’s fault-tolerant work may run on spot nodes'),
    llmTokenBudget: z
      .number()
      .int()
      .min(0)
      .nullable()
      .default(null)
      .describe('Tokens per calendar month (UTC); 0 = no limit; null = `llm.tokenBudgetPerDepartment`'),
    region: regionSchema
      .default(localRegion)
      .describe('Data-residency region: the department’s workflows, hand-offs and reviews run in this region’s Temporal namespace (`TANDEM_REGIONS`); one this API does not serve is a 422; it cannot change later'),
  })
  .meta({ id: 'TenantSpec' });
export type TenantSpecInput = z.input<typeof tenantSpecSchema>;
export type TenantSpec = z.infer<typeof tenantSpecSchema>;

export const createTenantRequestSchema = tenantSpecSchema
  .extend({ department: departmentIdSchema.describe('The department this tenant is') })
  .meta({ id: 'CreateTenantRequest' });

export const tenantParamsSchema = z.object({ department: departmentIdSchema });

export const clusterApplyStatusSchema = z
  .object({
    state: z
      .enum(['pending', 'applied', 'failed', 'no-cluster'])
      .describe('`pending`: saved, not applied yet; `no-cluster`: this API has no Kubernetes configured, so nothing was applied'),
    at: z.iso.datetime().nullable().describe('When tandem last applied the tenant (or tried to)'),
    message: z.string().nullable(),
  })
  .meta({ id: 'TenantClusterStatus' });
export type ClusterApplyStatus = z.infer<typeof clusterApplyStatusSchema>;

export const driftItemSchema = z
  .object({
    object: z.string().describe('Kind/name, e.g. `ResourceQuota/tandem`'),
    path: z.string().describe('Field path in the object, e.g. `spec.hard["requests.nvidia.com/gpu"]`'),
    applied: z.string().nullable().describe('What tandem applied'),
    live: z.string().nullable().describe('What the cluster has; null when the field or the object is gone'),
  })
  .meta({ id: 'TenantDrift' });
export type DriftItem = z.infer<typeof driftItemSchema>;

export const tenantSchema = z
  .object({
    department: departmentIdSchema,
    namespace: z.string(),
    quota: tenantQuotaSchema,
    limitRange: tenantLimitRangeSchema.nullable(),
    offPeak: tenantOffPeakSchema.nullable(),
    gpuPeakPolicy: gpuPeakPolicySchema,
    spotAllowed: z.boolean(),
    llmTokenBudget: z.number().int().nullable(),
    region: z.string(),
    createdAt: z.iso.datetime(),
    updatedAt: z.iso.datetime(),
    updatedBy: z.string().describe('Name of the key that last changed it'),
    cluster: clusterApplyStatusSchema,
  })
  .meta({ id: 'Tenant' });
export type TenantView = z.infer<typeof tenantSchema>;

export const tenantDetailSchema = tenantSchema
  .extend({
    drift: z
      .array(driftItemSchema)
      .nullable()
      .describe('Fields where the cluster differs from what tandem applied (empty: none); null when there is no cluster to compare with'),
  })
  .meta({ id: 'TenantDetail' });
export type TenantDetail = z.infer<typeof tenantDetailSchema>;

export const tenantListSchema = z.object({ items: z.array(tenantSchema), next: nextLinkSchema }).meta({ id: 'TenantList' });
export const tenantListQuerySchema = z.object({ ...pageQuery(50, 200) }).strict();
