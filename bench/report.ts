/**
 * The benchmark result format (README "Benchmarks"): one JSON file per benchmark under
 * bench/results/, and a line per figure on stdout. `met` is computed here from `target`, never
 * written by hand.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { repoRoot } from '../shared/config.ts';

export interface Figure {
  metric: string;
  unit: string;
  value: number;
  baseline?: string;
  baseline_value?: number;
  /** value / baseline_value, or its inverse when lower is better — see `ratioOf`. */
  ratio?: number;
  /** e.g. "<= 45", ">= 0.8", or undefined when the figure is reported without a target. */
  target?: string;
  met?: boolean;
  note?: string;
}

export function meets(value: number, target: string | undefined): boolean | undefined {
  if (!target) return undefined;
  const m = /^\s*(<=|>=|<|>|==)\s*(-?[\d.]+)/.exec(target);
  if (!m) throw new Error(`unparseable target ${target}`);
  const t = Number(m[2]);
  switch (m[1]) {
    case '<=': return value <= t;
    case '>=': return value >= t;
    case '<': return value < t;
    case '>': return value > t;
    default: return value === t;
  }
}

export function figure(f: Omit<Figure, 'met' | 'ratio'> & { ratio?: number }): Figure {
  const ratio = f.ratio ?? (f.baseline_value ? round(f.value / f.baseline_value, 3) : undefined);
  return { ...f, value: round(f.value, 3), ...(ratio !== undefined ? { ratio } : {}), ...(f.target ? { met: meets(f.value, f.target) } : {}) };
}

export function round(n: number, digits = 1): number {
  const k = 10 ** digits;
  return Math.round(n * k) / k;
}

function versionOf(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', timeout: 20_000 }).trim().split('\n')[0] ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

export function machineFacts() {
  return {
    cores: os.cpus().length,
    memory_gib: round(os.totalmem() / 2 ** 30, 1),
    node: process.version,
    airflow: versionOf(path.join(repoRoot, '.venv/bin/python'), ['-c', 'import airflow; print(airflow.__version__)']),
    temporal_cli: versionOf(path.join(repoRoot, '.venv/bin/temporal'), ['--version']),
  };
}

export function writeReport(name: string, figures: Figure[], extra: Record<string, unknown> = {}): string {
  const dir = path.join(repoRoot, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${name}.json`);
  writeFileSync(file, JSON.stringify({ name, figures, machine: machineFacts(), ...extra }, null, 2) + '\n');
  for (const f of figures) {
    const base = f.baseline !== undefined ? `  | baseline ${f.baseline}: ${f.baseline_value} ${f.unit}  ratio ${f.ratio}` : '';
    const target = f.target ? `  target ${f.target} → ${f.met ? 'met' : 'MISSED'}` : '';
    console.log(`[bench ${name}] ${f.metric} = ${f.value} ${f.unit}${base}${target}${f.note ? `  (${f.note})` : ''}`);
  }
  console.log(`[bench ${name}] wrote ${path.relative(repoRoot, file)}`);
  return file;
}
