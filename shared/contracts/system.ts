/** Liveness, readiness and version: what operators and probes ask the API about itself. */
import { z } from 'zod';

export const versionSchema = z
  .object({
    name: z.literal('tandem'),
    version: z.string(),
    node: z.string().describe('Node.js version the API runs on'),
  })
  .meta({ id: 'Version' });
export type Version = z.infer<typeof versionSchema>;

export const livenessSchema = z.object({ status: z.literal('ok') }).meta({ id: 'Liveness' });

export const dependencyCheckSchema = z.object({
  ok: z.boolean(),
  latencyMs: z.number().nonnegative(),
  error: z.string().optional().describe('Why the dependency is not ready'),
});
export type DependencyCheck = z.infer<typeof dependencyCheckSchema>;

export const readinessSchema = z
  .object({
    status: z.enum(['ready', 'not_ready']),
    checks: z.object({
      store: dependencyCheckSchema,
      temporal: dependencyCheckSchema,
      airflow: dependencyCheckSchema,
    }),
  })
  .meta({ id: 'Readiness' });
export type Readiness = z.infer<typeof readinessSchema>;
