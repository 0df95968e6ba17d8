/**
 * bench/results/summary.md: every figure of every result file in bench/results/ in one table
 * (the newest run of each benchmark, whenever it ran), the benchmarks that failed in this run,
 * and the plots made from them.
 */
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../shared/config.ts';
import type { BenchResult } from './plots.ts';
import type { Figure } from './report.ts';

export const resultsDir = path.join(repoRoot, 'bench', 'results');

export interface StoredResult extends BenchResult {
  figures: Figure[];
  machine?: Record<string, unknown>;
  /** When the file was written (its mtime). */
  writtenAt: string;
}

export function readResults(dir = resultsDir): StoredResult[] {
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.json')).sort();
  } catch {
    return [];
  }
  return files.map((f) => {
    const file = path.join(dir, f);
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as Omit<StoredResult, 'writtenAt'>;
    return { ...parsed, writtenAt: statSync(file).mtime.toISOString() };
  });
}

const cell = (v: unknown) => (v === undefined || v === null ? '' : String(v).replaceAll('|', '\\|'));

function metLabel(f: Figure): string {
  if (f.met === undefined) return '—';
  return f.met ? 'met' : '**missed**';
}

export function summaryMarkdown(results: StoredResult[], failures: { name: string; error: string }[], plots: { files: string[]; skipped?: string }): string {
  const lines = ['# Benchmark summary', '', 'Made by `npm run bench`; one row per figure, from bench/results/<name>.json.', ''];
  const missed = results.flatMap((r) => r.figures.filter((f) => f.met === false).map((f) => `${r.name}: ${f.metric}`));
  lines.push(`Targets missed: ${missed.length ? missed.join(', ') : 'none'}.`, '');
  lines.push('| benchmark | metric | value | baseline | baseline value | ratio | target | met | note |', '|---|---|---|---|---|---|---|---|---|');
  for (const r of results) {
    for (const f of r.figures) {
      lines.push(
        `| ${cell(r.name)} | \`${cell(f.metric)}\` | ${cell(f.value)} ${cell(f.unit)} | ${cell(f.baseline)} | ${cell(f.baseline_value)} | ${cell(f.ratio)} | ${cell(f.target)} | ${metLabel(f)} | ${cell(f.note)} |`,
      );
    }
  }
  lines.push('', '| benchmark | written | machine |', '|---|---|---|');
  for (const r of results) lines.push(`| ${cell(r.name)} | ${r.writtenAt} | ${cell(r.machine ? JSON.stringify(r.machine) : '')} |`);
  if (failures.length) {
    lines.push('', '## Failed in this run', '');
    for (const f of failures) lines.push(`- **${f.name}**: ${f.error.split('\n')[0]}`);
  }
  lines.push('', '## Plots', '');
  if (plots.skipped) lines.push(`Not made: ${plots.skipped}.`);
  for (const file of plots.files) lines.push(`![${path.basename(file, '.png')}](${path.relative(resultsDir, file)})`);
  return lines.join('\n') + '\n';
}

export function writeSummary(markdown: string, dir = resultsDir): string {
  const file = path.join(dir, 'summary.md');
  writeFileSync(file, markdown);
  return file;
}
