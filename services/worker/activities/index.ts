/**
 * Every activity the worker registers, one module per family. Temporal addresses activities by
 * function name alone, so two families exporting the same name would silently shadow each other
 * on a plain object spread; `registerFamilies` refuses that at start-up instead.
 *
 * Workflows never import this file's values: they use `import type * as … from './<family>.ts'`
 * with `proxyActivities` and a preset from workflows/activity-options.ts.
 */
import * as smoke from './smoke.ts';

type ActivityFunction = (...args: never[]) => Promise<unknown>;
type ActivityFamily = Record<string, ActivityFunction>;

type UnionToIntersection<U> = (U extends unknown ? (u: U) => void : never) extends (i: infer I) => void ? I : never;

export function registerFamilies<F extends Record<string, ActivityFamily>>(families: F): UnionToIntersection<F[keyof F]> {
  const all: ActivityFamily = {};
  const owner = new Map<string, string>();
  for (const [family, fns] of Object.entries(families)) {
    for (const [name, fn] of Object.entries(fns)) {
      const taken = owner.get(name);
      if (taken) throw new Error(`activity "${name}" is exported by both the ${taken} and the ${family} family; rename one`);
      owner.set(name, family);
      all[name] = fn;
    }
  }
  return all as UnionToIntersection<F[keyof F]>;
}

export const activities = registerFamilies({ smoke });
export type Activities = typeof activities;
