/**
 * The rules a valid pipeline spec must also follow before it is deployed: GPU (and a k8s_job's
 * cpu and memory) requests equal limits, a valid image reference and namespace, batch GPU work runs off-peak, a knowledge-base refresh ends with an evaluation, spot
 * only for fault-tolerant stages. Errors block the deploy; warnings are returned with it. Every
 * finding names the spec path to change.
 */
import nodeCron from 'node-cron';
import type { OffPeakWindow, TandemConfig } from '../../shared/config.ts';
import type { PipelineSpec, PipelineStage } from '../../shared/contracts/pipeline-spec.ts';
import { handoffWaitOf } from '../../shared/contracts/workflow-types.ts';
import { dnsLabelSchema, imageReferenceProblem, quantityValue } from '../../shared/contracts/kubernetes.ts';
import { clockOf, convertWallClock, insideWindow } from '../../shared/off-peak-window.ts';
import { namespaceFor, type NamespaceResolver } from '../kubernetes/namespaces.ts';

export { insideWindow };

export interface Finding {
  severity: 'error' | 'warning';
  /** Bracket form, e.g. `stages[2].resources.gpu`. */
  path: string;
  rule: LintRule;
  message: string;
}

export const lintRules = {
  'gpu-requests-equal-limits': 'A GPU stage requests exactly the GPUs it is limited to (nvidia.com/gpu requests = limits).',
  'gpu-off-peak': "A pipeline with GPU stages is scheduled only inside its department's off-peak window.",
  'spot-needs-fault-tolerant': 'Only stages marked faultTolerant may run on spot/preemptible nodes.',
  'k8s-job-requests-equal-limits': 'A k8s_job requests exactly the cpu and memory it is limited to (the Guaranteed QoS class).',
  'k8s-job-image': 'A k8s_job names a valid container image reference.',
  'k8s-job-namespace': "The department's Kubernetes namespace is a valid DNS label.",
  'knowledge-base-ends-with-evaluation': 'A pipeline that refreshes a knowledge base ends with evaluation stages only.',
  'k8s-job-cpu-memory': '(warning) A k8s_job sets cpu and memory requests and limits, so department quotas can place it.',
  'no-sources': '(warning) A pipeline without sources cannot skip unchanged partitions: every run runs everything.',
  'handoff-wait': '(warning) A hand-off whose workflow waits on people parks its task rather than holding a trigger in the triggerer.',
} as const;
export type LintRule = keyof typeof lintRules;

/**
 * A window with a time zone is the tenant's own (`/v1/tenants`): the schedule's times are
 * converted to that zone. A configured window has none and is read in the schedule's time zone.
 */
export type LintWindow = OffPeakWindow & { timezone?: string };

export interface LintOptions {
  /** Off-peak window per department; departments not listed use `offPeak`. */
  offPeakWindows?: Record<string, LintWindow>;
  /** Default 01:00–05:00. */
  offPeak?: OffPeakWindow;
  /** Department → Kubernetes namespace of its k8s_job stages; default `tandem-<department>`. */
  namespaceFor?: NamespaceResolver;
}

export const defaultOffPeak: OffPeakWindow = { start: '01:00', end: '05:00' };

export function lintOptionsFrom(config: Pick<TandemConfig, 'pipelines' | 'kubernetes'>): LintOptions {
  return {
    offPeak: config.pipelines.offPeak,
    offPeakWindows: config.pipelines.offPeakByDepartment,
    namespaceFor: (department) => namespaceFor(department, config.kubernetes.namespacePrefix),
  };
}

const clock = clockOf;

/**
 * Two days on either side of daylight saving: a schedule's time that lands inside the window's
 * zone on both is inside all year (the offset between two zones takes at most two values).
 */
const referenceDays = [new Date('2026-01-15T00:00:00Z'), new Date('2026-07-15T00:00:00Z')];

/** The schedule's times of day that fall outside the window, as the schedule's own clock reads them. */
function timesOutside(times: number[], scheduleZone: string, window: LintWindow): number[] {
  const zone = window.timezone;
  if (!zone || zone === scheduleZone) return times.filter((t) => !insideWindow(t, window));
  return times.filter((t) => referenceDays.some((day) => !insideWindow(convertWallClock(t, scheduleZone, zone, day), window)));
}

/** The times of day (minutes after midnight, ascending) at which a 5-field cron fires. */
export function cronTimesOfDay(cron: string): number[] {
  const { hour, minute } = nodeCron.parse(cron.trim());
  return hour.flatMap((h) => minute.map((m) => h * 60 + m)).sort((a, b) => a - b);
}

