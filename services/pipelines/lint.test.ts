import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../shared/config.ts';
import { parsePipelineSpec, type PipelineSpec } from '../../shared/contracts/pipeline-spec.ts';
import { cronTimesOfDay, insideWindow, lintOptionsFrom, lintPipeline } from './lint.ts';

function spec(overrides: Record<string, unknown> = {}): PipelineSpec {
  const result = parsePipelineSpec({
    apiVersion: 'tandem.dev/v1',
    id: 'kb-refresh',
    department: 'cardiology',
    schedule: { cron: '30 1 * * *', timezone: 'Europe/Berlin' },
    sources: [{ id: 'notes', kind: 'file', path: '/srv/*.md' }],
    stages: [
      {
        id: 'embed',
        kind: 'k8s_job',
        image: 'embedder:1',
        command: ['embed'],
        resources: { cpu: { requests: 2, limits: 2 }, memory: { requests: '8Gi', limits: '8Gi' }, gpu: { requests: 1, limits: 1 } },
      },
    ],
    ...overrides,
  });
  if (!result.ok) throw new Error(JSON.stringify(result.issues));
  return result.spec;
}

const gpuJob = (resources: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  id: 'embed',
  kind: 'k8s_job',
  image: 'embedder:1',
  command: ['embed'],
  resources: { cpu: { requests: 2, limits: 2 }, memory: { requests: '8Gi', limits: '8Gi' }, ...resources },
  ...extra,
});

const summary = (findings: ReturnType<typeof lintPipeline>) => findings.map((f) => `${f.severity} ${f.rule} ${f.path}`);

