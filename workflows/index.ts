/**
 * Entry point of the workflow bundle: every workflow function the worker can run, exported by
 * the name Temporal knows it by (shared/contracts/workflow-types.ts maps public type names to
 * these). Workflow code only — deterministic, no Node built-ins, no I/O.
 */
export { echoWorkflow } from './smoke/workflow.ts';
export { reviewWorkflow } from './review/workflow.ts';
export { llmCompleteWorkflow } from './llm/workflow.ts';
export { gpuBatchWorkflow } from './gpu-batch/workflow.ts';
export { kbRefreshWorkflow } from './kb-refresh/workflow.ts';
export { modelPromotionWorkflow } from './model-promotion/workflow.ts';
export { pipelineRunWorkflow } from './pipeline-run/workflow.ts';
export { webhookDeliveryWorkflow } from './webhook-delivery/workflow.ts';
