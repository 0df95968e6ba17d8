/**
 * The example pipelines (examples/<id>/pipeline.yaml): writes their sample files under
 * `<state dir>/examples/<id>/` (only those missing, so a user's edits survive a restart), and
 * applies each spec with its data directory filled in, through the control API like any other
 * client. Used by `npm start`, the pipelines and hand-off tests, and the benchmarks.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { repoRoot } from '../../shared/config.ts';

/** An example pipeline: its spec in examples/<id>/pipeline.yaml and the sample files it reads. */
interface ExampleDefinition {
  partitions: readonly string[];
  /** partition → file name → content, written under `<state dir>/examples/<id>/<partition>/`. */
  documents: Record<string, Record<string, string>>;
}

export const examples = {
  'kb-refresh': {
    partitions: ['cardiology', 'oncology', 'radiology'],
    documents: {
      cardiology: {
        'heart-failure.md': '# Heart failure guideline\nFirst-line therapy and follow-up intervals for chronic heart failure.\n',
        'atrial-fibrillation.md': '# Atrial fibrillation anticoagulation\nStroke risk scoring and anticoagulant choice.\n',
      },
      oncology: {
        'chemotherapy-dosing.md': '# Chemotherapy dosing\nBody surface area dosing and renal adjustment.\n',
        'tumour-board.md': '# Tumour board referral\nWhen and how to refer a patient to the tumour board.\n',
      },
      radiology: {
        'contrast-allergy.md': '# Contrast allergy premedication\nPremedication protocol before iodinated contrast.\n',
        'mri-safety.md': '# MRI safety screening\nImplants, pacemakers and the screening questionnaire.\n',
      },
    },
  },
  // Physician review as a hand-off stage: the Airflow task defers while the review waits.
  'discharge-summaries': {
    partitions: ['cardiology', 'oncology'],
    documents: {
      cardiology: {
        'bed-12.txt': 'Admitted with decompensated heart failure; diuresed; discharged on furosemide 40 mg.\n',
        'bed-14.txt': 'New atrial fibrillation; rate controlled; apixaban started.\n',
      },
      oncology: {
        'bed-3.txt': 'Cycle 2 of FOLFOX completed; neutrophils recovering; next cycle in 14 days.\n',
      },
    },
  },
} as const satisfies Record<string, ExampleDefinition>;
export type ExampleId = keyof typeof examples;

/** The example `npm start` shows first, and what the pipelines tests and benchmarks run. */
export const EXAMPLE_PIPELINE_ID = 'kb-refresh' satisfies ExampleId;
export const EXAMPLE_PARTITIONS = examples[EXAMPLE_PIPELINE_ID].partitions;
const DATA_DIR = 'DATA_DIR';

export function exampleDataDir(stateDir: string, id: ExampleId = EXAMPLE_PIPELINE_ID): string {
  return path.join(stateDir, 'examples', id);
}

/** Writes the sample documents that do not exist yet; returns the data directory. */
export function writeExampleDocuments(stateDir: string, id: ExampleId = EXAMPLE_PIPELINE_ID): string {
  const dataDir = exampleDataDir(stateDir, id);
  for (const [partition, files] of Object.entries(examples[id].documents as Record<string, Record<string, string>>)) {
    mkdirSync(path.join(dataDir, partition), { recursive: true });
    for (const [name, text] of Object.entries(files)) {
      const file = path.join(dataDir, partition, name);
      if (!existsSync(file)) writeFileSync(file, text);
    }
  }
  return dataDir;
}

function fillDataDir(value: unknown, dataDir: string): unknown {
  if (typeof value === 'string') return value.startsWith(DATA_DIR) ? dataDir + value.slice(DATA_DIR.length) : value;
  if (Array.isArray(value)) return value.map((v) => fillDataDir(v, dataDir));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fillDataDir(v, dataDir)]));
  }
  return value;
}

/** The example spec (a plain object, ready for `POST /v1/pipelines`) reading from `dataDir`. */
export function exampleSpec(dataDir: string, id: ExampleId = EXAMPLE_PIPELINE_ID): Record<string, unknown> {
  const specFile = path.join(repoRoot, 'examples', id, 'pipeline.yaml');
  return fillDataDir(parseYaml(readFileSync(specFile, 'utf8')), dataDir) as Record<string, unknown>;
}

export interface AppliedExample {
  status: number;
  body: unknown;
  dataDir: string;
}

/** Writes the documents and applies the spec through the API; resolves with the API's answer. */
export async function applyExamplePipeline(
  apiUrl: string,
  apiKey: string,
  stateDir: string,
  id: ExampleId = EXAMPLE_PIPELINE_ID,
  options: { signal?: AbortSignal } = {},
): Promise<AppliedExample> {
  const dataDir = writeExampleDocuments(stateDir, id);
  const timeout = AbortSignal.timeout(180_000);
  const res = await fetch(`${apiUrl}/v1/pipelines`, {
    method: 'POST',
    headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify(exampleSpec(dataDir, id)),
    signal: options.signal ? AbortSignal.any([options.signal, timeout]) : timeout,
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // keep the text
  }
  return { status: res.status, body, dataDir };
}

/**
 * `npm start`'s last step: apply the examples so a new user sees real DAGs in the Airflow UI.
 * Never fatal — the stack is up and useful without them — but a failure is said clearly.
 * `signal` (the launcher's stop) ends it early, quietly: the stack is being stopped anyway.
 */
export async function applyExampleOnStart(
  stack: { config: { api: { url: string }; stateDir: string }; credentials: { adminApiKey: string } },
  progress: (line: string) => void,
  signal?: AbortSignal,
): Promise<void> {
  progress('applying the example pipelines…');
  for (const id of Object.keys(examples) as ExampleId[]) {
    if (signal?.aborted) return;
    try {
      const { status, body } = await applyExamplePipeline(stack.config.api.url, stack.credentials.adminApiKey, stack.config.stateDir, id, { signal });
      if (status === 200 || status === 201) {
        const dagId = (body as { pipeline?: { dagId?: string } }).pipeline?.dagId ?? `tandem__${id}`;
        progress(`applied example pipeline ${id} (Airflow DAG ${dagId}, files in ${exampleDataDir(stack.config.stateDir, id)})`);
        continue;
      }
      const detail = (body as { detail?: string } | undefined)?.detail ?? JSON.stringify(body);
      progress(`warning: could not apply the example pipeline ${id} (HTTP ${status}): ${detail}`);
    } catch (err) {
      if (signal?.aborted) return;
      progress(`warning: could not apply the example pipeline ${id}: ${(err as Error).message}`);
    }
  }
}