describe('lintPipeline', () => {
  it('warns when a hand-off that waits on people is made to hold a trigger (wait: triggerer), not for auto or parked', () => {
    const handoff = (workflow: string, wait?: string) => ({ id: 'review', kind: 'handoff', workflow, ...(wait ? { wait } : {}) });
    const stages = [handoff('review.request', 'triggerer'), { ...handoff('review.request'), id: 'auto' }, { ...handoff('llm.complete', 'triggerer'), id: 'llm' }];
    const findings = lintPipeline(spec({ schedule: undefined, stages }));
    expect(summary(findings)).toEqual(['warning handoff-wait stages[0].wait']);
    expect(findings[0]!.message).toMatch(/review.request waits on people.*use wait: auto \(parked\)/);
  });

  it('passes a clean GPU pipeline scheduled off-peak', () => {
    expect(lintPipeline(spec())).toEqual([]);
  });

  it('requires GPU requests to equal limits', () => {
    const findings = lintPipeline(spec({ stages: [gpuJob({ gpu: { requests: 1, limits: 2 } })] }));
    expect(findings).toEqual([
      {
        severity: 'error',
        rule: 'gpu-requests-equal-limits',
        path: 'stages[0].resources.gpu',
        message: 'limits must equal requests (requests 1, limits 2)',
      },
    ]);
  });

  it('keeps GPU pipelines inside the off-peak window, per department, in the schedule time zone', () => {
    const gpu = { gpu: { requests: 1, limits: 1 } };
    expect(summary(lintPipeline(spec({ schedule: { cron: '0 6 * * *', timezone: 'UTC' }, stages: [gpuJob(gpu)] })))).toEqual([
      'error gpu-off-peak schedule.cron',
    ]);
    // Every firing counts: 04:45 is inside 01:00–05:00, 05:00 is not (the end is exclusive).
    const edge = lintPipeline(spec({ schedule: { cron: '45 4,5 * * *', timezone: 'UTC' }, stages: [gpuJob(gpu)] }));
    expect(edge[0]!.message).toContain('also starts at 05:45');
    expect(edge[0]!.message).not.toContain('04:45');
    // A department's own window, here wrapping midnight.
    const night = { offPeakWindows: { cardiology: { start: '22:00', end: '02:00' } } };
    expect(lintPipeline(spec({ schedule: { cron: '30 23 * * *', timezone: 'UTC' } }), night)).toEqual([]);
    expect(summary(lintPipeline(spec(), night))).toEqual([]); // 01:30 is before 02:00
    expect(summary(lintPipeline(spec({ schedule: { cron: '0 3 * * *', timezone: 'UTC' } }), night))).toEqual(['error gpu-off-peak schedule.cron']);
    // CPU-only pipelines may run whenever.
    expect(lintPipeline(spec({ schedule: { cron: '0 12 * * *', timezone: 'UTC' }, stages: [gpuJob({ gpu: { requests: 0, limits: 0 } })] }))).toEqual([]);
  });

  it('reads a tenant’s window in its own time zone, all year round', () => {
    // Paris 22:00–06:00 is 21:00–05:00 UTC in winter and 20:00–04:00 UTC in summer.
    const paris = { offPeakWindows: { cardiology: { start: '22:00', end: '06:00', timezone: 'Europe/Paris' } } };
    expect(lintPipeline(spec({ schedule: { cron: '30 3 * * *', timezone: 'UTC' } }), paris)).toEqual([]);
    // 04:30 UTC is 05:30 in Paris in winter (inside) but 06:30 in summer (outside).
    const summer = lintPipeline(spec({ schedule: { cron: '30 4 * * *', timezone: 'UTC' } }), paris);
    expect(summary(summer)).toEqual(['error gpu-off-peak schedule.cron']);
    expect(summer[0]!.message).toContain('22:00–06:00 Europe/Paris');
    expect(summer[0]!.message).toContain('also starts at 04:30 UTC');
    // Same zone as the schedule: no conversion.
    expect(lintPipeline(spec({ schedule: { cron: '30 5 * * *', timezone: 'Europe/Paris' } }), paris)).toEqual([]);
  });

  it('allows spot only for fault-tolerant stages', () => {
    const findings = lintPipeline(spec({ stages: [gpuJob({ gpu: { requests: 1, limits: 1 }, spot: true })] }));
    expect(summary(findings)).toEqual(['error spot-needs-fault-tolerant stages[0].resources.spot']);
    expect(lintPipeline(spec({ stages: [gpuJob({ gpu: { requests: 1, limits: 1 }, spot: true, faultTolerant: true })] }))).toEqual([]);
  });

  it('makes a knowledge-base refresh end with evaluation stages only', () => {
    const stages = [gpuJob({ gpu: { requests: 1, limits: 1 } }), { id: 'report', kind: 'bash', command: 'true', dependsOn: ['embed'] }];
    expect(summary(lintPipeline(spec({ refreshesKnowledgeBase: true, stages })))).toEqual([
      'error knowledge-base-ends-with-evaluation stages[1]',
    ]);
    const gated = [...stages, { id: 'golden', kind: 'evaluation', suite: 'kb', dependsOn: ['report'] }];
    expect(lintPipeline(spec({ refreshesKnowledgeBase: true, stages: gated }))).toEqual([]);
    // Two branches: both must end in an evaluation.
    const forked = [...gated, { id: 'side', kind: 'bash', command: 'true', dependsOn: ['embed'] }];
    expect(summary(lintPipeline(spec({ refreshesKnowledgeBase: true, stages: forked })))).toEqual([
      'error knowledge-base-ends-with-evaluation stages[3]',
    ]);
  });

  it('requires a k8s_job’s cpu and memory requests to equal limits, by value', () => {
    const findings = lintPipeline(spec({ stages: [gpuJob({ gpu: { requests: 1, limits: 1 }, cpu: { requests: '500m', limits: 1 }, memory: { requests: '8Gi', limits: '8192Mi' } })] }));
    expect(findings).toEqual([
      { severity: 'error', rule: 'k8s-job-requests-equal-limits', path: 'stages[0].resources.cpu', message: 'limits must equal requests (requests 500m, limits 1)' },
    ]);
    expect(lintPipeline(spec({ stages: [gpuJob({ gpu: { requests: 1, limits: 1 }, cpu: { requests: '1000m', limits: 1 } })] }))).toEqual([]);
  });

  it('refuses an image that is not an image reference, and accepts registries, ports and digests', () => {
    for (const image of ['Embedder:1', 'embedder:', 'registry.example.com/team/embedder:1 --privileged', 'https://registry/embedder', 'a//b']) {
      expect(summary(lintPipeline(spec({ stages: [gpuJob({ gpu: { requests: 1, limits: 1 } }, { image })] })))).toEqual(['error k8s-job-image stages[0].image']);
    }
    for (const image of ['embedder', 'registry.example.com:5000/team/embed_er:1.4-rc.1', 'localhost/embedder@sha256:' + 'a'.repeat(64), 'ghcr.io/org/x:latest@sha256:' + 'b'.repeat(64)]) {
      expect(lintPipeline(spec({ stages: [gpuJob({ gpu: { requests: 1, limits: 1 } }, { image })] }))).toEqual([]);
    }
  });

  it('refuses a department whose namespace would not be a DNS label', () => {
    const long = `d${'x'.repeat(60)}`;
    const findings = lintPipeline(spec({ department: long }));
    expect(findings).toEqual([
      { severity: 'error', rule: 'k8s-job-namespace', path: 'department', message: `the k8s_job stages would run in namespace "tandem-${long}", which must be at most 63 characters (a DNS label)` },
    ]);
    expect(lintPipeline(spec({ department: long }), { namespaceFor: (d) => d })).toEqual([]);
    // Only pipelines with k8s_job stages run in a namespace.
    expect(summary(lintPipeline(spec({ department: long, stages: [{ id: 'b', kind: 'bash', command: 'true' }] })))).toEqual([]);
  });

  it('warns about jobs without cpu/memory and pipelines without sources', () => {
    const findings = lintPipeline(spec({ sources: [], stages: [{ id: 'job', kind: 'k8s_job', image: 'i', command: ['c'], resources: { cpu: { requests: 1, limits: 1 } } }] }));
    expect(summary(findings)).toEqual(['warning k8s-job-cpu-memory stages[0].resources', 'warning no-sources sources']);
    expect(findings[0]!.message).toMatch(/^no memory requests\/limits/);
  });
});

