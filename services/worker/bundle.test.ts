import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { bundleDir, bundlePathFor, locateWorkflowBundle, prebuildWorkflowBundle, workflowSourceHash } from './bundle.ts';

describe('workflow bundle', () => {
  it('hashes the workflow sources deterministically', async () => {
    const [a, b] = await Promise.all([workflowSourceHash(), workflowSourceHash()]);
    expect(a).toMatch(/^[0-9a-f]{20}$/);
    expect(b).toBe(a);
  });

  it('reuses the bundle built for the same sources, and the worker finds it', async () => {
    const first = await prebuildWorkflowBundle();
    const second = await prebuildWorkflowBundle();
    expect(second).toMatchObject({ codePath: first.codePath, hash: first.hash, built: false });
    expect(path.dirname(first.codePath)).toBe(bundleDir);
    expect(first.codePath).toBe(bundlePathFor(first.hash));
    expect(await locateWorkflowBundle()).toEqual({ codePath: first.codePath, hash: first.hash });
  });

  it('holds no zod: the sandbox would build zod and every imported schema again for each cached workflow', async () => {
    const { codePath } = await prebuildWorkflowBundle();
    const code = await readFile(codePath, 'utf8');
    // webpack keys each bundled module by its path, one `/***/ "path"` line per module.
    const modules = [...code.matchAll(/^\/\*\*\*\/ "([^"]+)"/gm)].map((m) => m[1]!);
    expect(modules.length).toBeGreaterThan(50);
    expect(modules.filter((m) => m.includes('node_modules/zod/'))).toEqual([]);
    expect(modules.some((m) => m.includes('shared/contracts/review-terms.ts'))).toBe(true);
  });
});
