/**
 * The alias names of promoted versions (knowledge-base indexes, models), without zod, so the
 * kb-refresh and model-promotion workflows can import them (see review-terms.ts for why).
 */
export const kbAliasOf = (department: string, dagId: string) => `kb:${department}:${dagId}`;
export const modelAliasOf = (department: string, model: string) => `model:${department}:${model}`;
