/**
 * The two keys from the credentials file become API keys in the store on every start: the admin
 * key (how an operator gets in the first time) and the service key (how Airflow tasks call us).
 * Keyed on the hash, so restarts add nothing; a key an admin has revoked stays revoked. Replicas
 * starting together race to seed: the loser finds the winner's key (the hash is unique).
 */
import type { Credentials } from '../../shared/credentials.ts';
import type { Role } from '../../shared/contracts/roles.ts';
import { hashApiKey } from '../../shared/store/api-key-hash.ts';
import { DuplicateApiKeyError, type Store } from '../../shared/store/store.ts';

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
    let created = false;
    if (!(await store.findApiKeyByHash(keyHash))) {
      created = await store.createApiKey({ name, role, department: '*', keyHash }).then(
        () => true,
        (err: unknown) => {
          if (err instanceof DuplicateApiKeyError) return false;
          throw err;
        },
      );
    }
    seeded.push({ name, role, created });
  }
  return seeded;
}
