/**
 * The pipelines family: what the `pipeline.run` flow needs to know about an applied pipeline,
 * around the airflow family's trigger/poll/fail (./airflow.ts).
 *
 * - `resolvePipelineRun` reads the pipeline from the store (the API's store file) and applies
 *   the API's rules, so a flow can run exactly what `POST /v1/pipelines/{id}/runs` could: the
 *   starter's key must cover the requested department (`scopeIncludes`, as in the pipelines
 *   routes), the pipeline must belong to that department (another department's pipeline reads as
 *   missing, as in the routes), partitions must be spec keys. Each refusal is non-retryable —
 *   re-reading the same row gives the same answer.
 * - `describePipelineRun` reads the finished run back from Airflow: per-partition outcome (ran,
 *   or skipped as unchanged), start and end.
 */
import { ApplicationFailure } from '@temporalio/common';
import type { PipelineSpec } from '../../../shared/contracts/pipeline-spec.ts';
import type { PipelineRunFlowResult } from '../../../shared/contracts/pipeline-run-flow.ts';
import { allDepartments, scopeIncludes } from '../../../shared/contracts/roles.ts';
import type { PipelineRecord, PipelineRegistry } from '../../../shared/store/pipelines.ts';
import { allTaskInstances, type AirflowClient } from '../../airflow/client.ts';
import { partitionsOfRun, pipelineRunConf, unknownPartitionIssues } from '../../pipelines/runs.ts';
import { rejectedOrRethrow } from './airflow.ts';
import { activityErrorTypes } from '../../../shared/contracts/activity-errors.ts';

export interface ResolvePipelineRunInput {
  pipelineId: string;
  department: string;
  /** The starter's department scope (from the memo the API wrote from its key); `null` when started without the API. */
  scope: string | null;
  partitions?: string[] | undefined;
  force: boolean;
}

export interface ResolvedPipelineRun {
  dagId: string;
  /** The run conf the generated DAG reads as params, built as the runs route builds it. */
  conf: { partitions: string[] | null; force: boolean };
}

export interface DescribePipelineRunInput {
  pipelineId: string;
  dagId: string;
  runId: string;
  /** The requested partition keys; null = all. */
  partitions: string[] | null;
}

export type PipelineRunDescription = Pick<PipelineRunFlowResult, 'partitions' | 'startedAt' | 'finishedAt'>;

export interface PipelineActivityOptions {
  pipelines: PipelineRegistry;
  /** Called on first use (see ./airflow.ts). */
  client: () => AirflowClient;
}

function refuse(type: string, message: string): never {
  throw ApplicationFailure.create({ type, message, nonRetryable: true });
}

export function createPipelineActivities(options: PipelineActivityOptions) {
  let client: AirflowClient | undefined;
  const airflow = () => (client ??= options.client());

  /** The pipeline as the starter may see it; refuses with a clear, non-retryable failure otherwise. */
  async function visiblePipeline(input: ResolvePipelineRunInput): Promise<PipelineRecord> {
    const { pipelineId, department, scope } = input;
    if (scope === null) {
      refuse(activityErrorTypes.pipeline.outOfScope, `pipeline.run needs the starter's department in its memo (start it through POST /v1/workflows)`);
    }
    if (!scopeIncludes(scope, department)) {
      refuse(
        activityErrorTypes.pipeline.outOfScope,
        `this flow was started with a key scoped to department ${scope}; it cannot run pipelines of department ${department}`,
      );
    }
    const record = await options.pipelines.get(pipelineId);
    if (!record || record.status === 'deleted' || record.department !== department) {
      // Like the routes: another department's pipeline is "not found" — unless the key sees every department anyway.
      const where = record && record.status !== 'deleted' && scope === allDepartments ? ` (it belongs to department ${record.department})` : '';
      refuse(activityErrorTypes.pipeline.notFound, `department ${department} has no pipeline ${pipelineId}${where}`);
    }
    if (record.status === 'failed') {
      refuse(activityErrorTypes.pipeline.notDeployed, `pipeline ${pipelineId} was never deployed: ${record.lastError ?? 'unknown error'}`);
    }
    return record;
  }

  return {
    async resolvePipelineRun(input: ResolvePipelineRunInput): Promise<ResolvedPipelineRun> {
      const record = await visiblePipeline(input);
      // Stored only after parsePipelineSpec accepted it.
      const spec = record.spec as PipelineSpec;
      const issues = unknownPartitionIssues(spec, input.partitions, 'input.partitions');
      if (issues.length) {
        refuse(activityErrorTypes.pipeline.unknownPartition, `pipeline ${record.id}: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`);
      }
      return { dagId: record.dagId, conf: pipelineRunConf(input) };
    },

    async describePipelineRun(input: DescribePipelineRunInput): Promise<PipelineRunDescription> {
      const record = await options.pipelines.get(input.pipelineId);
      const run = await airflow().getDagRun(input.dagId, input.runId).catch(rejectedOrRethrow);
      const task_instances = await allTaskInstances(airflow(), input.dagId, input.runId).catch(rejectedOrRethrow);
      const all = record ? partitionsOfRun(run, record.spec as PipelineSpec, task_instances) : [];
      // A key+date pipeline labels partitions `key:day`; a run for chosen keys skipped the others.
      const chosen = input.partitions;
      const covered = chosen ? all.filter((p) => chosen.includes(p.partition.split(':')[0]!)) : all;
      return {
        partitions: covered.map(({ partition, state }) => ({ partition, state })),
        startedAt: run.start_date,
        finishedAt: run.end_date,
      };
    },
  };
}

export type PipelineActivities = ReturnType<typeof createPipelineActivities>;
