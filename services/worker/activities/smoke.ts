/**
 * The smoke family: the smallest real activity, so a workflow round trip exercises the worker's
 * activity task queue, not only workflow code.
 */
export interface StampEchoInput {
  message: string;
}

export interface StampEchoResult {
  message: string;
  /** ISO-8601, taken on the worker (activities may read the clock; workflows may not). */
  echoedAt: string;
}

export async function stampEcho({ message }: StampEchoInput): Promise<StampEchoResult> {
  return { message, echoedAt: new Date().toISOString() };
}
