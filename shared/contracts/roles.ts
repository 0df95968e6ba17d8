/** Who may do what: the roles an API key carries, and the department (tenant) it is scoped to. */
import { z } from 'zod';

export const roles = ['admin', 'data-engineer', 'ai-engineer', 'reviewer', 'service'] as const;
export const roleSchema = z.enum(roles).meta({ id: 'Role' });
export type Role = z.infer<typeof roleSchema>;

/** A department id is also used in Kubernetes namespace names, hence DNS-label rules. */
export const departmentIdSchema = z
  .string()
  .regex(/^[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?$/, 'must be a lowercase DNS label (a-z, 0-9, -), at most 63 characters');

/** `*` means every department; reserved for admin and cross-tenant service keys. */
export const allDepartments = '*';
export const departmentScopeSchema = z.union([z.literal(allDepartments), departmentIdSchema]);
export type DepartmentScope = z.infer<typeof departmentScopeSchema>;

/**
 * Whether a key scoped to `scope` may see and act on `department`'s resources: its own
 * department, or every department for `*`. The one department check: routes, services and
 * activities all ask this.
 */
export function scopeIncludes(scope: string, department: string): boolean {
  return scope === allDepartments || scope === department;
}

/** The store filter that lists what a key scoped to `scope` may see: everything for `*`. */
export function departmentFilterOf(scope: string): { department?: string } {
  return scope === allDepartments ? {} : { department: scope };
}
