/** API keys as the admin sees them. The plaintext key appears once, in the create response. */
import { z } from 'zod';
import { nextLinkSchema, pageQuery } from './pagination.ts';
import { departmentScopeSchema, roleSchema } from './roles.ts';

export const apiKeySchema = z
  .object({
    id: z.string(),
    name: z.string(),
    role: roleSchema,
    department: departmentScopeSchema,
    createdAt: z.iso.datetime(),
    revokedAt: z.iso.datetime().nullable(),
    expiresAt: z.iso.datetime().nullable().describe('From then on the key is refused; null: never'),
    lastUsedAt: z.iso.datetime().nullable().describe('When the key last authenticated a request (to the minute)'),
    rotatedTo: z.string().nullable().describe('The key that replaced this one by rotation'),
  })
  .meta({ id: 'ApiKey' });
export type ApiKey = z.infer<typeof apiKeySchema>;

/**
 * A lifetime rather than an instant: always in the future, whatever the caller's clock says, and a
 * rule the document can state (up to five years).
 */
const expiresInSecondsSchema = z.number().int().min(1).max(5 * 365 * 86_400);

export const createApiKeyRequestSchema = z
  .strictObject({
    name: z.string().trim().min(1).max(100).describe('Who or what uses the key, e.g. `airflow-prod`'),
    role: roleSchema,
    // No default: a forgotten scope must not silently become access to every department.
    department: departmentScopeSchema,
    expiresInSeconds: expiresInSecondsSchema.optional().describe('How long the key works, from now (it is refused after). Omit for a key that does not expire.'),
  })
  .meta({ id: 'CreateApiKeyRequest' });
export type CreateApiKeyRequest = z.infer<typeof createApiKeyRequestSchema>;

export const createdApiKeySchema = apiKeySchema
  .extend({ key: z.string().describe('The plaintext key. Shown only in this response; store it now.') })
  .meta({ id: 'CreatedApiKey' });

export const apiKeyListSchema = z.object({ items: z.array(apiKeySchema), next: nextLinkSchema }).meta({ id: 'ApiKeyList' });
export const apiKeyListQuerySchema = z.object({ ...pageQuery(100, 1000) }).strict();

export const apiKeyIdParamsSchema = z.object({ id: z.string().min(1).max(100) });

/** Rotation: a new key with the same name, role and department; the old one works for the overlap, then expires. */
export const rotateApiKeyRequestSchema = z
  .strictObject({
    overlapHours: z.number().min(0).max(720).default(24).describe('How long the old key keeps working (0: it stops at once)'),
    expiresInSeconds: expiresInSecondsSchema.optional().describe('How long the new key works, from now; omit for a key that does not expire'),
  })
  .meta({ id: 'RotateApiKeyRequest' });

export const rotatedApiKeySchema = z
  .object({
    key: createdApiKeySchema,
    replaced: apiKeySchema.describe('The old key, now expiring at the end of the overlap'),
  })
  .meta({ id: 'RotatedApiKey' });
