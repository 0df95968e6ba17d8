import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { newApiKey } from '../../../../../shared/credentials.ts';
import { hashApiKey } from '../../../../../shared/store/api-key-hash.ts';
import { appFixture, type AppFixture } from '../../../../../test/support/app-fixture.ts';
import { GENERATOR_VERSION } from '../../../../pipelines/dag-generator.ts';

const fixtures = path.resolve(import.meta.dirname, '../../../../pipelines/__fixtures__/pipelines');
const kbRefreshYaml = readFileSync(path.join(fixtures, 'kb-refresh.yaml'), 'utf8');

let f: AppFixture;
afterEach(() => f?.close());

const minimal = {
  apiVersion: 'tandem.dev/v1',
  id: 'nightly',
  department: 'cardiology',
  schedule: { cron: '0 2 * * *', timezone: 'Europe/Berlin' },
  sources: [{ id: 'notes', kind: 'file', path: '/srv/notes/*.md' }],
  stages: [{ id: 'load', kind: 'bash', command: 'echo {{ ds }}' }],
};

describe('POST /v1/pipelines/validate', () => {
  it('returns the generated DAG and findings for a YAML spec, deploying nothing', async () => {
    f = await appFixture();
    const res = await f.app.inject({
      method: 'POST',
      url: '/v1/pipelines/validate',
      headers: { ...f.headers('data-engineer'), 'content-type': 'application/yaml' },
      payload: kbRefreshYaml,
    });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body).toMatchObject({
      valid: true,
      pipelineId: 'kb-refresh',
      dagId: 'tandem__kb-refresh',
      fileName: 'tandem__kb-refresh.py',
      schedule: 'At 01:30 (Europe/Berlin)',
      generatorVersion: GENERATOR_VERSION,
    });
    expect(body.python).toContain(`# tandem-spec-sha256: ${body.specHash}`);
    expect(body.python).toContain('dag_id="tandem__kb-refresh"');
    expect(body.findings).toEqual([]);
  });

  it('accepts the spec as a JSON object and reports lint errors as valid: false', async () => {
    f = await appFixture({ env: { TANDEM_PIPELINES_OFF_PEAK_START: '02:30', TANDEM_PIPELINES_OFF_PEAK_END: '04:00' } });
    const spec = {
      ...minimal,
      stages: [
        {
          id: 'embed',
          kind: 'k8s_job',
          image: 'embedder:1',
          command: ['embed'],
          resources: { cpu: { requests: 1, limits: 1 }, memory: { requests: '1Gi', limits: '1Gi' }, gpu: { requests: 1, limits: 2 } },
        },
      ],
    };
    const res = await f.app.inject({ method: 'POST', url: '/v1/pipelines/validate', headers: f.headers('admin'), payload: spec });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.valid).toBe(false);
    expect(body.findings.map((x: { path: string; rule: string }) => `${x.path} ${x.rule}`)).toEqual([
      'stages[0].resources.gpu gpu-requests-equal-limits',
      // The configured window (02:30–04:00) reached the lint: 02:00 is outside it.
      'schedule.cron gpu-off-peak',
    ]);
    expect(body.findings[1].message).toContain('02:30–04:00 Europe/Berlin');
  });

  it('answers an invalid spec with 422 problem+json listing every issue with its path', async () => {
    f = await appFixture();
    const res = await f.app.inject({
      method: 'POST',
      url: '/v1/pipelines/validate',
      headers: f.headers('data-engineer'),
      payload: {
        ...minimal,
        schedule: { cron: '0 25 * * *', timezone: 'Mars/Olympus' },
        stages: [
          { id: 'a', kind: 'bash', command: 'true', dependsOn: ['b'] },
          { id: 'b', kind: 'bash', command: 'true', dependsOn: ['a', 'ghost'] },
        ],
      },
    });
    expect(res.statusCode).toBe(422);
    expect(res.headers['content-type']).toContain('application/problem+json');
    const problem = res.json();
    expect(problem.type).toBe('urn:tandem:problem:validation');
    expect(problem.errors).toEqual([
      { path: 'schedule.cron', message: expect.stringContaining('25') },
      { path: 'schedule.timezone', message: 'must be an IANA time zone such as Europe/Berlin or UTC' },
      { path: 'stages[1].dependsOn[1]', message: 'unknown stage ghost' },
      { path: 'stages[0].dependsOn', message: 'dependency cycle: a → b → a' },
    ]);
    expect(problem.detail).toContain('stages[1].dependsOn[1]: unknown stage ghost');
  });

  it('reports broken YAML as a 422 instead of a parser crash', async () => {
    f = await appFixture();
    const res = await f.app.inject({
      method: 'POST',
      url: '/v1/pipelines/validate',
      headers: { ...f.headers('data-engineer'), 'content-type': 'application/yaml' },
      payload: 'id: [unclosed',
    });
    expect(res.statusCode).toBe(422);
    expect(res.json().errors[0].message).toMatch(/not valid YAML or JSON/);
  });

  it('is for admins and data engineers, within their department', async () => {
    f = await appFixture();
    for (const role of ['ai-engineer', 'reviewer', 'service'] as const) {
      const res = await f.app.inject({ method: 'POST', url: '/v1/pipelines/validate', headers: f.headers(role), payload: minimal });
      expect(res.statusCode, role).toBe(403);
    }
    const oncologyKey = newApiKey('key');
    await f.store.createApiKey({ name: 'oncology', role: 'data-engineer', department: 'oncology', keyHash: hashApiKey(oncologyKey) });
    const res = await f.app.inject({
      method: 'POST',
      url: '/v1/pipelines/validate',
      headers: { authorization: `Bearer ${oncologyKey}` },
      payload: minimal,
    });
    expect(res.statusCode).toBe(403);
    expect(res.json().detail).toContain('cardiology');
  });
});
