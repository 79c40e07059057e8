import { Client, type ConnectionLike } from '@temporalio/client';
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
type Options = Parameters<typeof createTemporalClient>[0] & {
  /** An order worker's native connection, which its owner closes: starts through it may run eagerly on that worker. */
  workerConnection?: ConnectionLike | undefined;
};

const temporal: FastifyPluginCallback<Options> = (app, { workerConnection, ...options }, done) => {
  const { client, connection } = workerConnection
    ? {
        client: new Client({
          connection: workerConnection,
          namespace: options.namespace,
          ...(options.interceptors ? { interceptors: options.interceptors } : {}),
        }),
        connection: undefined,
      }
    : createTemporalClient(options);
  app.decorate('temporal', client);
  app.decorate('eagerStart', Boolean(workerConnection));
  app.addHook('onClose', async () => {
    await connection?.close();
  });
  done();
};

export default fp(temporal, { name: 'temporal', fastify: '5.x' });
