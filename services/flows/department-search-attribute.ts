/**
 * The `TandemDepartment` search attribute: every workflow tandem starts carries its department
 * as a Keyword, so `GET /v1/workflows` can list one department's flows through Temporal's
 * visibility store. Only the department id goes there — never input, names or anything that could
 * be PHI, since visibility is indexed in plain text.
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import type { Client } from '@temporalio/client';

export const departmentSearchAttribute = defineSearchAttributeKey('TandemDepartment', SearchAttributeType.KEYWORD);

/** temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD (@temporalio/proto is not a direct dependency). */
const INDEXED_VALUE_TYPE_KEYWORD = 2;
/** gRPC UNIMPLEMENTED: the time-skipping test server has no operator service. */
const GRPC_UNIMPLEMENTED = 12;

/**
 * Registers the attribute in the client's namespace unless it is there (at start-up, so a fresh
 * dev server or cluster gets it), and returns once the frontend accepts it. False when the server
 * cannot hold custom search attributes: workflows then start without it and listing by department
 * is unavailable.
 */
export async function registerDepartmentSearchAttribute(client: Client, acceptTimeoutMs = 30_000): Promise<boolean> {
  const { namespace } = client.options;
  try {
    const existing = await client.connection.operatorService.listSearchAttributes({ namespace });
    if (existing.customAttributes?.[departmentSearchAttribute.name] !== undefined) return true;
    await client.connection.operatorService.addSearchAttributes({
      namespace,
      searchAttributes: { [departmentSearchAttribute.name]: INDEXED_VALUE_TYPE_KEYWORD },
    });
  } catch (err) {
    if ((err as { code?: number }).code === GRPC_UNIMPLEMENTED) return false;
    throw err;
  }
  await untilAccepted(client, acceptTimeoutMs);
  return true;
}

/**
 * On SQL visibility (the cluster profile) a just-added attribute is mapped to its column in the
 * namespace record, which the frontend reads through its namespace cache: until that refreshes
 * (1 s there), a start carrying it is refused with "no mapping defined for search attribute". A
 * count query by the attribute goes through the same mapping, without writing anything.
 */
async function untilAccepted(client: Client, timeoutMs: number): Promise<void> {
  const query = `${departmentSearchAttribute.name} = 'registration-probe'`;
  for (const deadline = Date.now() + timeoutMs; ; ) {
    try {
      await client.workflowService.countWorkflowExecutions({ namespace: client.options.namespace, query });
      return;
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`Temporal did not accept the ${departmentSearchAttribute.name} search attribute within ${timeoutMs / 1000} s of adding it`, { cause: err });
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}
