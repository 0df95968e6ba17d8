/**
 * Data-residency regions: each names the Temporal (endpoint + namespace) where the workflows of
 * the departments in that region run, so a department's flows, hand-offs and reviews never reach
 * another region's history. A tenant (shared/contracts/tenants.ts) names its department's region;
 * a department without a tenant is in `local`.
 *
 * Configured as one compact string, `TANDEM_REGIONS=eu=temporal-eu:7233/tandem,us=temporal-us:7233/tandem`
 * (a comma-separated list of `name=host:port/namespace`), because it fits an environment variable
 * as well as config.json. `local` is always there and is `temporal.address` + `temporal.namespace`:
 * with nothing set, the one region is exactly today's Temporal, so `npm start` does not change.
 *
 * Pure: parsing only; connecting is shared/temporal-connection.ts.
 */

/** The region of every department without a tenant of its own (and the tenant spec's default). */
export const localRegion = 'local';

/** A region name: a lower-case label, as a tenant spec and a Kubernetes label value take it. */
export const regionNamePattern = /^[a-z](?:[a-z0-9-]{0,30}[a-z0-9])?$/;
export const regionNameRule = 'must be a lower-case label such as eu-west or local, at most 32 characters';

export interface TemporalRegion {
  name: string;
  /** `host:port` of the region's Temporal frontend. */
  address: string;
  namespace: string;
}

/** host:port, the host a name, an IPv4 address or a bracketed IPv6 one. */
const addressPattern = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?):\d{1,5}$/;
/** What Temporal accepts as a namespace name. */
const namespacePattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$/;

const form = 'name=host:port/namespace';

/**
 * The regions of a `TANDEM_REGIONS` string, `local` not included. Throws an Error whose message is
 * one line naming the region and the fix (the config loader prefixes the setting).
 */
export function parseRegions(text: string): TemporalRegion[] {
  const regions: TemporalRegion[] = [];
  for (const raw of text.split(',')) {
    const entry = raw.trim();
    if (entry === '') continue;
    const eq = entry.indexOf('=');
    const name = (eq < 0 ? entry : entry.slice(0, eq)).trim();
    if (!regionNamePattern.test(name)) throw new Error(`region name ${JSON.stringify(name)} ${regionNameRule}; write each region as ${form}`);
    if (name === localRegion) {
      throw new Error(`region ${localRegion} is temporal.address + temporal.namespace (TANDEM_TEMPORAL_ADDRESS, TANDEM_TEMPORAL_NAMESPACE); list only the other regions here`);
    }
    if (regions.some((r) => r.name === name)) throw new Error(`region ${name} is listed twice; list each region once`);
    const endpoint = eq < 0 ? '' : entry.slice(eq + 1).trim();
    const slash = endpoint.indexOf('/');
    const address = (slash < 0 ? endpoint : endpoint.slice(0, slash)).trim();
    const namespace = slash < 0 ? '' : endpoint.slice(slash + 1).trim();
    if (address === '') throw new Error(`region ${name} has no Temporal endpoint; write it as ${name}=host:port/namespace`);
    if (!addressPattern.test(address)) throw new Error(`region ${name}: endpoint ${JSON.stringify(address)} is not host:port; write it as ${name}=host:port/namespace`);
    if (namespace === '') throw new Error(`region ${name} names no Temporal namespace; write it as ${name}=${address}/<namespace>`);
    if (!namespacePattern.test(namespace)) throw new Error(`region ${name}: ${JSON.stringify(namespace)} is not a Temporal namespace name (letters, digits, ".", "_", "-")`);
    regions.push({ name, address, namespace });
  }
  return regions;
}

/**
 * Every region this process serves, `local` first. Throws when two regions are one namespace on
 * one server: their workflows would share a history, which is what a region exists to prevent.
 */
export function temporalRegions(config: { temporal: { address: string; namespace: string; regions?: string | undefined } }): TemporalRegion[] {
  const { address, namespace, regions } = config.temporal;
  const all = [{ name: localRegion, address, namespace }, ...parseRegions(regions ?? '')];
  for (const [i, a] of all.entries()) {
    const twin = all.slice(0, i).find((b) => b.address === a.address && b.namespace === a.namespace);
    if (twin) throw new Error(`regions ${twin.name} and ${a.name} are both namespace ${a.namespace} at ${a.address}; give each region a namespace of its own`);
  }
  return all;
}
