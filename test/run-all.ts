/**
 * `npm test`: every tier, one summary. Runs static checks (typecheck, lint), the vitest unit tier
 * (starts nothing), the vitest temporal tier (a Temporal test server per file), the pytest tier
 * (dags/), the vitest postgres tier (one PostgreSQL server per run), the vitest kubernetes tier (a local
 * Kubernetes), and the vitest integration tier (the full embedded stack), then prints
 * `N passed, N failed, N skipped` summed over all of them. Exits non-zero when anything failed,
 * when a tier crashed, or when a tier ran no test at all (an empty tier is a broken tier).
 *
 * `npm test -- unit` (or temporal, py, postgres, kubernetes, integration, checks) runs only the named tiers.
 * The engines that are compiled from source build in the background meanwhile (`buildEngines`).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, openSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { stripVTControlCharacters } from 'node:util';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const outDir = path.join(root, 'test-results');
const bin = (name: string) => path.join(root, 'node_modules/.bin', name);

interface Tally {
  tier: string;
  passed: number;
  failed: number;
  skipped: number;
  seconds: number;
  crashed?: string;
  /** Each failed test, named as the tail of CI's output shows it: a run's log is read from its end. */
  failures?: string[];
}

/** The text of an XML attribute value (pytest's junit report escapes newlines and quotes). */
function xmlText(value: string): string {
  const named: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
  return value.replace(/&(#\d+|[a-z]+);/g, (all, entity: string) =>
    entity.startsWith('#') ? String.fromCharCode(Number(entity.slice(1))) : (named[entity] ?? all),
  );
}

/** A failure's first line, trimmed: enough to tell a timeout from an assertion in CI's tail. */
function firstLine(message: string | undefined): string {
  const line = stripVTControlCharacters(message ?? '').split('\n').find((l) => l.trim()) ?? '';
  return line.trim().slice(0, 200);
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } });
    child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
    child.once('error', () => resolve(127));
  });
}

async function check(tier: string, command: string, args: string[]): Promise<Tally> {
  const t0 = performance.now();
  console.log(`\n=== ${tier} ===`);
  const code = await run(command, args);
  return { tier, passed: code === 0 ? 1 : 0, failed: code === 0 ? 0 : 1, skipped: 0, seconds: elapsed(t0) };
}

async function vitestTier(project: string): Promise<Tally> {
  const t0 = performance.now();
  const file = path.join(outDir, `vitest-${project}.json`);
  console.log(`\n=== vitest ${project} ===`);
  const code = await run(bin('vitest'), ['run', '--project', project, '--reporter=default', '--reporter=json', `--outputFile.json=${file}`]);
  const tally: Tally = { tier: `vitest ${project}`, passed: 0, failed: 0, skipped: 0, seconds: elapsed(t0) };
  try {
    const report = JSON.parse(readFileSync(file, 'utf8')) as {
      numPassedTests: number;
      numFailedTests: number;
      numPendingTests: number;
      numTodoTests: number;
      testResults: {
        name: string;
        status: string;
        message?: string;
        assertionResults: { status: string; fullName: string; failureMessages?: string[] }[];
      }[];
    };
    tally.passed = report.numPassedTests;
    tally.failed = report.numFailedTests;
    tally.skipped = report.numPendingTests + report.numTodoTests;
    // A file that failed to load (syntax error, setup failure) has no tests but a failed status.
    const brokenFiles = report.testResults.filter((r) => r.status === 'failed').length;
    tally.failures = report.testResults.flatMap((file) => {
      const where = path.relative(root, file.name);
      const failed = file.assertionResults.filter((a) => a.status === 'failed');
      if (failed.length === 0 && file.status === 'failed') return [`${where}: ${firstLine(file.message)}`];
      return failed.map((a) => `${where} > ${a.fullName}: ${firstLine(a.failureMessages?.[0])}`);
    });
    if (code !== 0 && tally.failed === 0) tally.crashed = `exit code ${code}, ${brokenFiles} file(s) failed to run`;
  } catch {
    tally.crashed = `exit code ${code}, no report written`;
  }
  return tally;
}

async function pytestTier(): Promise<Tally> {
  const t0 = performance.now();
  const file = path.join(outDir, 'pytest.xml');
  console.log('\n=== pytest dags ===');
  const code = await run(path.join(root, '.venv/bin/python'), ['-m', 'pytest', 'dags/tests', '-q', `--junitxml=${file}`]);
  const tally: Tally = { tier: 'pytest dags', passed: 0, failed: 0, skipped: 0, seconds: elapsed(t0) };
  try {
    const xml = readFileSync(file, 'utf8');
    const suite = /<testsuite\b([^>]*)>/.exec(xml)?.[1] ?? '';
    const attr = (name: string) => Number(new RegExp(`\\b${name}="(\\d+)"`).exec(suite)?.[1] ?? 0);
    tally.failed = attr('failures') + attr('errors');
    tally.skipped = attr('skipped');
    tally.passed = attr('tests') - tally.failed - tally.skipped;
    tally.failures = [...xml.matchAll(/<testcase\b([^>]*?)(?:\/>|>([\s\S]*?)<\/testcase>)/g)]
      .filter((m) => /<(failure|error)\b/.test(m[2] ?? ''))
      .map((m) => {
        const name = (k: string) => new RegExp(`\\b${k}="([^"]*)"`).exec(m[1]!)?.[1] ?? '?';
        const message = /<(?:failure|error)\b[^>]*\bmessage="([^"]*)"/.exec(m[2]!)?.[1];
        return `${name('classname')}::${name('name')}: ${firstLine(message && xmlText(message))}`;
      });
    if (code !== 0 && tally.failed === 0) tally.crashed = `exit code ${code}`;
  } catch {
    tally.crashed = `exit code ${code}, no report written`;
  }
  return tally;
}

