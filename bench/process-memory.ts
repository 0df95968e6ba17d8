/**
 * Memory of whole process groups, read from /proc (Linux). Reported as PSS (proportional set
 * size): Airflow's scheduler forks executor workers that share most pages with it, and summing
 * their RSS would count those pages eight times over.
 */
import { readdirSync, readFileSync } from 'node:fs';

const pageBytes = 4096;

interface ProcStat {
  pid: number;
  pgrp: number;
  rssBytes: number;
}

function readStat(pid: string): ProcStat | undefined {
  try {
    const raw = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces; everything after the last ')' is fixed-width.
    const rest = raw.slice(raw.lastIndexOf(')') + 2).split(' ');
    return { pid: Number(pid), pgrp: Number(rest[2]), rssBytes: Number(rest[21]) * pageBytes };
  } catch {
    return undefined;
  }
}

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
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readStat(entry);
    if (stat && stat.pgrp === leader) total += pssBytes(stat.pid) ?? stat.rssBytes;
  }
  return total;
}

export const mib = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10;
