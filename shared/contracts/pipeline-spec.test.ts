import { describe, expect, it } from 'vitest';
import { describeSchedule, parsePipelineSpec, specPath } from './pipeline-spec.ts';

const valid = {
  apiVersion: 'tandem.dev/v1',
  id: 'kb-refresh',
  department: 'cardiology',
  schedule: { cron: '30 1 * * *', timezone: 'Europe/Berlin' },
  partitions: { keys: ['ward-a', 'ward-b'], date: { start: '2026-01-01' } },
  sources: [{ id: 'notes', kind: 'file', path: '/srv/{partition}/*.md' }],
  stages: [
    { id: 'chunk', kind: 'python', callable: 'kb.chunk:run' },
    {
      id: 'embed',
      kind: 'k8s_job',
      image: 'embedder:1',
      command: ['embed'],
      dependsOn: ['chunk'],
      resources: { gpu: { requests: 1, limits: 1 }, spot: true, faultTolerant: true },
    },
    { id: 'golden', kind: 'evaluation', suite: 'kb-golden', dependsOn: ['embed'] },
  ],
};

const issuesOf = (input: unknown) => {
  const result = parsePipelineSpec(input);
  if (result.ok) throw new Error('expected the spec to be rejected');
  return result.issues;
};

describe('parsePipelineSpec', () => {
  it('accepts a full spec and fills defaults', () => {
    const result = parsePipelineSpec(valid);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.spec.description).toBe('');
    expect(result.spec.refreshesKnowledgeBase).toBe(false);
    expect(result.spec.stages[0]).toMatchObject({ dependsOn: [], retries: 0, retryDelaySeconds: 60, kwargs: {} });
    expect(result.spec.stages[1]).toMatchObject({ resources: { spot: true, faultTolerant: true }, env: {} });
  });

  it('reads YAML and JSON text alike', () => {
    const yaml = `
apiVersion: tandem.dev/v1
id: kb-refresh
department: cardiology
stages:
  - {id: load, kind: bash, command: "echo '{{ ds }}'"}
`;
    const fromYaml = parsePipelineSpec(yaml);
    const fromJson = parsePipelineSpec(JSON.stringify({ apiVersion: 'tandem.dev/v1', id: 'kb-refresh', department: 'cardiology', stages: [{ id: 'load', kind: 'bash', command: "echo '{{ ds }}'" }] }));
    expect(fromYaml).toEqual(fromJson);
    expect(fromYaml.ok && fromYaml.spec.stages[0]).toMatchObject({ command: "echo '{{ ds }}'" });
  });

  it('reports every issue at once, each with a bracket path', () => {
    const issues = issuesOf({
      ...valid,
      apiVersion: 'tandem.dev/v2',
      id: 'Not_DNS',
      extra: true,
      schedule: { cron: '0 2 * *', timezone: 'Europe/Atlantis' },
      partitions: { keys: ['a', 'a', 'has space'] },
      sources: [{ id: 'x', kind: 'ftp' }],
      stages: [
        { id: 'a', kind: 'python', callable: 'not a callable' },
        { id: 'b', kind: 'k8s_job', image: 'i', command: ['c'], resources: { gpu: { requests: 1.5, limits: 1 } } },
        { id: 'c', kind: 'bash', command: 'x', env: { 'BAD-NAME': 'v' } },
      ],
    });
    expect(issues.map((i) => i.path)).toEqual([
      'apiVersion',
      'id',
      'schedule.cron',
      'schedule.timezone',
      'partitions.keys[2]',
      'sources[0].kind',
      'stages[0].callable',
      'stages[1].resources.gpu.requests',
      'stages[2].env["BAD-NAME"]',
      '',
    ]);
    expect(issues.at(-1)!.message).toBe('unknown field(s) extra');
  });

  it('rejects unknown dependencies, self-dependencies, cycles, duplicate and reserved ids', () => {
    const issues = issuesOf({
      ...valid,
      partitions: { keys: ['a', 'a'] },
      stages: [
        { id: 'a', kind: 'bash', command: 'x', dependsOn: ['c'] },
        { id: 'b', kind: 'bash', command: 'x', dependsOn: ['b', 'nope'] },
        { id: 'c', kind: 'bash', command: 'x', dependsOn: ['a'] },
        { id: 'c', kind: 'bash', command: 'x' },
        { id: 'check_sources', kind: 'bash', command: 'x' },
      ],
    });
    expect(issues).toEqual([
      { path: 'stages[3].id', message: 'duplicate id c' },
      { path: 'partitions.keys[1]', message: 'duplicate key a' },
      { path: 'stages[1].dependsOn[0]', message: 'a stage cannot depend on itself' },
      { path: 'stages[1].dependsOn[1]', message: 'unknown stage nope' },
      { path: 'stages[4].id', message: "check_sources is reserved for tandem's own tasks" },
      { path: 'stages[0].dependsOn', message: 'dependency cycle: a → c → a' },
    ]);
  });

  it('spells time zones canonically', () => {
    const result = parsePipelineSpec({ ...valid, schedule: { cron: '0 2 * * *', timezone: 'europe/berlin' } });
    expect(result.ok && result.spec.schedule).toEqual({ cron: '0 2 * * *', timezone: 'Europe/Berlin' });
    const utc = parsePipelineSpec({ ...valid, schedule: { cron: '0 2 * * *' } });
    expect(utc.ok && utc.spec.schedule?.timezone).toBe('UTC');
  });

  it('validates the cron fields, not just their count', () => {
    expect(issuesOf({ ...valid, schedule: { cron: '61 1 * * *' } })).toEqual([
      { path: 'schedule.cron', message: expect.stringContaining('61') },
    ]);
    expect(issuesOf({ ...valid, partitions: {} })).toEqual([{ path: 'partitions', message: 'must partition by date, by keys, or both' }]);
  });

  it('rejects broken YAML, duplicate keys and unpaired surrogates with a clear message', () => {
    expect(issuesOf('stages: [')[0]!.message).toMatch(/^not valid YAML or JSON/);
    expect(issuesOf('id: a\nid: b\n')[0]!.message).toMatch(/not valid YAML or JSON.*unique/is);
    expect(issuesOf({ ...valid, description: 'bad \ud800' })).toEqual([{ path: 'description', message: 'contains an unpaired UTF-16 surrogate' }]);
  });
});

describe('specPath and describeSchedule', () => {
  it('formats paths in bracket form', () => {
    expect(specPath(['stages', 2, 'resources', 'gpu'])).toBe('stages[2].resources.gpu');
    expect(specPath(['stages', 0, 'env', 'a.b'])).toBe('stages[0].env["a.b"]');
    expect(specPath([])).toBe('');
  });

  it('puts the schedule in words with its time zone', () => {
    expect(describeSchedule({ schedule: { cron: '30 1 * * 1-5', timezone: 'Europe/Berlin' } })).toBe(
      'At 01:30, Monday through Friday (Europe/Berlin)',
    );
    expect(describeSchedule({})).toBeNull();
  });
});
