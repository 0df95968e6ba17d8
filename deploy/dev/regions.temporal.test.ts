// The launcher's side of data residency with two regions on the embedded dev server: the dev
// server it runs registers both namespaces (its readiness checks both), and the worker it runs is
// ready only once it polls both — then a flow started in the second region's namespace runs there.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, repoRoot, statePaths, type TandemConfig } from '../../shared/config.ts';
import { ensureCredentials } from '../../shared/credentials.ts';
import { clientDataConverter, payloadCodecFor } from '../../shared/payload-codec.ts';
import { temporalRegions } from '../../shared/regions.ts';
import { openSqliteStore } from '../../shared/store/sqlite-store.ts';
import { prebuildWorkflowBundle } from '../../services/worker/bundle.ts';
import { freePorts } from './ports.ts';
import { Supervisor } from './supervisor.ts';
import { temporalPrepareSteps, temporalProcess } from './temporal.ts';
import { workerIsPolling, workerProcess } from './worker.ts';

let dir: string;
let config: TandemConfig;
let supervisor: Supervisor;
const progress: string[] = [];

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'tandem-regions-'));
  const [port, uiPort, httpPort, metricsPort] = await freePorts('127.0.0.1', 4);
  // As a user would configure it: config.json in the state dir, which every started process reads.
  writeFileSync(
    path.join(dir, 'config.json'),
    JSON.stringify({ logLevel: 'warn', temporal: { port, uiPort, httpPort, metricsPort, taskQueue: 'tandem-regions', regions: `eu=127.0.0.1:${port}/tandem-eu` } }),
  );
  config = loadConfig({ env: { TANDEM_STATE_DIR: dir }, cwd: dir });
  await openSqliteStore(statePaths(dir).store).close();
  await prebuildWorkflowBundle();
  supervisor = new Supervisor({ host: config.host, logDir: statePaths(dir).logs, progress: (line) => progress.push(line) });
}, 120_000);

afterAll(async () => {
  await supervisor?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('two regions on the embedded dev server', () => {
  it('registers both namespaces, and the worker is ready only once it polls both; a flow in eu runs in eu', async () => {
    expect(temporalRegions(config).map((r) => r.namespace)).toEqual(['default', 'tandem-eu']);
    await supervisor.prepare(temporalPrepareSteps(config));
    await supervisor.start(temporalProcess(config));
    const connection = await Connection.connect({ address: config.temporal.address });
    try {
      for (const namespace of ['default', 'tandem-eu']) {
        expect((await connection.workflowService.describeNamespace({ namespace })).namespaceInfo?.name).toBe(namespace);
      }
      // Nothing polls yet: not ready in either region.
      expect(await workerIsPolling(config, 'nobody')).toBe(false);
      await supervisor.start(workerProcess(config));

      const eu = new Client({ connection, namespace: 'tandem-eu', dataConverter: clientDataConverter(payloadCodecFor(config)) });
      const result = await eu.workflow.execute('echoWorkflow', {
        taskQueue: config.temporal.taskQueue,
        workflowId: `regions-echo-${Date.now()}`,
        args: [{ message: 'from eu' }],
        memo: { department: 'cardiology', startedBy: 'test', type: 'smoke.echo' },
      });
      expect(result).toMatchObject({ message: 'from eu' });
    } finally {
      await connection.close();
    }
  });

  it('stops the API at start, in one line naming the region and the setting, when a region cannot be reached', async () => {
    ensureCredentials(statePaths(dir).credentials);
    const [dead] = await freePorts('127.0.0.1', 1);
    const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TANDEM_')));
    // The environment wins over config.json: local is the running dev server, eu is nowhere.
    const result = spawnSync(process.execPath, [path.join(repoRoot, 'services/api/server.ts')], {
      env: { ...inherited, TANDEM_STATE_DIR: dir, TANDEM_REGIONS: `eu=127.0.0.1:${dead}/tandem-eu` },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(result.status).toBe(1);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^tandem api: cannot reach Temporal at 127\\.0\\.0\\.1:${dead} \\(region eu, TANDEM_REGIONS\\): `));
  });
});
