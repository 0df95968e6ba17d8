/**
 * The example knowledge-base refresh: writes sample documents for three departments under
 * `<state dir>/examples/kb-refresh/` (only those missing, so a user's edits survive a restart),
 * and applies examples/kb-refresh/pipeline.yaml with its data directory filled in, through the
 * control API like any other client. Used by `npm start` and by the pipelines tests.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { repoRoot } from '../../shared/config.ts';

export const EXAMPLE_PIPELINE_ID = 'kb-refresh';
export const EXAMPLE_PARTITIONS = ['cardiology', 'oncology', 'radiology'] as const;
const specFile = path.join(repoRoot, 'examples', EXAMPLE_PIPELINE_ID, 'pipeline.yaml');
const DATA_DIR = 'DATA_DIR';

const documents: Record<(typeof EXAMPLE_PARTITIONS)[number], Record<string, string>> = {
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
};

export function exampleDataDir(stateDir: string): string {
  return path.join(stateDir, 'examples', EXAMPLE_PIPELINE_ID);
}

/** Writes the sample documents that do not exist yet; returns the data directory. */
export function writeExampleDocuments(stateDir: string): string {
  const dataDir = exampleDataDir(stateDir);
  for (const [partition, files] of Object.entries(documents)) {
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
export function exampleSpec(dataDir: string): Record<string, unknown> {
  return fillDataDir(parseYaml(readFileSync(specFile, 'utf8')), dataDir) as Record<string, unknown>;
}

export interface AppliedExample {
  status: number;
  body: unknown;
  dataDir: string;
}

/** Writes the documents and applies the spec through the API; resolves with the API's answer. */
export async function applyExamplePipeline(apiUrl: string, apiKey: string, stateDir: string): Promise<AppliedExample> {
  const dataDir = writeExampleDocuments(stateDir);
  const res = await fetch(`${apiUrl}/v1/pipelines`, {
    method: 'POST',
    headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify(exampleSpec(dataDir)),
    signal: AbortSignal.timeout(180_000),
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
 * `npm start`'s last step: apply the example so a new user sees a real DAG in the Airflow UI.
 * Never fatal — the stack is up and useful without it — but a failure is said clearly.
 */
export async function applyExampleOnStart(
  stack: { config: { api: { url: string }; stateDir: string }; credentials: { adminApiKey: string } },
  progress: (line: string) => void,
): Promise<void> {
  try {
    const { status, body } = await applyExamplePipeline(stack.config.api.url, stack.credentials.adminApiKey, stack.config.stateDir);
    if (status === 200 || status === 201) {
      const dagId = (body as { pipeline?: { dagId?: string } }).pipeline?.dagId ?? `tandem__${EXAMPLE_PIPELINE_ID}`;
      progress(`applied example pipeline ${EXAMPLE_PIPELINE_ID} (Airflow DAG ${dagId}, documents in ${exampleDataDir(stack.config.stateDir)})`);
      return;
    }
    const detail = (body as { detail?: string } | undefined)?.detail ?? JSON.stringify(body);
    progress(`warning: could not apply the example pipeline (HTTP ${status}): ${detail}`);
  } catch (err) {
    progress(`warning: could not apply the example pipeline: ${(err as Error).message}`);
  }
}
