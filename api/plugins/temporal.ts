import type { Client } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import { createTemporalClient } from '../../lib/temporal-client';

declare module 'fastify' {
  interface FastifyInstance {
    temporal: Client;
  }
}

export function registerTemporal(app: FastifyInstance, options: { address: string; namespace: string }): void {
  const { client, connection } = createTemporalClient(options);
  app.decorate('temporal', client);
  app.addHook('onClose', async () => connection.close());
}
