/**
 * The credentials file: generated once per state dir by the launcher (mode 0600), read by the
 * API (to seed the admin and service API keys), by the Airflow client and by tests.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { z } from 'zod';

export const credentialsSchema = z.object({
  /** Admin API key for the control API (`Authorization: Bearer <key>`). */
  adminApiKey: z.string().min(16),
  /** Service-role key used by Airflow tasks to call the control API. */
  serviceApiKey: z.string().min(16),
  airflow: z.object({
    /** Airflow UI / REST API admin for people (SimpleAuthManager). */
    adminUser: z.string(),
    adminPassword: z.string(),
    /**
     * tandem's own Airflow identity, distinct from the human admin: the API and the worker call
     * Airflow's REST API as this user, and a parked hand-off's Human-in-the-loop request is
     * assigned to it alone, so only tandem may resume the task.
     */
    tandemUser: z.string(),
    tandemPassword: z.string(),
  }),
  createdAt: z.string(),
});
export type Credentials = z.infer<typeof credentialsSchema>;

export function newApiKey(prefix: 'adm' | 'svc' | 'key'): string {
  return `tdm_${prefix}_${randomBytes(24).toString('base64url')}`;
}

export function generateCredentials(adminKey?: string): Credentials {
  return {
    adminApiKey: adminKey ?? newApiKey('adm'),
    serviceApiKey: newApiKey('svc'),
    airflow: { ...newAirflowAdmin(), ...newTandemAirflowUser() },
    createdAt: new Date().toISOString(),
  };
}

function newAirflowAdmin() {
  return { adminUser: 'admin', adminPassword: randomBytes(18).toString('base64url') };
}

function newTandemAirflowUser() {
  return { tandemUser: 'tandem', tandemPassword: randomBytes(18).toString('base64url') };
}

export function readCredentials(file: string): Credentials {
  if (!existsSync(file)) {
    throw new Error(`credentials file ${file} not found; run \`npm start\` once to create it`);
  }
  const parsed = credentialsSchema.safeParse(JSON.parse(readFileSync(file, 'utf8')));
  if (!parsed.success) {
    throw new Error(`credentials file ${file} is corrupt (${parsed.error.issues[0]?.message}); restore it or remove the state dir`);
  }
  return parsed.data;
}

function writeCredentials(file: string, credentials: Credentials): void {
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, JSON.stringify(credentials, null, 2) + '\n', { mode: 0o600 });
  renameSync(tmp, file);
}

/**
 * Create the file if it does not exist; never overwrite existing credentials. A file from before
 * tandem had its own Airflow user gains one (the only field ever added; nothing is replaced).
 */
export function ensureCredentials(file: string, adminKey?: string): { credentials: Credentials; created: boolean } {
  if (existsSync(file)) {
    const raw = JSON.parse(readFileSync(file, 'utf8')) as { airflow?: Record<string, unknown> };
    if (raw.airflow && raw.airflow.tandemUser === undefined) {
      writeCredentials(file, credentialsSchema.parse({ ...raw, airflow: { ...raw.airflow, ...newTandemAirflowUser() } }));
    }
    return { credentials: readCredentials(file), created: false };
  }
  const credentials = generateCredentials(adminKey);
  writeCredentials(file, credentials);
  return { credentials, created: true };
}
