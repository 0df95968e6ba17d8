/** Resident memory of whole process groups, read from /proc (Linux). */
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

/** Sum of RSS over every process in the group led by `leader` (the supervisor starts each process as a group leader). */
export function groupRssBytes(leader: number): number {
  let total = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readStat(entry);
    if (stat && stat.pgrp === leader) total += stat.rssBytes;
  }
  return total;
}

export const mib = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10;
