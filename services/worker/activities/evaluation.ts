/**
 * The evaluation family: golden-query evaluation of an index (or model) version, and the alias
 * switches that promote or roll back a version. All idempotent: metrics are stored per
 * (alias, version), and a switch to the version an alias already has writes nothing.
 *
 * Where retrievals come from (for now): the refresh run writes, next to the index it built,
 * `<rootDir>/<alias>/<version>/retrievals.json` = `{ "<golden query id>": ["doc-id", …] }` — the
 * ids its retriever returns for each golden query, best first (`jsonFileRetrievals`). A live
 * retriever implements `RetrievalSource` instead.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import type { EvaluationReport, EvaluationThresholds, GoldenQuery } from '../../../shared/contracts/index-promotion.ts';
import type { IndexAliasStore } from '../../../shared/store/index-aliases.ts';
import { activityErrorTypes } from '../../../workflows/activity-options.ts';
import { computeMetrics, gateFailures, type Retrievals } from './evaluation-metrics.ts';

export interface RetrievalSource {
  retrieve(alias: string, version: string, queries: readonly GoldenQuery[]): Promise<Retrievals>;
}

/** Alias names contain `:`; keep them one safe path segment. */
const segment = (s: string) => s.replace(/[^A-Za-z0-9._-]/g, '_');

export function jsonFileRetrievals(rootDir: string): RetrievalSource {
  return {
    async retrieve(alias, version) {
      const file = path.join(rootDir, segment(alias), segment(version), 'retrievals.json');
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch (err) {
        throw ApplicationFailure.create({
          type: activityErrorTypes.evaluation.retrievalsMissing,
          message: `no retrievals for ${alias} version ${version}: ${file} (${(err as Error).message})`,
          nonRetryable: true,
        });
      }
      return JSON.parse(text) as Retrievals;
    },
  };
}

export interface EvaluateVersionInput {
  alias: string;
  version: string;
  goldenSet: GoldenQuery[];
  thresholds: EvaluationThresholds;
}

export interface AliasSwitchInput {
  alias: string;
  /** null removes the alias (rolling back a first promotion). */
  version: string | null;
  reason: string;
  actor: string;
}

export function createEvaluationActivities({ aliases, retrievals }: { aliases: IndexAliasStore; retrievals: RetrievalSource }) {
  return {
    /** Measures `version`, stores its metrics, and compares with the version the alias has now. */
    async evaluateIndexVersion(input: EvaluateVersionInput): Promise<EvaluationReport> {
      const retrieved = await retrievals.retrieve(input.alias, input.version, input.goldenSet);
      const metrics = computeMetrics(input.goldenSet, retrieved, input.thresholds.k);
      await aliases.recordMetrics(input.alias, input.version, metrics);
      const current = (await aliases.get(input.alias))?.version ?? null;
      const previousVersion = current === input.version ? null : current;
      const previousMetrics = previousVersion === null ? null : ((await aliases.metricsOf(input.alias, previousVersion)) ?? null);
      const failures = gateFailures(metrics, previousMetrics, input.thresholds);
      return { version: input.version, previousVersion, metrics, previousMetrics, passed: failures.length === 0, failures };
    },

    /** Points the alias at the version; returns the version it had before (null: none). */
    async promoteIndexVersion(input: AliasSwitchInput): Promise<{ previousVersion: string | null; version: string | null }> {
      const history = await aliases.history(input.alias);
      const current = (await aliases.get(input.alias))?.version ?? null;
      // A retried attempt finds its own switch already done: report the version before that one.
      const previousVersion = current === input.version ? (history.findLast((h) => h.version === input.version)?.previousVersion ?? null) : current;
      const after = await aliases.switchTo(input.alias, input.version, { reason: input.reason, actor: input.actor });
      return { previousVersion, version: after?.version ?? null };
    },

    /** Compensation: points the alias back at `version` (what promote returned as previous). */
    async rollbackAlias(input: AliasSwitchInput): Promise<{ version: string | null }> {
      const after = await aliases.switchTo(input.alias, input.version, { reason: input.reason, actor: input.actor });
      return { version: after?.version ?? null };
    },
  };
}

export type EvaluationActivities = ReturnType<typeof createEvaluationActivities>;
