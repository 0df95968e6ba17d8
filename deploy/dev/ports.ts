/**
 * Picking ports for the processes tandem starts on 127.0.0.1.
 *
 * Linux hands out ephemeral ports (outgoing connections, servers on port 0) from
 * `net.ipv4.ip_local_port_range` (32768–60999 by default). A port picked there as "free" can be
 * taken by somebody's outgoing connection between the check and the bind — a CI run once lost a
 * kube-scheduler that way — so every search here stays below that range.
 */
import { readFileSync } from 'node:fs';
import { portIsFree, StackError } from './supervisor.ts';

/** The first port Linux may hand out as an ephemeral one (32768 where the range cannot be read). */
export function ephemeralRangeStart(): number {
  try {
    const first = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(first) && first > 1024 ? first : 32_768;
  } catch {
    return 32_768;
  }
}

export interface PortSearch {
  /** Where the search starts; random within [from, from + spread) so that searches beside each other rarely meet. */
  from?: number;
  spread?: number;
  /** Ports not to hand out although free now (already promised to another process). */
  exclude?: readonly number[];
}

/** `count` free ports on host (not necessarily consecutive), below the ephemeral range. */
export async function freePorts(host: string, count: number, search: PortSearch = {}): Promise<number[]> {
  const { from = 20_000, spread = 10_000, exclude = [] } = search;
  const end = ephemeralRangeStart();
  const ports: number[] = [];
  for (let port = from + Math.floor(Math.random() * spread); ports.length < count && port < end; port++) {
    if (!exclude.includes(port) && (await portIsFree(host, port))) ports.push(port);
  }
  if (ports.length < count) throw new StackError(`could not find ${count} free ports on ${host} below ${end} (the ephemeral range)`);
  return ports;
}

/** `count` consecutive free ports on host (returns the first), none of them in `exclude`, below the ephemeral range. */
export async function freeConsecutivePorts(host: string, count: number, exclude: readonly number[] = []): Promise<number> {
  const end = ephemeralRangeStart();
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * (end - 20_000 - count));
    let free = true;
    for (let port = base; free && port < base + count; port++) free = !exclude.includes(port) && (await portIsFree(host, port));
    if (free) return base;
  }
  throw new StackError(`could not find ${count} consecutive free ports on ${host}`);
}
