/**
 * The local cluster's simulated nodes (kwok): on-demand GPU nodes, spot GPU nodes (labelled and
 * tainted the way tandem's default spot placement expects) and one CPU node. Eight on-demand GPUs
 * and four spot GPUs in all: enough for two departments to contend for a quota of eight.
 */
import type { V1Node } from '@kubernetes/client-node';

export const spotLabel = { key: 'tandem.dev/capacity', value: 'spot' } as const;

interface NodeShape {
  name: string;
  cpu: string;
  memory: string;
  gpus: number;
  spot: boolean;
}

const shapes: NodeShape[] = [
  ...[0, 1, 2, 3].map((i) => ({ name: `gpu-${i}`, cpu: '16', memory: '64Gi', gpus: 2, spot: false })),
  ...[0, 1].map((i) => ({ name: `spot-${i}`, cpu: '16', memory: '64Gi', gpus: 2, spot: true })),
  { name: 'cpu-0', cpu: '32', memory: '128Gi', gpus: 0, spot: false },
];

export function simulatedNodes(): V1Node[] {
  return shapes.map((shape) => {
    const capacity: Record<string, string> = { cpu: shape.cpu, memory: shape.memory, pods: '110' };
    if (shape.gpus > 0) capacity['nvidia.com/gpu'] = String(shape.gpus);
    return {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: {
        name: shape.name,
        // kwok manages the nodes carrying this annotation (its --manage-nodes-with-annotation-selector).
        annotations: { 'kwok.x-k8s.io/node': 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
        labels: {
          'kubernetes.io/hostname': shape.name,
          'kubernetes.io/os': 'linux',
          'kubernetes.io/arch': 'amd64',
          'type': 'kwok',
          ...(shape.gpus > 0 ? { 'nvidia.com/gpu.present': 'true' } : {}),
          ...(shape.spot ? { [spotLabel.key]: spotLabel.value } : {}),
        },
      },
      spec: shape.spot ? { taints: [{ key: spotLabel.key, value: spotLabel.value, effect: 'NoSchedule' }] } : {},
      // Nodes, unlike most objects, take their status on create: the capacity the scheduler sees.
      status: { capacity, allocatable: capacity, nodeInfo: fakeNodeInfo() },
    } as V1Node;
  });
}

function fakeNodeInfo() {
  return {
    architecture: 'amd64',
    operatingSystem: 'linux',
    kubeletVersion: 'kwok',
    kubeProxyVersion: 'kwok',
    containerRuntimeVersion: 'kwok',
    kernelVersion: 'kwok',
    osImage: 'kwok',
    bootID: '',
    machineID: '',
    systemUUID: '',
  };
}
