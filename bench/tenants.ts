/**
 * `npm run bench -- tenants`: what applying a tenant to the cluster costs, against kubectl. On the
 * local Kubernetes (started here, stopped after), in the same run:
 * - a first apply (Namespace, ResourceQuota, LimitRange created) through tandem's cluster client,
 *   against `kubectl apply --server-side` of the same three objects (as a file) for another
 *   namespace — kubectl's time includes its process start, which is what an operator pays;
 * - a re-apply of unchanged objects (a no-op on the server), both ways;
 * - a drift read (three GETs and the comparison), which every `GET /v1/tenants/{department}` pays.
 * p50/p95 over `samples` each (≥ 50), after warm-up rounds that are discarded. No target: these
 * are reported so the README can say what an apply costs.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { tenantSpecSchema } from '../shared/contracts/tenants.ts';
import { startLocalKubernetes } from '../deploy/dev/kubernetes/cluster.ts';
import { loadKubeConfig } from '../services/kubernetes/kubernetes-job-runner.ts';
import { KubernetesTenantCluster } from '../services/tenants/cluster.ts';
import { tenantDrift } from '../services/tenants/drift.ts';
import { tenantManifests } from '../services/tenants/manifests.ts';
import { percentile } from './measure.ts';
import { figure, round, writeReport, type Figure } from './report.ts';

const run = promisify(execFile);

const spec = tenantSpecSchema.parse({
  quota: { requests: { cpu: '64', memory: '256Gi', 'nvidia.com/gpu': 8 }, limits: { cpu: '64', memory: '256Gi' }, pods: 100 },
  limitRange: { defaultRequest: { cpu: '500m', memory: '1Gi' }, default: { cpu: '1', memory: '2Gi' } },
  region: 'eu-west',
});

async function timed(work: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await work();
  return performance.now() - t0;
}

const stats = (ms: number[]) => {
  const sorted = [...ms].sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p95: percentile(sorted, 95) };
};

export async function tenantsBenchmark({ quick }: { quick: boolean }): Promise<Figure[]> {
  const samples = quick ? 10 : 50;
  const warmup = 3;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tandem-bench-tenants-'));
  const k8s = await startLocalKubernetes({ stateDir: path.join(dir, 'cluster'), log: (line) => console.log(`[bench tenants] ${line}`) });
  try {
    const cluster = new KubernetesTenantCluster(loadKubeConfig(k8s.kubeconfigPath));
    const kubectl = (file: string) => run(k8s.kubectl, ['--kubeconfig', k8s.kubeconfigPath, 'apply', '--server-side', '--field-manager', 'kubectl-bench', '-f', file]);
    const manifestsOf = (ns: string) => tenantManifests(ns, ns, spec);
    const fileOf = (ns: string) => {
      const m = manifestsOf(ns);
      const file = path.join(dir, `${ns}.json`);
      writeFileSync(file, JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [m.namespace, m.resourceQuota, m.limitRange] }));
      return file;
    };

    const first = { tandem: [] as number[], kubectl: [] as number[] };
    const again = { tandem: [] as number[], kubectl: [] as number[] };
    const drift: number[] = [];
    for (let i = 0; i < warmup + samples; i++) {
      const keep = i >= warmup;
      const ours = `bench-t-${i}`;
      const theirs = `bench-k-${i}`;
      const file = fileOf(theirs);
      const a = await timed(() => cluster.apply(manifestsOf(ours)));
      const b = await timed(() => kubectl(file));
      const c = await timed(() => cluster.apply(manifestsOf(ours)));
      const d = await timed(() => kubectl(file));
      let found = -1;
      const e = await timed(async () => {
        found = tenantDrift(manifestsOf(ours), await cluster.live(ours)).length;
      });
      if (found !== 0) throw new Error(`drift after an apply in ${ours}: ${found} field(s)`);
      if (keep) {
        first.tandem.push(a);
        first.kubectl.push(b);
        again.tandem.push(c);
        again.kubectl.push(d);
        drift.push(e);
      }
    }
    const f = { first: stats(first.tandem), firstK: stats(first.kubectl), again: stats(again.tandem), againK: stats(again.kubectl), drift: stats(drift) };
    const note = `${samples} samples after ${warmup} warm-up rounds; kubectl times include its process start`;
    const figures = [
      figure({ metric: 'first_apply_p50', unit: 'ms', value: f.first.p50, baseline: 'kubectl apply --server-side', baseline_value: round(f.firstK.p50), note }),
      figure({ metric: 'first_apply_p95', unit: 'ms', value: f.first.p95, baseline: 'kubectl apply --server-side', baseline_value: round(f.firstK.p95) }),
      figure({ metric: 'reapply_unchanged_p50', unit: 'ms', value: f.again.p50, baseline: 'kubectl apply --server-side', baseline_value: round(f.againK.p50) }),
      figure({ metric: 'reapply_unchanged_p95', unit: 'ms', value: f.again.p95, baseline: 'kubectl apply --server-side', baseline_value: round(f.againK.p95) }),
      figure({ metric: 'drift_read_p50', unit: 'ms', value: f.drift.p50 }),
      figure({ metric: 'drift_read_p95', unit: 'ms', value: f.drift.p95 }),
    ];
    writeReport('tenants', figures);
    return figures;
  } finally {
    await k8s.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
