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
  airflowUser: string;
  airflowPassword: string;
  dagsFolder: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    stack: StackInfo;
    /** The vitest tier (project) a test file runs in; see vitest.config.ts. */
    tier: 'unit' | 'temporal' | 'postgres' | 'integration';
  }
}
