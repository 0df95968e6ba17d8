/**
 * The evaluation family: golden-query evaluation of an index (or model) version, and the alias
 * switches that promote or roll back a version. All idempotent: metrics are stored per
 * (alias, version), and a switch to the version an alias already has writes nothing.
 *
 * Where retrievals come from: the refresh run publishes what it built under
 * `<rootDir>/<alias>/<version>/` (`rootDir` = `<stateDir>/kb-index`). A run with its own retriever
 * writes `retrievals.json` = `{ "<golden query id>": ["doc-id", …] }`, best first
 * (`jsonFileRetrievals`); the example refresh DAG publishes its keyword index instead, one
 * `<partition>.json` per partition, and `publishedIndexRetrievals` answers the golden queries
 * against it. A live retriever implements `RetrievalSource` instead.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { z } from 'zod';
import type { EvaluationReport, EvaluationThresholds, GoldenQuery } from '../../../shared/contracts/index-promotion.ts';
import type { IndexAliasStore } from '../../../shared/store/index-aliases.ts';
import { activityErrorTypes } from '../../../shared/contracts/activity-errors.ts';
import { computeMetrics, gateFailures, metricMinimums, type Retrievals } from './evaluation-metrics.ts';

export interface RetrievalSource {
  retrieve(alias: string, version: string, queries: readonly GoldenQuery[]): Promise<Retrievals>;
}

/**
 * Alias names contain `:`; keep them one safe path segment. Per code point (the `u` flag), like
 * `_segment` in dags/tandem_airflow/examples/kb_refresh.py, which writes these directories.
 */
const segment = (s: string) => s.replace(/[^A-Za-z0-9._-]/gu, '_');
const versionDir = (rootDir: string, alias: string, version: string) => path.join(rootDir, segment(alias), segment(version));
const RETRIEVALS_FILE = 'retrievals.json';

/** Non-retryable: a file the refresh did not write (or wrote wrong) does not appear on retry. */
const retrievalsMissing = (message: string) =>
  ApplicationFailure.create({ type: activityErrorTypes.evaluation.retrievalsMissing, message, nonRetryable: true });

export function jsonFileRetrievals(rootDir: string): RetrievalSource {
  return {
    async retrieve(alias, version) {
      const file = path.join(versionDir(rootDir, alias, version), RETRIEVALS_FILE);
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch (err) {
        throw retrievalsMissing(`no retrievals for ${alias} version ${version}: ${file} (${(err as Error).message})`);
      }
      return JSON.parse(text) as Retrievals;
    },
  };
}

/** One partition's keyword index as `build_index` publishes it (titles are not needed to rank). */
const keywordIndexSchema = z.object({ index: z.record(z.string(), z.array(z.string())) });

async function readKeywordIndex(file: string): Promise<Record<string, string[]>> {
  let value: unknown;
  try {
    value = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw retrievalsMissing(`cannot read the published index ${file}: ${(err as Error).message}`);
  }
  const parsed = keywordIndexSchema.safeParse(value);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || 'file'}: ${i.message}`).join('; ');
    throw retrievalsMissing(`${file} is not a keyword index {"index": {word: [doc, …]}}: ${problems}`);
  }
  return parsed.data.index;
}

const WORD = /[a-z0-9]+/g;

/**
 * Docs containing the most query words first, ties by doc id: the same ranking as `_search` in
 * dags/tandem_airflow/examples/kb_refresh.py (its DAG-side golden queries), so the worker's
 * evaluation and the DAG's agree. Change both or neither. A query word counts once per time it
 * occurs in the query, as there.
 */
export function rankByQueryWords(index: ReadonlyMap<string, readonly string[]>, query: string): string[] {
  const scores = new Map<string, number>();
  for (const word of query.toLowerCase().match(WORD) ?? []) {
    for (const doc of index.get(word) ?? []) scores.set(doc, (scores.get(doc) ?? 0) + 1);
  }
  // `<` compares UTF-16 code units, Python code points: they agree unless a name has a character above U+FFFF.
  return [...scores.keys()].sort((a, b) => scores.get(b)! - scores.get(a)! || (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * `retrievals.json` when the refresh wrote one; otherwise each golden query answered against the
 * keyword indexes the refresh published for that version (every `<partition>.json` in the version's
 * directory, merged: doc ids are file names, so one name in two partitions is one doc).
 */
export function publishedIndexRetrievals(rootDir: string): RetrievalSource {
  const precomputed = jsonFileRetrievals(rootDir);
  return {
    async retrieve(alias, version, queries) {
      const dir = versionDir(rootDir, alias, version);
      const files: string[] = await readdir(dir).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return [];
        throw err;
      });
      if (files.includes(RETRIEVALS_FILE)) return precomputed.retrieve(alias, version, queries);
      const indexFiles = files.filter((f) => f.endsWith('.json')).sort();
      if (indexFiles.length === 0) {
        throw retrievalsMissing(
          `no retrievals for ${alias} version ${version}: ${dir} has neither ${RETRIEVALS_FILE} nor a published <partition>.json index ` +
            '(did the refresh run skip its partitions because their sources did not change?)',
        );
      }
      const merged = new Map<string, Set<string>>();
      for (const name of indexFiles) {
        for (const [word, docs] of Object.entries(await readKeywordIndex(path.join(dir, name)))) {
          let into = merged.get(word);
          if (!into) merged.set(word, (into = new Set()));
          for (const doc of docs) into.add(doc);
        }
      }
      const index = new Map([...merged].map(([word, docs]) => [word, [...docs]]));
      return Object.fromEntries(queries.map((q) => [q.id, rankByQueryWords(index, q.query)]));
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
      return {
        version: input.version,
        previousVersion,
        metrics,
        previousMetrics,
        passed: failures.length === 0,
        failures,
        minimums: metricMinimums(input.thresholds),
        regressionTolerance: input.thresholds.regressionTolerance,
      };
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
