/** Job scripts for runner and gpu.batch tests. */
import path from 'node:path';

/** `node checkpointing-job.ts <total> <stepMs> <log> [exitCode]`, see the file. */
export const checkpointingJob = path.join(import.meta.dirname, 'checkpointing-job.ts');
