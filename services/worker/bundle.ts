/**
 * The pre-built workflow bundle. Workers load workflow code from a file built ahead of time
 * (webpack via `bundleWorkflowCode`), not bundled at start-up: start-up stays fast and every
 * worker of one release runs byte-identical workflow code.
 *
 * The file is `workflows/.bundle/workflows-<hash>.js`, where the hash covers every source that
 * can end up in the bundle — workflows/** (minus tests and recorded histories) and
 * shared/contracts/** — plus the SDK version. Same sources → same file → no rebuild. Workflow
 * code must therefore import runtime values only from those two trees (type-only imports from
 * elsewhere are erased and do not count).
 *
 * What a workflow imports costs memory per workflow, not per worker: the SDK's reused V8 context
 * evaluates the workflow modules (workflows/index.ts and everything it imports) once for each
 * workflow it holds in its cache, so a module-level object is built again for every cached
 * workflow. zod in the bundle cost ~1.4 MiB per cached review (zod's own modules and every schema
 * of the contracts imported); so workflow code takes runtime values only from zod-free contract
 * modules (review-terms.ts, aliases.ts, webhook-retry.ts, …), and bundle.test.ts refuses a bundle
 * with zod in it.
 *
 *   node services/worker/bundle.ts           build if stale, print the path
 *   node services/worker/bundle.ts --force   rebuild regardless
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { Command } from 'commander';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import { repoRoot } from '../../shared/config.ts';
import { failureConverterPath } from '../../shared/payload-codec.ts';

/** Bump when the bundling options below change, so old bundles are not reused. */
const bundleFormat = 3;
const keepBundles = 3;

export const workflowsDir = path.join(repoRoot, 'workflows');
export const workflowsEntry = path.join(workflowsDir, 'index.ts');
export const bundleDir = path.join(workflowsDir, '.bundle');
const hashedTrees = [workflowsDir, path.join(repoRoot, 'shared', 'contracts')];

export interface WorkflowBundleFile {
  /** Absolute path of the bundle, for `Worker.create({ workflowBundle: { codePath } })`. */
  codePath: string;
  hash: string;
  /** False when an up-to-date bundle was reused. */
  built: boolean;
  ms: number;
}

function sdkVersion(): string {
  const require = createRequire(import.meta.url);
  return (require('@temporalio/workflow/package.json') as { version: string }).version;
}

async function sourceFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile() && /\.(ts|js|json)$/.test(e.name) && !e.name.endsWith('.test.ts'))
    .map((e) => path.join(e.parentPath, e.name))
    .filter((file) => {
      const rel = path.relative(workflowsDir, file).split(path.sep);
      return rel[0] !== '.bundle' && rel[0] !== 'histories';
    })
    .sort();
}

/** Hash of everything that determines the bundle's bytes. */
export async function workflowSourceHash(): Promise<string> {
  const hash = createHash('sha256');
  hash.update(`format ${bundleFormat}\nsdk ${sdkVersion()}\n`);
  for (const tree of hashedTrees) {
    for (const file of await sourceFiles(tree)) {
      hash.update(`${path.relative(repoRoot, file)}\n`);
      hash.update(await readFile(file));
      hash.update('\n');
    }
  }
  return hash.digest('hex').slice(0, 20);
}

export function bundlePathFor(hash: string): string {
  return path.join(bundleDir, `workflows-${hash}.js`);
}

/**
 * The bundle for the current sources, or an error telling how to build it. This is what the
 * worker uses: it never bundles at start-up.
 */
export async function locateWorkflowBundle(): Promise<{ codePath: string; hash: string }> {
  const hash = await workflowSourceHash();
  const codePath = bundlePathFor(hash);
  if (!existsSync(codePath)) {
    throw new Error(
      `no workflow bundle for the current workflow sources (${path.relative(repoRoot, codePath)}); ` +
        'build it with `node services/worker/bundle.ts` (npm start does this for you)',
    );
  }
  return { codePath, hash };
}

/** Builds the bundle unless one for the current sources exists. Safe to run concurrently. */
export async function prebuildWorkflowBundle(options: { force?: boolean } = {}): Promise<WorkflowBundleFile> {
  const t0 = performance.now();
  const hash = await workflowSourceHash();
  const codePath = bundlePathFor(hash);
  if (!options.force && existsSync(codePath)) {
    return { codePath, hash, built: false, ms: Math.round(performance.now() - t0) };
  }
  const { code } = await bundleWorkflowCode({
    workflowsPath: workflowsEntry,
    // Every workflow's end is audited (see workflows/audit-interceptors.ts).
    workflowInterceptorModules: [path.join(workflowsDir, 'audit-interceptors.ts')],
    // Workflow failures carry their message in an encoded (hence encrypted) payload, like activities'.
    failureConverterPath,
    // webpack's progress chatter goes nowhere; warnings and errors still reach stderr.
    logger: new DefaultLogger('WARN'),
  });
  await mkdir(bundleDir, { recursive: true });
  // Write then rename: a worker starting meanwhile never reads a half-written file.
  const partial = `${codePath}.${process.pid}.partial`;
  await writeFile(partial, code);
  await rename(partial, codePath);
  await pruneOldBundles(codePath);
  return { codePath, hash, built: true, ms: Math.round(performance.now() - t0) };
}

/** Keeps the few newest bundles, so switching branches back and forth does not rebuild. */
async function pruneOldBundles(current: string): Promise<void> {
  const files = (await readdir(bundleDir)).filter((f) => /^workflows-[0-9a-f]+\.js$/.test(f)).map((f) => path.join(bundleDir, f));
  const withTimes = await Promise.all(files.map(async (file) => ({ file, mtime: (await stat(file)).mtimeMs })));
  const stale = withTimes
    .filter((f) => f.file !== current)
    .sort((a, b) => b.mtime - a.mtime)
    .slice(keepBundles - 1);
  await Promise.all(stale.map((f) => rm(f.file, { force: true })));
}

if (import.meta.main) {
  const { force } = new Command('bundle')
    .description('Build the Temporal workflow bundle into workflows/.bundle/ (skipped when up to date).')
    .option('--force', 'rebuild even if a bundle for the current sources exists')
    .parse()
    .opts<{ force?: boolean }>();
  try {
    const result = await prebuildWorkflowBundle({ force: Boolean(force) });
    const what = result.built ? `built in ${(result.ms / 1000).toFixed(1)} s` : 'up to date';
    console.log(`workflow bundle ${path.relative(process.cwd(), result.codePath)} ${what}`);
  } catch (err) {
    console.error(`bundle: error: ${(err as Error).message}`);
    process.exit(1);
  }
}
