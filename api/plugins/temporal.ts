import { Client, Connection } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';

declare module 'fastify' {
  interface FastifyInstance {
    temporal: Client;
  }
}

/** Lazy connection: the API starts (and reports not-ready) even while Temporal is down. */
export function registerTemporal(app: FastifyInstance, { address, namespace }: { address: string; namespace: string }): void {
  const connection = Connection.lazy({ address, connectTimeout: '3 seconds' });
  app.decorate('temporal', new Client({ connection, namespace }));
  app.addHook('onClose', async () => connection.close());
}