describe('off-peak helpers and configuration', () => {
  it('expands cron times of day and tests windows', () => {
    expect(cronTimesOfDay('*/30 1-2 * * 1-5')).toEqual([60, 90, 120, 150]);
    expect(insideWindow(60, { start: '01:00', end: '05:00' })).toBe(true);
    expect(insideWindow(300, { start: '01:00', end: '05:00' })).toBe(false);
    expect(insideWindow(23 * 60, { start: '22:00', end: '02:00' })).toBe(true);
  });

  it('reads the default window from TANDEM_PIPELINES_OFF_PEAK_* and per department from config', () => {
    const config = loadConfig({ cwd: '/nonexistent', env: { TANDEM_STATE_DIR: '/nonexistent/state', TANDEM_PIPELINES_OFF_PEAK_START: '00:30' } });
    const options = lintOptionsFrom(config);
    expect(options).toMatchObject({ offPeak: { start: '00:30', end: '05:00' }, offPeakWindows: {} });
    expect(options.namespaceFor!('radiology')).toBe('tandem-radiology');
    const prefixed = loadConfig({ cwd: '/nonexistent', env: { TANDEM_STATE_DIR: '/nonexistent/state', TANDEM_KUBERNETES_NAMESPACE_PREFIX: 'gpu-' } });
    expect(lintOptionsFrom(prefixed).namespaceFor!('radiology')).toBe('gpu-radiology');
    expect(() => loadConfig({ cwd: '/nonexistent', env: { TANDEM_STATE_DIR: '/nonexistent/state', TANDEM_PIPELINES_OFF_PEAK_END: '25:00' } })).toThrow(
      /pipelines\.offPeak\.end \(TANDEM_PIPELINES_OFF_PEAK_END\): must be a time HH:MM/,
    );
  });
});
