/**
 * Kubernetes resource quantities as numbers, to compare what tandem applied ("1000m", "0.5") with
 * what the API server returns in its canonical form ("1", "500m"). Only the forms the tenant
 * contract accepts: a decimal with an optional SI or binary suffix.
 */
const multipliers: Record<string, number> = {
  '': 1,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
};

/** The value of a quantity, or undefined for text that is not one. */
export function quantityValue(quantity: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)(m|k|M|G|T|P|Ki|Mi|Gi|Ti|Pi)?$/.exec(quantity.trim());
  if (!match) return undefined;
  return Number(match[1]) * multipliers[match[2] ?? '']!;
}

/** Equal as quantities (relative tolerance for floating-point); text that is no quantity compares as text. */
export function sameQuantity(a: string, b: string): boolean {
  const x = quantityValue(a);
  const y = quantityValue(b);
  if (x === undefined || y === undefined) return a === b;
  return Math.abs(x - y) <= 1e-9 * Math.max(Math.abs(x), Math.abs(y), 1e-3);
}
