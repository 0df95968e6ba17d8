import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { credentialsSchema } from '../../shared/credentials.ts';
import { loadPayloadKeyring } from '../../shared/payload-keys.ts';
import { k8sDir, readBaseManifests } from './manifests.ts';
import { airflowUser, installSecrets, installSecretsYaml } from './secrets.ts';

const generate = () => installSecrets({ namespace: 'tandem', apiUrl: 'http://tandem-api:8787' });
const data = (secrets: ReturnType<typeof generate>, name: string) => {
  const found = secrets.find((s) => s.metadata.name === name);
  if (!found) throw new Error(`no Secret ${name}`);
  return found.stringData as Record<string, string>;
};

/** Secret name → the keys its users read. */
function referencedSecrets(): Map<string, Set<string>> {
  const refs = new Map<string, Set<string>>();
  const add = (name: string, key: string) => refs.set(name, (refs.get(name) ?? new Set()).add(key));
  for (const o of readBaseManifests()) {
    const pod = (o.spec as any)?.template?.spec;
    if (!pod) continue;
    for (const v of pod.volumes ?? []) if (v.secret) for (const m of pod.containers.flatMap((c: any) => c.volumeMounts ?? [])) {
      if (m.name === v.name) add(v.secret.secretName, m.subPath ?? '*');
    }
    for (const c of pod.containers) for (const e of c.env ?? []) {
      const ref = e.valueFrom?.secretKeyRef;
      if (ref && !ref.optional) add(ref.name, ref.key);
    }
  }
  const values = parseYaml(readFileSync(path.join(k8sDir, 'helm', 'airflow-values.yaml'), 'utf8'));
  add(values.fernetKeySecretName, 'fernet-key');
  add(values.apiSecretKeySecretName, 'api-secret-key');
  add(values.jwtSecretName, 'jwt-secret');
  for (const s of values.secret) add(s.secretName, s.secretKey);
  for (const v of values.createUserJob.extraVolumes) add(v.secret.secretName, 'password');
  return refs;
}

describe('install secrets', () => {
  it('covers every Secret the manifests and the Airflow values need, with the keys they read', () => {
    const secrets = generate();
    const refs = referencedSecrets();
    // The database passwords are the database owner's; the README has them created by hand.
    refs.delete('airflow-metadata');
    expect([...refs.keys()].sort()).toEqual(secrets.map((s) => s.metadata.name).sort());
    for (const [name, keys] of refs) {
      for (const key of keys) if (key !== '*') expect(Object.keys(data(secrets, name)), name).toContain(key);
    }
    expect(Object.keys(data(secrets, 'tandem-payload-keys'))).toEqual(['payload-keys.json']);
  });

  it('fits together: the connection carries the service key, the Airflow user job the password tandem signs in with', () => {
    const secrets = generate();
    const credentials = credentialsSchema.parse(JSON.parse(data(secrets, 'tandem-credentials')['credentials.json']!));
    expect(credentials.airflow.adminUser).toBe(airflowUser);
    const connection = JSON.parse(data(secrets, 'tandem-airflow-connection').AIRFLOW_CONN_TANDEM_DEFAULT!);
    expect(connection).toEqual({ conn_type: 'http', host: 'http://tandem-api:8787', password: credentials.serviceApiKey });
    expect(data(secrets, 'tandem-airflow-user').password).toBe(credentials.airflow.adminPassword);
    const values = readFileSync(path.join(k8sDir, 'helm', 'airflow-values.yaml'), 'utf8');
    expect(parseYaml(values).createUserJob.args.join(' ')).toContain(`--username ${airflowUser}`);
  });

  it('holds a keyring the worker and the API load, and Airflow keys of the right shape', () => {
    const secrets = generate();
    const dir = mkdtempSync(path.join(os.tmpdir(), 'secrets-test-'));
    try {
      const file = path.join(dir, 'payload-keys.json');
      writeFileSync(file, data(secrets, 'tandem-payload-keys')['payload-keys.json']!);
      const keyring = loadPayloadKeyring(file, { createIfMissing: false });
      expect(keyring.keys.get(keyring.currentKeyId)).toHaveLength(32);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(Buffer.from(data(secrets, 'airflow-fernet-key')['fernet-key']!, 'base64url')).toHaveLength(32);
    expect(data(secrets, 'airflow-jwt-secret')['jwt-secret']!.length).toBeGreaterThanOrEqual(64);
  });

  it('is new on every run, and printed as one List for kubectl', () => {
    const [a, b] = [generate(), generate()];
    expect(data(a, 'tandem-credentials')['credentials.json']).not.toBe(data(b, 'tandem-credentials')['credentials.json']);
    const list = parseYaml(installSecretsYaml({ namespace: 'dept', apiUrl: 'http://x:1' }));
    expect(list).toMatchObject({ apiVersion: 'v1', kind: 'List' });
    expect(list.items.every((s: any) => s.kind === 'Secret' && s.metadata.namespace === 'dept')).toBe(true);
  });
});
