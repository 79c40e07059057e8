import type { Client } from '@temporalio/client';
import type { FastifyPluginCallback } from 'fastify';
import fp from 'fastify-plugin';
import { createTemporalClient } from '../../lib/temporal-client';

declare module 'fastify' {
  interface FastifyInstance {
    temporal: Client;
    /** For waits that end at their deadline (`Prefer: wait`): no gRPC retries, so nothing outlives the request. */
    temporalLongPoll: Client;
  }
}

/** A lazy Temporal client: the API starts while Temporal is down. */
const temporal: FastifyPluginCallback<Parameters<typeof createTemporalClient>[0]> = (app, options, done) => {
  const { client, connection } = createTemporalClient(options);
  const longPoll = createTemporalClient({ ...options, grpcRetries: false });
  app.decorate('temporal', client);
  app.decorate('temporalLongPoll', longPoll.client);
  app.addHook('onClose', async () => {
    await connection.close();
    await longPoll.connection.close();
  });
  done();
};

export default fp(temporal, { name: 'temporal', fastify: '5.x' });
