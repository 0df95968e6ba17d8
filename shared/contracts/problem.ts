/** RFC 9457 problem details: the body of every error response of the control API. */
import { z } from 'zod';

export const problemContentType = 'application/problem+json';

export const fieldIssueSchema = z.object({
  path: z.string().describe('Where the problem is, e.g. `body.stages.2.gpu`'),
  message: z.string(),
});

export const problemDetailsSchema = z
  .looseObject({
    type: z.string().describe('URI identifying the problem kind; `about:blank` when the HTTP status says it all'),
    title: z.string(),
    status: z.number().int(),
    detail: z.string().optional(),
    instance: z.string().optional(),
    requestId: z.string().optional().describe('Quote this when reporting a problem; it is in the server log'),
    errors: z.array(fieldIssueSchema).optional().describe('Every validation issue, not only the first'),
  })
  .meta({ id: 'Problem' });
export type ProblemDetails = z.infer<typeof problemDetailsSchema>;

/** An OpenAPI response entry whose body is a problem, for a route's `schema.response`. */
export function problemResponse(description: string, headers?: Record<string, unknown>) {
  return { description, content: { [problemContentType]: { schema: problemDetailsSchema } }, ...(headers ? { headers } : {}) };
}
