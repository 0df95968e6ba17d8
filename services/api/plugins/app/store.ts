/** Makes the control-plane store available as `fastify.store`, and closes it with the app. */
import fp from 'fastify-plugin';
import type { Store } from '../../../../shared/store/store.ts';

declare module 'fastify' {
  interface FastifyInstance {
    store: Store;
  }
}

export interface StorePluginOptions {
  store: Store;
}

export default fp<StorePluginOptions>(
  async (fastify, { store }) => {
    fastify.decorate('store', store);
    fastify.addHook('onClose', async () => {
      await store.close();
    });
  },
  { name: 'store', fastify: '5.x' },
);
