/** The Kubernetes job runner as the config describes it (`kubernetes.*`, README "Configuration"). */
import type { TandemConfig } from '../../shared/config.ts';
import { parseSpotLabel, parseSpotTaint } from './job-manifest.ts';
import { KubernetesJobRunner, loadKubeConfig } from './kubernetes-job-runner.ts';
import { namespaceFor, type NamespaceResolver } from './namespaces.ts';

export function kubernetesJobRunnerFrom(config: TandemConfig['kubernetes'], overrides: { namespaceFor?: NamespaceResolver } = {}): KubernetesJobRunner {
  return new KubernetesJobRunner({
    kubeConfig: loadKubeConfig(config.kubeconfig),
    namespaceFor: overrides.namespaceFor ?? ((department) => namespaceFor(department, config.namespacePrefix)),
    spot: { label: parseSpotLabel(config.spotNodeLabel), taint: parseSpotTaint(config.spotTaint) },
    ttlSecondsAfterFinished: config.ttlSecondsAfterFinished,
    kueue: config.kueue,
    localQueueFor: () => config.kueueLocalQueue,
  });
}
