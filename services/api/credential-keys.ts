/**
 * The two keys from the credentials file become API keys in the store on every start: the admin
 * key (how an operator gets in the first time) and the service key (how Airflow tasks call us).
 * Keyed on the hash, so restarts add nothing; a key an admin has revoked stays revoked.
 */
import type { Credentials } from '../../shared/credentials.ts';
import type { Role } from '../../shared/contracts/roles.ts';
import { hashApiKey } from '../../shared/store/api-key-hash.ts';
import type { Store } from '../../shared/store/store.ts';

export interface SeededKey {
  name: string;
  role: Role;
  created: boolean;
}

export async function seedCredentialKeys(store: Store, credentials: Credentials): Promise<SeededKey[]> {
  const wanted = [
    { name: 'admin (credentials file)', role: 'admin' as const, key: credentials.adminApiKey },
    { name: 'service (credentials file)', role: 'service' as const, key: credentials.serviceApiKey },
  ];
  const seeded: SeededKey[] = [];
  for (const { name, role, key } of wanted) {
    const keyHash = hashApiKey(key);
    const existing = await store.findApiKeyByHash(keyHash);
    if (!existing) await store.createApiKey({ name, role, department: '*', keyHash });
    seeded.push({ name, role, created: !existing });
  }
  return seeded;
}
