import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { roles } from '../../../../../shared/contracts/roles.ts';
import { versionSchema } from '../../../../../shared/contracts/system.ts';
import { tandemVersion } from '../../../version.ts';

const versionRoutes: FastifyPluginAsyncZod = async (fastify) => {
  fastify.get(
    '',
    {
      // Behind a key like everything under /v1, but any role may ask: clients check compatibility.
      config: { roles },
      schema: { tags: ['system'], summary: 'tandem and Node.js versions', response: { 200: versionSchema } },
    },
    async () => ({ name: 'tandem' as const, version: tandemVersion, node: process.version }),
  );
};

export default versionRoutes;
