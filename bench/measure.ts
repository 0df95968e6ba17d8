/** Small measuring helpers shared by the benchmarks: percentiles and a process group's CPU time. */
import { readdirSync, readFileSync } from 'node:fs';

const clockTicks = 100; // USER_HZ on Linux

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Nearest-rank percentile of an ascending list. */
export function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** CPU seconds (user + system) of every process in the group led by `leader`. */
export function groupCpuSeconds(leader: number): number {
  let ticks = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const raw = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const rest = raw.slice(raw.lastIndexOf(')') + 2).split(' ');
      if (Number(rest[2]) === leader) ticks += Number(rest[11]) + Number(rest[12]);
    } catch {
      // exited meanwhile
    }
  }
  return ticks / clockTicks;
}

/** CPU use of the group led by `leader` over the next `ms`, in % of one core. */
export async function groupCpuPercent(leader: number, ms: number): Promise<number> {
  const before = groupCpuSeconds(leader);
  await sleep(ms);
  return ((groupCpuSeconds(leader) - before) / (ms / 1000)) * 100;
}

/** Runs `task` over `items` with at most `limit` in flight. */
export async function pool<T>(items: T[], limit: number, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) await task(items[next++]!);
    }),
  );
}
