import { describe, expect, it } from 'vitest';
import * as workflows from '../../workflows/index.ts';
import { parseWorkflowInput, startWorkflowRequestSchema, workflowTypeNames, workflowTypes } from './workflow-types.ts';

describe('workflow type registry', () => {
  it('names only workflow functions the bundle exports', () => {
    for (const [type, def] of Object.entries(workflowTypes)) {
      expect(typeof (workflows as Record<string, unknown>)[def.workflowName], `${type} → ${def.workflowName}`).toBe('function');
    }
  });

  it('uses <family>.<name> public type names', () => {
    for (const name of workflowTypeNames) expect(name).toMatch(/^[a-z][a-z0-9-]*\.[a-z][a-z0-9-]*$/);
  });

  it('accepts a valid smoke.echo input and resolves the workflow function', () => {
    expect(parseWorkflowInput('smoke.echo', { message: 'hi' })).toEqual({
      ok: true,
      type: 'smoke.echo',
      workflowName: 'echoWorkflow',
      input: { message: 'hi' },
    });
  });

  it('reports input problems with paths into the request body', () => {
    const result = parseWorkflowInput('smoke.echo', { message: '', extra: 1 });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.issues.map((i) => i.path.join('.'))).toEqual(expect.arrayContaining(['input.message', 'input']));
  });

  it('rejects an unknown type, listing the known ones', () => {
    const result = parseWorkflowInput('nope.nothing', {});
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.issues[0]?.path).toEqual(['type']);
    expect(result.issues[0]?.message).toContain('smoke.echo');
  });

  it('does not treat Object.prototype keys as workflow types', () => {
    expect(parseWorkflowInput('constructor', {}).ok).toBe(false);
  });

  it('validates the request envelope', () => {
    expect(startWorkflowRequestSchema.safeParse({ type: 'smoke.echo', input: { message: 'x' } }).success).toBe(true);
    // `input` is required even for a workflow without parameters (send {}): a forgotten field is
    // more likely a client bug than an intent.
    expect(startWorkflowRequestSchema.safeParse({ type: 'smoke.echo' }).success).toBe(false);
    expect(startWorkflowRequestSchema.safeParse({ type: 'other', input: {} }).success).toBe(false);
  });
});
