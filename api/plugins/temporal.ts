import type { Client } from '@temporalio/client';
import type { FastifyPluginCallback } from 'fastify';
import fp from 'fastify-plugin';
import { createTemporalClient } from '../../lib/temporal-client';

declare module 'fastify' {
  interface FastifyInstance {
    temporal: Client;
    /** True when `temporal` shares its connection with an order worker in this process (INTAKE_LAYOUT=worker). */
    eagerStart: boolean;
  }
}

/** A lazy Temporal client: the API starts while Temporal is down. */
type Options = Parameters<typeof createTemporalClient>[0];

const temporal: FastifyPluginCallback<Options> = (app, options, done) => {
  const { client, close } = createTemporalClient(options);
  app.decorate('temporal', client);
  app.decorate('eagerStart', Boolean(options.workerConnection));
  app.addHook('onClose', close);
  done();
};

export default fp(temporal, { name: 'temporal', fastify: '5.x' });
