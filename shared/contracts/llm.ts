/**
 * The `llm.complete` durable flow: one chat completion through the worker's LLM activity, with
 * the llmCall retry policy (transient errors and rate limits retried, model errors not) and the
 * starter's department paying from its token budget. Pure: zod only.
 */
import { z } from 'zod';

export const llmChatMessageSchema = z
  .object({
    role: z.enum(['system', 'user', 'assistant']),
    content: z.string().min(1).max(400_000),
  })
  .strict();

export const llmCompleteInputSchema = z
  .object({
    messages: z.array(llmChatMessageSchema).min(1).max(500).describe('The conversation, oldest first'),
    model: z.string().min(1).max(200).optional().describe('Defaults to the configured TANDEM_LLM_MODEL'),
    maxTokens: z.number().int().positive().max(1_000_000).optional(),
    temperature: z.number().min(0).max(2).optional(),
  })
  .strict()
  .meta({ id: 'LlmCompleteInput' });
export type LlmCompleteInput = z.infer<typeof llmCompleteInputSchema>;

export const llmCompleteResultSchema = z
  .object({
    content: z.string(),
    finishReason: z.string(),
    model: z.string(),
    usage: z.object({ promptTokens: z.number().int(), completionTokens: z.number().int(), totalTokens: z.number().int() }),
  })
  .meta({ id: 'LlmCompleteResult' });
export type LlmCompleteResult = z.infer<typeof llmCompleteResultSchema>;
