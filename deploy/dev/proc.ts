/**
 * The Linux process table, read from /proc: what the supervisor needs to find everything a
 * process forked, and what the benchmarks need to measure a process group's memory. Elsewhere the
 * table is empty and only process-group signals apply.
 */
import { readdirSync, readFileSync } from 'node:fs';

const pageBytes = 4096;

export interface ProcStat {
  pid: number;
  ppid: number;
  pgrp: number;
  session: number;
  /** Start time since boot (clock ticks): tells a process from a later one with the same pid. */
  startTime: string;
  rssBytes: number;
}

export function readStat(pid: number): ProcStat | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) state ppid pgrp session … starttime(22nd) vsize rss(24th)"; comm may contain spaces and parens.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return {
      pid,
      ppid: Number(fields[1]),
      pgrp: Number(fields[2]),
      session: Number(fields[3]),
      startTime: fields[19]!,
      rssBytes: Number(fields[21]) * pageBytes,
    };
  } catch {
    return undefined;
  }
}

/** Every process on the machine. */
export function processTable(): ProcStat[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  return entries.filter((e) => /^\d+$/.test(e)).flatMap((e) => readStat(Number(e)) ?? []);
}
