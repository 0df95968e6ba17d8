/** How the dev-stack launcher runs the control API (services/api/server.ts). */
import path from 'node:path';
import { repoRoot, type TandemConfig } from '../../shared/config.ts';
import type { ProcessSpec } from './process-spec.ts';

export function apiProcess(config: TandemConfig): ProcessSpec {
  return {
    name: 'api',
    command: process.execPath,
    args: [path.join(repoRoot, 'services/api/server.ts')],
    cwd: repoRoot,
    env: { TANDEM_STATE_DIR: config.stateDir },
    ports: [config.api.port],
    ready: async () => {
      const res = await fetch(`${config.api.url}/healthz`, { signal: AbortSignal.timeout(2000) });
      return res.ok;
    },
    readyTimeoutMs: 30_000,
  };
}