function usesGpu(stage: PipelineStage): boolean {
  return stage.kind === 'k8s_job' && ((stage.resources.gpu?.requests ?? 0) > 0 || (stage.resources.gpu?.limits ?? 0) > 0);
}

export function lintPipeline(spec: PipelineSpec, options: LintOptions = {}): Finding[] {
  const findings: Finding[] = [];
  const add = (severity: Finding['severity'], rule: LintRule, path: string, message: string) =>
    findings.push({ severity, rule, path, message });

  spec.stages.forEach((stage, i) => {
    if (stage.kind !== 'k8s_job') return;
    const { gpu, spot, faultTolerant, cpu, memory } = stage.resources;
    if (gpu && gpu.requests !== gpu.limits) {
      add('error', 'gpu-requests-equal-limits', `stages[${i}].resources.gpu`, `limits must equal requests (requests ${gpu.requests}, limits ${gpu.limits})`);
    }
    for (const [resource, pair] of [['cpu', cpu], ['memory', memory]] as const) {
      if (pair && quantityValue(pair.requests) !== quantityValue(pair.limits)) {
        add('error', 'k8s-job-requests-equal-limits', `stages[${i}].resources.${resource}`, `limits must equal requests (requests ${pair.requests}, limits ${pair.limits})`);
      }
    }
    const imageProblem = imageReferenceProblem(stage.image);
    if (imageProblem) add('error', 'k8s-job-image', `stages[${i}].image`, `"${stage.image}" ${imageProblem}`);
    if (spot && !faultTolerant) {
      add('error', 'spot-needs-fault-tolerant', `stages[${i}].resources.spot`, 'spot nodes may be reclaimed at any time: set faultTolerant: true (the job survives a restart) or spot: false');
    }
    if (!cpu || !memory) {
      const missing = [!cpu && 'cpu', !memory && 'memory'].filter(Boolean).join(' and ');
      add('warning', 'k8s-job-cpu-memory', `stages[${i}].resources`, `no ${missing} requests/limits: the department's ResourceQuota may refuse the job or it may be evicted under pressure`);
    }
  });

  if (spec.stages.some((s) => s.kind === 'k8s_job')) {
    const namespace = (options.namespaceFor ?? namespaceFor)(spec.department);
    const valid = dnsLabelSchema.safeParse(namespace);
    if (!valid.success) {
      add('error', 'k8s-job-namespace', 'department', `the k8s_job stages would run in namespace "${namespace}", which ${valid.error.issues[0]!.message}`);
    }
  }

  const gpuStages = spec.stages.filter(usesGpu);
  if (gpuStages.length > 0 && spec.schedule) {
    const window: LintWindow = options.offPeakWindows?.[spec.department] ?? options.offPeak ?? defaultOffPeak;
    const outside = timesOutside(cronTimesOfDay(spec.schedule.cron), spec.schedule.timezone, window);
    if (outside.length > 0) {
      const shown = outside.slice(0, 5).map(clock).join(', ') + (outside.length > 5 ? `, … (${outside.length} in all)` : '');
      add(
        'error',
        'gpu-off-peak',
        'schedule.cron',
        `GPU stage ${gpuStages[0]!.id} must run off-peak, ${window.start}–${window.end} ${window.timezone ?? spec.schedule.timezone} for department ${spec.department}, but this schedule also starts at ${shown} ${spec.schedule.timezone}`,
      );
    }
  }

  if (spec.refreshesKnowledgeBase) {
    const dependedOn = new Set(spec.stages.flatMap((s) => s.dependsOn));
    spec.stages.forEach((stage, i) => {
      if (!dependedOn.has(stage.id) && stage.kind !== 'evaluation') {
        add(
          'error',
          'knowledge-base-ends-with-evaluation',
          `stages[${i}]`,
          `stage ${stage.id} is a last stage of a knowledge-base refresh but not an evaluation: add an evaluation stage that depends on it, so a bad refresh cannot be promoted`,
        );
      }
    });
  }

  spec.stages.forEach((stage, i) => {
    if (stage.kind !== 'handoff' || stage.wait !== 'triggerer' || handoffWaitOf(stage.workflow, 'auto') !== 'parked') return;
    add(
      'warning',
      'handoff-wait',
      `stages[${i}].wait`,
      `${stage.workflow} waits on people, possibly for days: with wait: triggerer each waiting task holds a trigger in Airflow's triggerer; use wait: auto (parked)`,
    );
  });

  if (spec.sources.length === 0) {
    add('warning', 'no-sources', 'sources', 'no sources: nothing tells an unchanged partition from a changed one, so every run runs every partition');
  }
  return findings;
}
