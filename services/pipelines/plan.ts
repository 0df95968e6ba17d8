/**
 * Spec text or object → parsed spec, lint findings and the generated DAG: the one path both a dry
 * run (`POST /v1/pipelines/validate`) and a deploy take, so they can never disagree.
 */
import {
  describeSchedule,
  parsePipelineSpec,
  type PipelineSpec,
  type PipelineValidation,
  type SpecIssue,
} from '../../shared/contracts/pipeline-spec.ts';
import { GENERATOR_VERSION, generateDag, type GeneratedDag } from './dag-generator.ts';
import { lintPipeline, type Finding, type LintOptions } from './lint.ts';

export interface PipelinePlan {
  spec: PipelineSpec;
  findings: Finding[];
  /** No lint errors (warnings allowed). */
  deployable: boolean;
  dag: GeneratedDag;
}

export type PlanResult = { ok: true; plan: PipelinePlan } | { ok: false; issues: SpecIssue[] };

export function planPipeline(input: unknown, lintOptions: LintOptions = {}): PlanResult {
  const parsed = parsePipelineSpec(input);
  if (!parsed.ok) return parsed;
  const findings = lintPipeline(parsed.spec, lintOptions);
  return {
    ok: true,
    plan: {
      spec: parsed.spec,
      findings,
      deployable: !findings.some((f) => f.severity === 'error'),
      dag: generateDag(parsed.spec),
    },
  };
}

export function validationReport(plan: PipelinePlan): PipelineValidation {
  return {
    valid: plan.deployable,
    findings: plan.findings,
    pipelineId: plan.spec.id,
    dagId: plan.dag.dagId,
    fileName: plan.dag.fileName,
    specHash: plan.dag.specHash,
    generatorVersion: GENERATOR_VERSION,
    schedule: describeSchedule(plan.spec),
    python: plan.dag.source,
  };
}
