import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import type { TenantSpec } from '../../shared/contracts/tenants.ts';
import type { TenantRecord } from '../../shared/store/tenants.ts';
import { RegionalTemporal, RegionNotConfiguredError, type RegionClient } from './regional-temporal.ts';
import { listWorkflowsAcross } from './workflow-state.ts';

const principal = { keyId: 'k', name: 'admin', role: 'admin', department: '*' } as const;

/** A region whose Temporal knows the given workflow ids (describe) and lists the given start times (newest first). */
function fakeRegion(region: string, known: string[] = [], started: number[] = []): RegionClient & { describes: string[]; lists: number } {
  const describes: string[] = [];
  const newestFirst = [...started].sort((a, b) => b - a);
  const fake = {
    region,
    departmentSearchAttribute: true,
    describes,
    lists: 0,
    client: {
      options: { namespace: `ns-${region}` },
      workflow: {
        getHandle: (id: string) => ({
          describe: async () => {
            describes.push(id);
            if (!known.includes(id)) throw new WorkflowNotFoundError('not found', id, undefined);
            return { workflowId: id };
          },
        }),
      },
      workflowService: {
        // Keyset paging as Temporal's visibility does it: the token says where the page starts.
        listWorkflowExecutions: async ({ pageSize, nextPageToken }: { pageSize: number; nextPageToken?: Uint8Array }) => {
          fake.lists += 1;
          const from = nextPageToken ? Number(Buffer.from(nextPageToken).toString()) : 0;
          const slice = newestFirst.slice(from, from + pageSize);
          return {
            executions: slice.map((t) => ({
              execution: { workflowId: `${region}-${t}`, runId: 'r' },
              type: { name: 'reviewWorkflow' },
              status: 1,
              startTime: { seconds: t, nanos: 0 },
            })),
            nextPageToken: from + pageSize < newestFirst.length ? Buffer.from(String(from + pageSize)) : Buffer.alloc(0),
          };
        },
      },
    } as unknown as Client,
  };
  return fake;
}

function tenantsWith(regions: Record<string, string>) {
  return {
    get: async (department: string) =>
      regions[department] ? ({ department, spec: { region: regions[department] } as TenantSpec } as TenantRecord) : undefined,
  };
}

describe('RegionalTemporal', () => {
  it('routes a department to its tenant’s region, and one without a tenant to local', async () => {
    const local = fakeRegion('local');
    const eu = fakeRegion('eu');
    const regions = new RegionalTemporal([local, eu], tenantsWith({ cardiology: 'eu', oncology: 'local' }));
    expect((await regions.forDepartment('cardiology')).region).toBe('eu');
    expect((await regions.forDepartment('oncology')).region).toBe('local');
    expect((await regions.forDepartment('radiology')).region).toBe('local');
    expect(regions.names).toEqual(['local', 'eu']);
  });

  it('refuses a department whose region has no Temporal here with a 409 naming the region and the setting', async () => {
    const regions = new RegionalTemporal([fakeRegion('local')], tenantsWith({ cardiology: 'us-east' }));
    const refusal = await regions.forDepartment('cardiology').catch((err: unknown) => err);
    expect(refusal).toBeInstanceOf(RegionNotConfiguredError);
    expect(refusal).toMatchObject({ status: 409, type: 'urn:tandem:problem:region-not-configured', region: 'us-east' });
    expect((refusal as Error).message).toBe(
      'department cardiology is in region us-east, which has no Temporal configured here (regions served: local); add us-east=host:port/namespace to TANDEM_REGIONS, or move the tenant to a served region',
    );
  });

  it('locates a workflow by id: a department’s region only for its keys, every region for *', async () => {
    const local = fakeRegion('local');
    const eu = fakeRegion('eu', ['review-1']);
    const regions = new RegionalTemporal([local, eu], tenantsWith({ cardiology: 'eu' }));
    expect((await regions.locate('review-1', '*')).region).toBe('eu');
    expect(local.describes).toEqual(['review-1']);
    // Nowhere: local, whose describe then answers not found as before regions.
    expect((await regions.locate('nope', '*')).region).toBe('local');
    // A department's key: its own region, without asking the others.
    local.describes.length = 0;
    eu.describes.length = 0;
    expect((await regions.locate('review-1', 'cardiology')).region).toBe('eu');
    expect([...local.describes, ...eu.describes]).toEqual([]);
  });

  it('finds a workflow while another region is down, and says so when none has it', async () => {
    const down = fakeRegion('eu');
    (down.client.workflow as unknown as { getHandle: () => unknown }).getHandle = () => ({
      describe: async () => {
        throw new Error('14 UNAVAILABLE: connection refused');
      },
    });
    const regions = new RegionalTemporal([fakeRegion('local', ['review-1']), down], tenantsWith({}));
    expect((await regions.locate('review-1', '*')).region).toBe('local');
    // It may be in the region that could not be asked: not a 404.
    await expect(regions.locate('review-2', '*')).rejects.toThrow(/UNAVAILABLE/);
  });
});

describe('listWorkflowsAcross', () => {
  it('merges regions newest first, page after page, with no item repeated or missed however they interleave', async () => {
    // eu's flows cluster in the middle, local's at both ends: pages must switch between them mid-page.
    const local = fakeRegion('local', [], [1, 2, 3, 4, 20, 21, 22, 23, 24]);
    const eu = fakeRegion('eu', [], [10, 11, 12, 13, 14, 15]);
    const seen: string[] = [];
    let positions;
    let pages = 0;
    do {
      const page = await listWorkflowsAcross([local, eu], { principal, pageSize: 4, positions });
      expect(page.workflows.length).toBeLessThanOrEqual(4);
      seen.push(...page.workflows.map((w) => w.workflowId));
      positions = page.next ?? undefined;
      pages += 1;
    } while (positions && pages < 20);
    const expected = [...[1, 2, 3, 4, 20, 21, 22, 23, 24].map((t) => [t, `local-${t}`] as const), ...[10, 11, 12, 13, 14, 15].map((t) => [t, `eu-${t}`] as const)]
      .sort((a, b) => b[0] - a[0])
      .map(([, id]) => id);
    expect(seen).toEqual(expected);
    expect(pages).toBe(4);
  });

  it('is one list call per page for one region, as before regions', async () => {
    const local = fakeRegion('local', [], [1, 2, 3, 4, 5]);
    const first = await listWorkflowsAcross([local], { principal, pageSize: 2 });
    expect(first.workflows.map((w) => w.workflowId)).toEqual(['local-5', 'local-4']);
    const second = await listWorkflowsAcross([local], { principal, pageSize: 2, positions: first.next! });
    expect(second.workflows.map((w) => w.workflowId)).toEqual(['local-3', 'local-2']);
    expect(local.lists).toBe(2);
  });
});
