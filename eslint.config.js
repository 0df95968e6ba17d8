// ESLint flat config: typescript-eslint everywhere, a stricter override for workflows/**, whose
// code runs inside Temporal's deterministic sandbox, and import boundaries between folders.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';

const nodeBuiltins = [...builtinModules, ...builtinModules.map((m) => `node:${m}`)];

// --- import restrictions --------------------------------------------------------------------
// Each set below is one reason an import is forbidden. A folder's config object gets ONE
// `no-restricted-imports` rule built from all the sets that apply to it, because a later config
// object that sets the rule for the same files replaces the earlier options instead of adding to
// them. To forbid something more for a folder, add a set and pass it to that folder's
// restrictedImports(...) call.

/** Workflow code runs in a deterministic sandbox. */
const sandboxNoNodeBuiltins = {
  paths: nodeBuiltins.map((name) => ({
    name,
    message: 'Workflow code runs in a deterministic sandbox: no Node built-ins. Do I/O in an activity.',
  })),
};
const onlyWorkflowSdk = {
  patterns: [
    { group: ['@temporalio/worker', '@temporalio/client', '@temporalio/activity'], message: 'Workflows import only @temporalio/workflow (and activity *types*).', allowTypeImports: true },
  ],
};
/** deploy/ knows how to start each service; the services know nothing of deploy. */
const servicesNotDeploy = {
  patterns: [
    {
      group: ['**/deploy/**'],
      message: 'services/ must not import from deploy/ (deploy depends on services, never the reverse); put shared code in shared/.',
    },
  ],
};

/** One `no-restricted-imports` rule from any number of restriction sets. */
function restrictedImports(...sets) {
  return ['error', { paths: sets.flatMap((s) => s.paths ?? []), patterns: sets.flatMap((s) => s.patterns ?? []) }];
}

/**
 * The worker runs workflow code from its bundle, by path; services import workflow modules only
 * for the message definitions (updates, queries) the API sends. The top-level workflows/ folder is
 * two or more levels up from any file in services/ (a lone ../workflows is a routes folder).
 */
const servicesNotWorkflows = {
  patterns: [
    {
      regex: String.raw`^(\.\./){2,}workflows/(?!(?:[^/]+/)?messages\.ts$)`,
      message: 'services/ must not import workflow code (only workflows/<flow>/messages.ts); share vocabulary through shared/contracts/.',
    },
  ],
};

export default tseslint.config(
  { ignores: ['node_modules/**', '.venv/**', '.tandem*/**', 'dags/**', 'workflows/.bundle/**', 'bench/results/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      parserOptions: { projectService: { allowDefaultProject: ['eslint.config.js'] }, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    // Tests read JSON bodies of many shapes; typing each one would test the types, not the code.
    files: ['test/**/*.ts', '**/*.test.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    // Workflow code must be deterministic: no Node built-ins, no I/O, no un-awaited promises.
    files: ['workflows/**/*.ts'],
    ignores: ['workflows/**/*.test.ts'],
    rules: {
      'no-restricted-imports': restrictedImports(sandboxNoNodeBuiltins, onlyWorkflowSdk),
      'no-restricted-globals': ['error', { name: 'setTimeout', message: 'Use sleep() from @temporalio/workflow.' }],
      'no-restricted-properties': [
        'error',
        { object: 'Date', property: 'now', message: 'Date.now() is deterministic only inside the sandbox; prefer workflowInfo() times or sleep().' },
        { object: 'Math', property: 'random', message: 'Use uuid4() from @temporalio/workflow.' },
      ],
      '@typescript-eslint/no-floating-promises': 'error',
    },
  },
  {
    files: ['services/**/*.ts'],
    rules: { 'no-restricted-imports': restrictedImports(servicesNotDeploy, servicesNotWorkflows) },
  },
  {
    // Tests may run workflow functions against the code they test.
    files: ['services/**/*.test.ts'],
    rules: { 'no-restricted-imports': restrictedImports(servicesNotDeploy) },
  },
);
