import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePorts } from '../../test/support/free-ports.ts';
import { loadConfig } from '../../shared/config.ts';
import { agreeOnKeyring, loadPayloadKeyring } from '../../shared/payload-keys.ts';
import { openStore } from '../../shared/store/open-store.ts';
import { prebuildWorkflowBundle } from './bundle.ts';

const workerEntry = path.join(import.meta.dirname, 'worker.ts');

// The worker writes its state (payload keys, store) before it connects: keep that out of the tree.
let stateDir: string;

beforeAll(async () => {
  stateDir = mkdtempSync(path.join(os.tmpdir(), 'worker-test-'));
  await prebuildWorkflowBundle();
});

afterAll(() => rmSync(stateDir, { recursive: true, force: true }));

describe('worker process', () => {
  it('exits 1 with one line naming the address when Temporal is unreachable', async () => {
    const [port] = await freePorts('127.0.0.1', 1);
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TANDEM_')));
    const result = spawnSync(process.execPath, [workerEntry], {
      env: { ...env, TANDEM_STATE_DIR: stateDir, TANDEM_TEMPORAL_PORT: String(port) },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(result.status).toBe(1);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^\\[worker\\] error: Temporal at 127\\.0\\.0\\.1:${port} is not reachable \\(.*Connection refused\\)`));
  });

  it('exits 2 on invalid configuration', () => {
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TANDEM_')));
    const result = spawnSync(process.execPath, [workerEntry], {
      env: { ...env, TANDEM_STATE_DIR: stateDir, TANDEM_TEMPORAL_PORT: 'x' },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/^\[worker\] error: invalid configuration: temporal\.port/);
  });

  it('exits 1 with one line, registering nothing, when its keyring is not the one the other replicas registered', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'worker-keyring-'));
    try {
      // Another replica on this store started with the state dir's keyring and registered it.
      const config = loadConfig({ env: { TANDEM_STATE_DIR: dir } });
      const store = await openStore(config, { migrate: true });
      const theirs = path.join(dir, 'payload-keys.json');
      await agreeOnKeyring(loadPayloadKeyring(theirs, { createIfMissing: true }), store.payloadKeys, theirs);
      // This one has a keyring with the same key id and another key.
      const file = JSON.parse(readFileSync(theirs, 'utf8')) as { currentKeyId: string; keys: { key: string }[] };
      file.keys[0]!.key = randomBytes(32).toString('base64');
      const mine = path.join(dir, 'other-keys.json');
      writeFileSync(mine, JSON.stringify(file), { mode: 0o600 });
      const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TANDEM_')));
      const result = spawnSync(process.execPath, [workerEntry], { env: { ...env, TANDEM_STATE_DIR: dir, TANDEM_PAYLOAD_KEYS_FILE: mine }, encoding: 'utf8', timeout: 20_000 });
      expect(result.status).toBe(1);
      const lines = result.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(`[worker] error: payload key ${file.currentKeyId} in ${mine} is not the key ${file.currentKeyId} the other API and worker processes use`);
      expect(lines[0]).toContain('give every replica the same keyring (TANDEM_PAYLOAD_KEYS_FILE)');
      expect([...(await store.payloadKeys.fingerprints()).keys()]).toEqual([file.currentKeyId]);
      await store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('exits 2 with one line on a region with no endpoint, before it connects or writes anything', () => {
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TANDEM_')));
    const fresh = mkdtempSync(path.join(os.tmpdir(), 'worker-test-'));
    const result = spawnSync(process.execPath, [workerEntry], {
      env: { ...env, TANDEM_STATE_DIR: fresh, TANDEM_REGIONS: 'eu=temporal-eu:7233/tandem,us=' },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(result.status).toBe(2);
    expect(result.stderr.trim()).toBe(
      '[worker] error: invalid configuration: temporal.regions (TANDEM_REGIONS): region us has no Temporal endpoint; write it as us=host:port/namespace',
    );
    expect(readdirSync(fresh)).toEqual([]);
    rmSync(fresh, { recursive: true, force: true });
  });
});
