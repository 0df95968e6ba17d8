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
 * dev server or cluster gets it). False when the server cannot hold custom search attributes:
 * workflows then start without it and listing by department is unavailable.
 */
export async function registerDepartmentSearchAttribute(client: Client): Promise<boolean> {
  const { namespace } = client.options;
  try {
    const existing = await client.connection.operatorService.listSearchAttributes({ namespace });
    if (existing.customAttributes?.[departmentSearchAttribute.name] !== undefined) return true;
    await client.connection.operatorService.addSearchAttributes({
      namespace,
      searchAttributes: { [departmentSearchAttribute.name]: INDEXED_VALUE_TYPE_KEYWORD },
    });
    return true;
  } catch (err) {
    if ((err as { code?: number }).code === GRPC_UNIMPLEMENTED) return false;
    throw err;
  }
}
