/** The authenticated caller of a request, derived from its API key and never from the body. */
import { z } from 'zod';
import { departmentScopeSchema, roleSchema } from './roles.ts';

export const principalSchema = z
  .object({
    keyId: z.string(),
    name: z.string(),
    role: roleSchema,
    department: departmentScopeSchema,
  })
  .meta({ id: 'Principal' });
export type Principal = z.infer<typeof principalSchema>;