function elapsed(t0: number): number {
  return (performance.now() - t0) / 1000;
}

/**
 * The engines built from source rather than installed: the local Kubernetes (with kwok and Kueue)
 * and the Temporal server of the cluster profile. Cold, that is ~20 minutes of compiling on two
 * cores, so it starts in the background (at a lower priority) as soon as a tier that needs it is
 * asked for, and the tiers that need none of it (checks, unit, temporal, py) run meanwhile; warm,
 * both scripts find their cached binaries and return at once. Its output goes to a log file.
 */
const engineBuilds = ['deploy/dev/kubernetes/build.sh', 'deploy/dev/temporal-cluster/build.sh'];
let engines: Promise<number> | undefined;

function buildEngines(): Promise<number> {
  const log = path.join(outDir, 'engine-builds.log');
  const t0 = performance.now();
  const script = engineBuilds.map((b) => `sh ${b}`).join(' && ');
  const child = spawn('nice', ['-n', '10', 'sh', '-c', script], { cwd: root, stdio: ['ignore', openSync(log, 'w'), openSync(log, 'a')] });
  return new Promise((resolve) => {
    child.once('exit', (code) => {
      console.log(`\n[engines] ${code === 0 ? 'built' : `build failed (exit ${code}), see ${log}`} after ${elapsed(t0).toFixed(0)} s`);
      resolve(code ?? 1);
    });
    child.once('error', () => resolve(127));
  });
}

/** A tier that starts a built engine: it waits for the background build first. */
async function withEngines(runTier: () => Promise<Tally[]>): Promise<Tally[]> {
  if (engines) {
    console.log(`\n[engines] waiting for the engine builds (log: ${path.relative(root, path.join(outDir, 'engine-builds.log'))})…`);
    // A failed build is not this tier's verdict: the tier's own build step tries again and says why.
    await engines;
  }
  return runTier();
}

const tiers: Record<string, () => Promise<Tally[]>> = {
  checks: async () => [await check('typecheck', bin('tsc'), ['--noEmit', '-p', '.']), await check('lint', bin('eslint'), ['.'])],
  unit: async () => [await vitestTier('unit')],
  temporal: async () => [await vitestTier('temporal')],
  py: async () => [await pytestTier()],
  postgres: () => withEngines(async () => [await vitestTier('postgres')]),
  kubernetes: () => withEngines(async () => [await vitestTier('kubernetes')]),
  integration: () => withEngines(async () => [await vitestTier('integration')]),
};
const needEngines = ['postgres', 'kubernetes', 'integration'];

const wanted = process.argv.slice(2);
const unknown = wanted.filter((t) => !(t in tiers));
if (unknown.length) {
  console.error(`unknown tier(s) ${unknown.join(', ')}; choose from ${Object.keys(tiers).join(', ')}`);
  process.exit(2);
}
rmSync(outDir, { recursive: true, force: true });
mkdirSync(outDir, { recursive: true });

const selected = (name: string) => wanted.length === 0 || wanted.includes(name);
if (needEngines.some(selected)) engines = buildEngines();

const results: Tally[] = [];
for (const [name, runTier] of Object.entries(tiers)) {
  if (wanted.length === 0 || wanted.includes(name)) results.push(...(await runTier()));
}

const failures = results.flatMap((r) => (r.failures ?? []).map((f) => `${r.tier}: ${f}`));
if (failures.length > 0) console.log(`\n=== failed tests ===\n${failures.join('\n')}`);
console.log('\n=== summary ===');
for (const r of results) {
  const note = r.crashed ? `  CRASHED: ${r.crashed}` : r.passed + r.failed === 0 ? '  RAN NO TEST' : '';
  console.log(`${r.tier.padEnd(20)} ${String(r.passed).padStart(4)} passed ${String(r.failed).padStart(3)} failed ${String(r.skipped).padStart(3)} skipped  ${r.seconds.toFixed(0)} s${note}`);
}
const sum = (k: 'passed' | 'failed' | 'skipped') => results.reduce((n, r) => n + r[k], 0);
// A crashed or empty tier counts as one failure so the total can never look green.
const broken = results.filter((r) => r.crashed || r.passed + r.failed === 0).length;
const failed = sum('failed') + broken;
console.log(`${sum('passed')} passed, ${failed} failed, ${sum('skipped')} skipped`);
process.exit(failed > 0 ? 1 : 0);
