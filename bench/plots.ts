/**
 * The suite's plots, from the JSON results (bench/results/<name>.json, their `series`): Vega-Lite
 * specs, compiled by vega-lite and drawn as SVG by vega (both pure JS, no network), rasterised to
 * PNG by Debian's chromium through playwright-core (deploy/dev/chromium.ts). The PNGs go to
 * docs/bench/, which the README shows beside the command that makes them.
 *
 * What is plotted:
 * - every `series` entry named `*_ms` holding samples: the latency distribution (ECDF) of each
 *   such series of one benchmark, on one chart;
 * - `memory_vs_waiting` (worker-memory): worker PSS against waiting reviews;
 * - `throughput_vs_concurrency` (start-throughput): starts per second against concurrency, the
 *   knee marked.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../shared/config.ts';
import { launchChromium } from '../deploy/dev/chromium.ts';

export const plotsDir = path.join(repoRoot, 'docs', 'bench');

/** The packages the renderer needs; the lead adds them to package.json (exact pins). */
export const plotPackages = ['vega@6.4.0', 'vega-lite@6.5.0'];

export interface BenchResult {
  name: string;
  series?: Record<string, unknown>;
}

export type VegaLiteSpec = Record<string, unknown>;

export interface Plot {
  /** File name under docs/bench/, without .png. */
  file: string;
  spec: VegaLiteSpec;
}

const width = 560;
const height = 300;

function isSampleList(value: unknown): value is number[] {
  return Array.isArray(value) && value.length > 0 && value.every((v) => typeof v === 'number');
}

/** Empirical CDF points of samples: each sample with the share of samples at or below it. */
export function ecdf(samples: number[]): { value: number; share: number }[] {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted.map((value, i) => ({ value, share: (i + 1) / sorted.length }));
}

function latencyPlot(result: BenchResult): Plot | undefined {
  const series = Object.entries(result.series ?? {}).filter(([key, value]) => key.endsWith('_ms') && isSampleList(value)) as [string, number[]][];
  if (!series.length) return undefined;
  const values = series.flatMap(([key, samples]) => ecdf(samples).map((p) => ({ ...p, series: `${key.slice(0, -3).replaceAll('_', ' ')} (n=${samples.length})` })));
  return {
    file: `${result.name}-latency`,
    spec: {
      $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
      title: `${result.name}: latency distribution`,
      width,
      height,
      data: { values },
      mark: { type: 'line', interpolate: 'step-after' },
      encoding: {
        x: { field: 'value', type: 'quantitative', title: 'ms', scale: { type: 'log' } },
        y: { field: 'share', type: 'quantitative', title: 'share of samples ≤ x', axis: { format: '%' } },
        color: { field: 'series', type: 'nominal', title: null, legend: { orient: 'bottom-right', labelLimit: 0 } },
      },
    },
  };
}

function memoryPlot(result: BenchResult): Plot | undefined {
  const points = result.series?.memory_vs_waiting;
  if (!Array.isArray(points) || !points.length) return undefined;
  return {
    file: `${result.name}-memory`,
    spec: {
      $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
      title: 'tandem worker memory vs waiting reviews',
      width,
      height,
      data: { values: points },
      mark: { type: 'line', point: true },
      encoding: {
        x: { field: 'waiting', type: 'quantitative', title: 'waiting reviews' },
        y: { field: 'pss_mib', type: 'quantitative', title: 'worker PSS (MiB)', scale: { zero: true } },
      },
    },
  };
}

function throughputPlot(result: BenchResult): Plot | undefined {
  const points = result.series?.throughput_vs_concurrency;
  if (!Array.isArray(points) || !points.length) return undefined;
  const knee = result.series?.knee_concurrency;
  return {
    file: `${result.name}-knee`,
    spec: {
      $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
      title: 'workflow starts through the API vs concurrency',
      width,
      height,
      layer: [
        {
          data: { values: points },
          mark: { type: 'line', point: true },
          encoding: {
            x: { field: 'concurrency', type: 'quantitative', title: 'requests in flight', scale: { type: 'log', base: 2 } },
            y: { field: 'starts_per_second', type: 'quantitative', title: 'starts / s' },
          },
        },
        ...(typeof knee === 'number'
          ? [{ data: { values: [{ knee }] }, mark: { type: 'rule', strokeDash: [4, 4], color: 'firebrick' }, encoding: { x: { field: 'knee', type: 'quantitative' } } }]
          : []),
      ],
    },
  };
}

/** Every plot the results call for. Pure, so the unit test checks it without a renderer. */
export function plotsFor(results: BenchResult[]): Plot[] {
  return results.flatMap((r) => [latencyPlot(r), memoryPlot(r), throughputPlot(r)].filter((p): p is Plot => p !== undefined));
}

interface VegaModules {
  compile(spec: VegaLiteSpec): { spec: unknown };
  toSvg(vegaSpec: unknown): Promise<string>;
}

/** vega and vega-lite when installed; undefined (with the reason) otherwise. */
async function loadVega(): Promise<VegaModules | string> {
  // Names in variables: the packages are optional until the lead adds them, and tsc must not resolve them.
  const [vegaName, liteName] = ['vega', 'vega-lite'];
  try {
    const vega = (await import(vegaName)) as { parse(spec: unknown): unknown; View: new (runtime: unknown, options: { renderer: string }) => { toSVG(): Promise<string> } };
    const lite = (await import(liteName)) as { compile(spec: unknown): { spec: unknown } };
    return {
      compile: (spec) => lite.compile(spec),
      toSvg: (vegaSpec) => new vega.View(vega.parse(vegaSpec), { renderer: 'none' }).toSVG(),
    };
  } catch {
    return `plots need ${plotPackages.join(' and ')} (not installed)`;
  }
}

/** SVG → PNG at twice the size, in headless chromium (no network: the page is the SVG itself). */
export async function svgToPng(svgs: { svg: string; file: string }[]): Promise<void> {
  const browser = await launchChromium();
  try {
    const page = await browser.newPage({ deviceScaleFactor: 2 });
    for (const { svg, file } of svgs) {
      await page.setContent(`<!doctype html><body style="margin:0;background:#fff">${svg}</body>`);
      await page.locator('svg').first().screenshot({ path: file });
    }
  } finally {
    await browser.close();
  }
}

/** Renders every plot to docs/bench/<file>.png; returns the files written, or why none were. */
export async function renderPlots(results: BenchResult[]): Promise<{ files: string[]; skipped?: string }> {
  const plots = plotsFor(results);
  if (!plots.length) return { files: [] };
  const vega = await loadVega();
  if (typeof vega === 'string') return { files: [], skipped: vega };
  mkdirSync(plotsDir, { recursive: true });
  const svgs = await Promise.all(plots.map(async (p) => ({ svg: await vega.toSvg(vega.compile(p.spec).spec), file: path.join(plotsDir, `${p.file}.png`) })));
  await svgToPng(svgs);
  return { files: svgs.map((s) => s.file) };
}
