/** What the integration tier's global setup hands to every test file (`inject('stack')`). */
export interface StackInfo {
  stateDir: string;
  apiUrl: string;
  airflowUrl: string;
  temporalAddress: string;
  temporalNamespace: string;
  taskQueue: string;
  adminKey: string;
  serviceKey: string;
  /** The human admin of Airflow (not tandem: tandem calls Airflow as `airflowTandemUser`). */
  airflowUser: string;
  airflowPassword: string;
  /** tandem's own Airflow user, the one a parked hand-off is assigned to. */
  airflowTandemUser: string;
  dagsFolder: string;
}

/** What the kubernetes tier's global setup hands to every test file (`inject('kubernetes')`). */
export interface KubernetesInfo {
  /** https://127.0.0.1:<port> */
  server: string;
  /** Admin kubeconfig of the local cluster. */
  kubeconfigPath: string;
  /** kubectl built from the same Kubernetes module. */
  kubectl: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    stack: StackInfo;
    kubernetes: KubernetesInfo;
    /** The vitest tier (project) a test file runs in; see vitest.config.ts. */
    tier: 'unit' | 'temporal' | 'postgres' | 'kubernetes' | 'integration';
  }
}
