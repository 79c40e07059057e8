import type { Client } from '@temporalio/client';
import type { FastifyPluginCallback } from 'fastify';
import fp from 'fastify-plugin';
import { createTemporalClient } from '../../lib/temporal-client';

declare module 'fastify' {
  interface FastifyInstance {
    temporal: Client;
  }
}

/** A lazy Temporal client: the API starts while Temporal is down. */
const temporal: FastifyPluginCallback<Parameters<typeof createTemporalClient>[0]> = (app, options, done) => {
  const { client, connection } = createTemporalClient(options);
  app.decorate('temporal', client);
  app.addHook('onClose', async () => connection.close());
  done();
};

export default fp(temporal, { name: 'temporal', fastify: '5.x' });
