import { Client, Connection } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';

declare module 'fastify' {
  interface FastifyInstance {
    temporal: Client;
  }
}

/** Lazy connection: the API starts (and reports not-ready) even while Temporal is down. */
export function registerTemporal(app: FastifyInstance, { address, namespace }: { address: string; namespace: string }): void {
  const connection = Connection.lazy({
    address,
    connectTimeout: '3 seconds',
    // Reconnect quickly once Temporal is back, instead of gRPC's default backoff of up to 2 minutes.
    channelArgs: { 'grpc.initial_reconnect_backoff_ms': 250, 'grpc.max_reconnect_backoff_ms': 2_000 },
  });
  app.decorate('temporal', new Client({ connection, namespace }));
  app.addHook('onClose', async () => connection.close());
}
