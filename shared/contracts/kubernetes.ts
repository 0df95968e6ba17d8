/**
 * Kubernetes vocabulary the contracts check before anything reaches a cluster: container image
 * references, DNS labels (namespaces, names) and resource quantities. Shared by the gpu.batch
 * input, the pipeline spec's `k8s_job` stage and the Kubernetes job runner, so all three refuse
 * the same things with the same words. Pure: zod and arithmetic only.
 */
import { z } from 'zod';

// The image reference grammar of the OCI distribution spec (docker/distribution "reference"):
//   reference := name [":" tag] ["@" digest]
//   name      := [domain "/"] path-component ("/" path-component)*
//   domain    := domain-component ("." domain-component)* [":" port]
const domainComponent = String.raw`(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])`;
const domain = String.raw`(?:${domainComponent}(?:\.${domainComponent})*(?::[0-9]+)?|\[[0-9a-fA-F:]+\](?::[0-9]+)?)`;
const pathComponent = String.raw`[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*`;
const tag = String.raw`[\w][\w.-]{0,127}`;
const digest = String.raw`[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}`;
const imageReferencePattern = new RegExp(String.raw`^(?:${domain}/)?${pathComponent}(?:/${pathComponent})*(?::${tag})?(?:@${digest})?$`);

/** Longest repository name a registry accepts (the part before tag and digest). */
const maxImageNameLength = 255;

export function imageReferenceProblem(image: string): string | undefined {
  if (!imageReferencePattern.test(image)) {
    return 'must be a container image reference such as registry.example.com/team/embedder:1.4 or embedder@sha256:<hex>';
  }
  const name = image.replace(/@.*$/, '').replace(/:[\w][\w.-]*$/, '');
  if (name.length > maxImageNameLength) return `the repository name must be at most ${maxImageNameLength} characters`;
  return undefined;
}

export const imageReferenceSchema = z.string().superRefine((image, ctx) => {
  const problem = imageReferenceProblem(image);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

/** RFC 1123 label: what Kubernetes accepts as a namespace name. */
export const dnsLabelPattern = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
export const dnsLabelSchema = z
  .string()
  .max(63, 'must be at most 63 characters (a DNS label)')
  .regex(dnsLabelPattern, 'must be a DNS label: lower-case letters, digits and "-", starting and ending with a letter or digit');

/** Kubernetes quantities as tandem accepts them: a decimal number and an optional suffix. */
export const quantityPattern = /^\d+(\.\d+)?(m|k|Ki|M|Mi|G|Gi|T|Ti|P|Pi|E|Ei)?$/;

const suffixFactor: Record<string, number> = {
  '': 1,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

/**
 * The value of a quantity in base units (cores, bytes, devices), so "1" and "1000m" compare
 * equal and quota arithmetic can add them. Throws on anything but the pattern above (also what
 * the API server reports back, e.g. "8Gi", "500m", "4").
 */
export function quantityValue(quantity: string | number): number {
  if (typeof quantity === 'number') return quantity;
  const match = /^(\d+(?:\.\d+)?)([a-zA-Z]*)$/.exec(quantity.trim());
  const factor = match ? suffixFactor[match[2]!] : undefined;
  if (!match || factor === undefined) throw new Error(`"${quantity}" is not a Kubernetes quantity tandem understands`);
  return Number(match[1]) * factor;
}

/** A quantity for a message: cores and devices as they are, bytes in Gi/Mi when whole. */
export function formatQuantity(value: number, resource: string): string {
  const rounded = (n: number) => String(Math.round(n * 1000) / 1000);
  if (!/memory|storage/.test(resource)) return rounded(value);
  if (value >= 2 ** 30 && value % 2 ** 30 === 0) return `${value / 2 ** 30}Gi`;
  if (value >= 2 ** 20 && value % 2 ** 20 === 0) return `${value / 2 ** 20}Mi`;
  return rounded(value);
}
