/**
 * The tenant service as `fastify.tenants`, for the /v1/tenants routes
 * (services/tenants/tenant-service.ts), applying to the cluster the app was given (none: tenants
 * are stored and their settings used, nothing is applied).
 */
import fp from 'fastify-plugin';
import { namespaceFor } from '../../../kubernetes/namespaces.ts';
import type { TenantCluster } from '../../../tenants/cluster.ts';
import { TenantService } from '../../../tenants/tenant-service.ts';

declare module 'fastify' {
  interface FastifyInstance {
    tenants: TenantService;
  }
}

export interface TenantsPluginOptions {
  cluster: TenantCluster | null;
}

export default fp<TenantsPluginOptions>(
  async (fastify, { cluster }) => {
    const { namespacePrefix } = fastify.tandemConfig.kubernetes;
    fastify.decorate(
      'tenants',
      new TenantService({
        tenants: fastify.store.tenants,
        audit: fastify.store.audit,
        cluster,
        defaultNamespace: (department) => namespaceFor(department, namespacePrefix),
        regions: fastify.temporal.regions.names,
        log: fastify.log.child({ component: 'tenants' }),
      }),
    );
  },
  { name: 'tenants', fastify: '5.x', dependencies: ['store', 'temporal'] },
);
