/**
 * Memory of whole process groups, read from /proc (Linux). Reported as PSS (proportional set
 * size): Airflow's scheduler forks executor workers that share most pages with it, and summing
 * their RSS would count those pages eight times over.
 */
import { readFileSync } from 'node:fs';
import { processTable } from '../deploy/dev/proc.ts';

function pssBytes(pid: number): number | undefined {
  try {
    const kib = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1];
    return kib === undefined ? undefined : Number(kib) * 1024;
  } catch {
    return undefined;
  }
}

/**
 * Sum of PSS (falling back to RSS where smaps_rollup is unreadable) over every process in the group
 * led by `leader` (the supervisor starts each process as a group leader).
 */
export function groupMemoryBytes(leader: number): number {
  let total = 0;
  for (const stat of processTable()) if (stat.pgrp === leader) total += pssBytes(stat.pid) ?? stat.rssBytes;
  return total;
}

export const mib = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10;
