// The stack's plan with the store on PostgreSQL: the launcher migrates it before any process
// starts, and every tandem process gets the same database URL.
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../shared/config.ts';
import { generateCredentials } from '../../shared/credentials.ts';
import { stackPlan } from './stack.ts';

const configWith = (env: Record<string, string>) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tandem-plan-'));
  return loadConfig({ env: { TANDEM_STATE_DIR: dir, ...env }, cwd: dir });
};

describe('stackPlan', () => {
  it('with a database URL: migrates the store before the processes start, and hands every tandem process the URL', () => {
    const url = 'postgres://tandem:pw@127.0.0.1:5433/tandem';
    const plan = stackPlan(configWith({ TANDEM_DATABASE_URL: url }), generateCredentials());
    expect(plan.prepare.map((step) => step.name)).toContain('migrating the tandem store on PostgreSQL');
    const tandem = plan.waves.flat().filter((spec) => spec.name === 'api' || spec.name === 'worker');
    expect(tandem.map((spec) => [spec.name, spec.env?.TANDEM_DATABASE_URL])).toEqual([
      ['worker', url],
      ['api', url],
    ]);
  });

  it('without one: no migrate step (the SQLite file migrates itself) and no database URL', () => {
    const plan = stackPlan(configWith({}), generateCredentials());
    expect(plan.prepare.map((step) => step.name).filter((name) => name.includes('tandem store'))).toEqual([]);
    expect(plan.waves.flat().some((spec) => spec.env?.TANDEM_DATABASE_URL !== undefined)).toBe(false);
  });
});
