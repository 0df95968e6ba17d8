// Fault drills on a stack of this file's own (processes get killed, so never the shared stack):
// one drill per component — kill -9 of its process group at a random point of a hand-off, restart
// — and every hand-off must complete exactly once (see test/support/handoff-faults.ts). The
// benchmark `npm run bench -- handoff-faults` runs the same drill many times per component.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { faultComponents, runDrill, startFaultRig, type FaultRig } from './support/handoff-faults.ts';

let rig: FaultRig;
const log = (line: string) => console.log(`[drill] ${line}`);

beforeAll(async () => {
  rig = await startFaultRig(log);
}, 600_000);

afterAll(async () => {
  await rig?.close();
}, 120_000);

describe('hand-off fault drills: kill -9 at a random point, restart, exactly once', () => {
  for (const component of faultComponents) {
    it(`survives ${component} being killed`, async () => {
      // Somewhere between "run triggered" and "reviews decided": before, during and after the defer.
      const killAtMs = 1_000 + Math.floor(Math.random() * 14_000);
      const downMs = 500 + Math.floor(Math.random() * 3_000);
      const result = await runDrill(rig, { component, killAtMs, downMs }, log);
      log(`${component}: ${result.problems.length ? 'FAILED' : 'ok'} in ${result.totalMs} ms (${result.redeliveries} redeliveries)`);
      expect(result.problems, `${component} killed at ${killAtMs} ms for ${downMs} ms, run ${result.dagRunId}`).toEqual([]);
    }, 420_000);
  }
});
