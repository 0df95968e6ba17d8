/**
 * Every activity the worker registers, one module per family. Temporal addresses activities by
 * function name alone, so two families exporting the same name would silently shadow each other
 * on a plain object spread; `registerFamilies` refuses that at start-up instead.
 *
 * Workflows never import this file's values: they use `import type * as … from './<family>.ts'`
 * with `proxyActivities` and a preset from workflows/activity-options.ts.
 */
import * as smoke from './smoke.ts';
import os from 'node:os';
import path from 'node:path';
import { statePaths, type TandemConfig } from '../../../shared/config.ts';
import type { Store } from '../../../shared/store/store.ts';
import { createAuditActivities } from './audit.ts';
import { createNotifyActivities } from './notify.ts';
import { createReviewTaskActivities, inboxTaskSystem } from './review-tasks.ts';
import { createLlmActivities, llmDependencies } from './llm.ts';
import { createJobActivities } from './jobs.ts';
import { LocalProcessRunner } from '../jobs/local-process-runner.ts';
import type { JobRunner } from '../../../shared/contracts/job-runner.ts';
import { kubernetesJobRunnerFrom } from '../../kubernetes/runner-from-config.ts';
import { readCredentials } from '../../../shared/credentials.ts';
import { AirflowClient } from '../../airflow/client.ts';
import { createAirflowActivities } from './airflow.ts';
import { createPipelineActivities } from './pipelines.ts';
import { createEvaluationActivities, publishedIndexRetrievals } from './evaluation.ts';
import { createDeployActivities } from './deploy.ts';
import { createWebhookActivities, workerWebhookEmitter } from './webhooks.ts';
import { createTenantActivities } from './tenants.ts';
import { createHandoffActivities } from './handoffs.ts';
import { ApplicationFailure } from '@temporalio/common';
import { activityErrorTypes } from '../../../shared/contracts/activity-errors.ts';

type ActivityFunction = (...args: never[]) => Promise<unknown>;
type ActivityFamily = Record<string, ActivityFunction>;

type UnionToIntersection<U> = (U extends unknown ? (u: U) => void : never) extends (i: infer I) => void ? I : never;

export function registerFamilies<F extends Record<string, ActivityFamily>>(families: F): UnionToIntersection<F[keyof F]> {
  const all: ActivityFamily = {};
  const owner = new Map<string, string>();
  for (const [family, fns] of Object.entries(families)) {
    for (const [name, fn] of Object.entries(fns)) {
      const taken = owner.get(name);
      if (taken) throw new Error(`activity "${name}" is exported by both the ${taken} and the ${family} family; rename one`);
      owner.set(name, family);
      all[name] = fn;
    }
  }
  return all as UnionToIntersection<F[keyof F]>;
}

export const activities = registerFamilies({ smoke });
export type Activities = typeof activities;

/** What the families that reach outside the worker need; the worker opens these once. */
export interface ActivityDependencies {
  store: Store;
  /** Where jobs run; default: the one `jobRunnerOf(config)` picks. The worker passes its own to close it at shutdown. */
  jobRunner?: JobRunner;
  /**
   * Without `llm` (tests of other families) LLM calls fail as not configured; without `stateDir`
   * local jobs run under the OS temp dir.
   */
  config: Pick<TandemConfig, 'notify'> & Partial<Pick<TandemConfig, 'llm' | 'stateDir' | 'airflow' | 'jobs' | 'kubernetes' | 'pipelines'>>;
  /** The Airflow client every family shares; default: one built from `config` and the credentials file. */
  airflowClient?: AirflowClient;
}

/** TANDEM_JOBS_RUNNER: local processes (the default) or Kubernetes Jobs. */
export function jobRunnerOf(config: ActivityDependencies['config']): JobRunner {
  if (config.jobs?.runner === 'kubernetes') {
    if (!config.kubernetes) throw new Error('TANDEM_JOBS_RUNNER is kubernetes but the worker was started without config.kubernetes');
    return kubernetesJobRunnerFrom(config.kubernetes);
  }
  return new LocalProcessRunner({ rootDir: config.stateDir ? statePaths(config.stateDir).jobs : path.join(os.tmpdir(), 'tandem-jobs') });
}

/** Every activity the worker registers: the families above plus those built on its dependencies. */
export function createActivities({ store, config, jobRunner, airflowClient: given }: ActivityDependencies) {
  // One Airflow client (one login) for every family that calls Airflow.
  let airflowClient: AirflowClient | undefined = given;
  const airflow = () => (airflowClient ??= airflowClientOf(config));
  return registerFamilies({
    standalone: activities,
    // Audit entries of decisions, escalations and workflow ends become webhook events (webhooks.ts).
    audit: createAuditActivities(store.audit, workerWebhookEmitter(store.webhooks)),
    webhooks: createWebhookActivities({ store: store.webhooks }),
    'review-tasks': createReviewTaskActivities(inboxTaskSystem(store.reviews)),
    notify: createNotifyActivities({ webhookUrl: config.notify.webhookUrl }),
    llm: createLlmActivities(llmDependencies(store.llmTokenUsage, config.llm, store.tenants)),
    jobs: createJobActivities({ runner: jobRunner ?? jobRunnerOf(config) }),
    // Credentials are read on the first Airflow call, so a worker without Airflow still starts.
    airflow: createAirflowActivities({ client: airflow }),
    // What the pipeline.run flow reads about an applied pipeline (the API's store file).
    pipelines: createPipelineActivities({ pipelines: store.pipelines, client: airflow }),
    // Retrievals per index version: what the refresh DAG publishes under <stateDir>/kb-index (see evaluation.ts).
    evaluation: createEvaluationActivities({
      aliases: store.indexAliases,
      retrievals: publishedIndexRetrievals(path.join(config.stateDir ?? path.join(os.tmpdir(), 'tandem'), 'kb-index')),
    }),
    deploy: createDeployActivities(),
    // The department's GPU peak rule, for gpu.batch's wait for the off-peak window.
    // The push that resumes a parked hand-off's Airflow task when its workflow ends.
    handoffs: createHandoffActivities({ store, client: airflow }),
    tenants: createTenantActivities({ tenants: store.tenants, ...(config.pipelines ? { pipelines: config.pipelines } : {}) }),
  });
}

function airflowClientOf(config: ActivityDependencies['config']): AirflowClient {
  try {
    if (!config.airflow || !config.stateDir) throw new Error('the worker was started without config.airflow and config.stateDir');
    return AirflowClient.forStack({ airflow: config.airflow }, readCredentials(statePaths(config.stateDir).credentials));
  } catch (err) {
    // Non-retryable: a missing config never heals, so retrying would only delay the failure.
    throw ApplicationFailure.create({
      type: activityErrorTypes.airflow.notConfigured,
      message: `cannot reach Airflow: ${(err as Error).message}`,
      nonRetryable: true,
    });
  }
}
