import { readFileSync } from 'node:fs';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { freeKubernetesPorts } from './kubernetes/cluster.ts';
import { ephemeralRangeStart, freeConsecutivePorts, freePorts } from './ports.ts';
import { portIsFree } from './supervisor.ts';

const host = '127.0.0.1';

describe('ports', () => {
  it('reads where Linux starts handing out ephemeral ports', () => {
    const [first] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/);
    expect(ephemeralRangeStart()).toBe(Number(first));
  });

  it('hands out free ports below the ephemeral range, skipping taken and excluded ones', async () => {
    const taken = net.createServer();
    const [from] = await freePorts(host, 1, { spread: 1 });
    await new Promise<void>((resolve) => taken.listen({ host, port: from }, resolve));
    try {
      const ports = await freePorts(host, 4, { from: from!, spread: 1, exclude: [from! + 1] });
      expect(ports).not.toContain(from);
      expect(ports).not.toContain(from! + 1);
      expect(new Set(ports).size).toBe(4);
      for (const port of ports) {
        expect(port).toBeLessThan(ephemeralRangeStart());
        expect(await portIsFree(host, port)).toBe(true);
      }
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  });

  it('gives up with the range when nothing below it is free', async () => {
    await expect(freePorts(host, 2, { from: ephemeralRangeStart() - 1, spread: 1 })).rejects.toThrow(/below \d+ \(the ephemeral range\)/);
  });

  it('finds consecutive free ports', async () => {
    const base = await freeConsecutivePorts(host, 3);
    expect(base + 2).toBeLessThan(ephemeralRangeStart());
    for (const port of [base, base + 1, base + 2]) expect(await portIsFree(host, port)).toBe(true);
  });

  it('keeps the local Kubernetes out of the ephemeral range and of the stack ports search (20000 up)', async () => {
    const ports = Object.values(await freeKubernetesPorts());
    expect(new Set(ports).size).toBe(9);
    for (const port of ports) expect(port).toBeLessThan(20_000);
  });
});
