import { portIsFree } from '../../deploy/dev/supervisor.ts';

/** Finds `count` consecutive-ish free ports on host, starting the search at `from`. */
export async function freePorts(host: string, count: number, from = 20_000 + Math.floor(Math.random() * 20_000)): Promise<number[]> {
  const ports: number[] = [];
  for (let port = from; ports.length < count && port < 65_000; port++) {
    if (await portIsFree(host, port)) ports.push(port);
  }
  if (ports.length < count) throw new Error(`could not find ${count} free ports on ${host}`);
  return ports;
}
