/**
 * A batch job for runner tests: counts steps 1..total, one every stepMs, writing the step number
 * to $TANDEM_CHECKPOINT_FILE after each, and on start resumes after the step found there. Logs
 * `start <n>` and `step <n>` lines to <log>, so tests can tell a resumption from a restart.
 *
 *   node checkpointing-job.ts <total> <stepMs> <log> [exitCode]
 */
import { appendFileSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

const [total = '10', stepMs = '100', log = 'job.log', exitCode = '0'] = process.argv.slice(2);
const checkpointFile = process.env.TANDEM_CHECKPOINT_FILE;
if (!checkpointFile) throw new Error('TANDEM_CHECKPOINT_FILE is not set');

const from = existsSync(checkpointFile) ? Number(readFileSync(checkpointFile, 'utf8').trim()) : 0;
appendFileSync(log, `start ${from}\n`);
for (let step = from + 1; step <= Number(total); step += 1) {
  await sleep(Number(stepMs));
  appendFileSync(log, `step ${step}\n`);
  writeFileSync(`${checkpointFile}.tmp`, String(step));
  renameSync(`${checkpointFile}.tmp`, checkpointFile);
}
if (exitCode !== '0') process.stderr.write(`giving up on purpose (exit ${exitCode})\n`);
process.exit(Number(exitCode));
