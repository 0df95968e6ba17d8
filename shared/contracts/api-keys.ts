/** API keys as the admin sees them. The plaintext key appears once, in the create response. */
import { z } from 'zod';
import { departmentScopeSchema, roleSchema } from './roles.ts';

export const apiKeySchema = z
  .object({
    id: z.string(),
    name: z.string(),
    role: roleSchema,
    department: departmentScopeSchema,
    createdAt: z.iso.datetime(),
    revokedAt: z.iso.datetime().nullable(),
  })
  .meta({ id: 'ApiKey' });
export type ApiKey = z.infer<typeof apiKeySchema>;

export const createApiKeyRequestSchema = z
  .strictObject({
    name: z.string().trim().min(1).max(100).describe('Who or what uses the key, e.g. `airflow-prod`'),
    role: roleSchema,
    // No default: a forgotten scope must not silently become access to every department.
    department: departmentScopeSchema,
  })
  .meta({ id: 'CreateApiKeyRequest' });
export type CreateApiKeyRequest = z.infer<typeof createApiKeyRequestSchema>;

export const createdApiKeySchema = apiKeySchema
  .extend({ key: z.string().describe('The plaintext key. Shown only in this response; store it now.') })
  .meta({ id: 'CreatedApiKey' });

export const apiKeyListSchema = z.object({ items: z.array(apiKeySchema) }).meta({ id: 'ApiKeyList' });

export const apiKeyIdParamsSchema = z.object({ id: z.string().min(1).max(100) });
