import { Client, Connection, type ClientInterceptors } from '@temporalio/client';

/**
 * A lazy client connection: processes start even while Temporal is down, and reconnect within about
 * two seconds once it is back, instead of gRPC's default backoff of up to two minutes.
 */
export function createTemporalClient({
  address,
  namespace,
  interceptors,
}: {
  address: string;
  namespace: string;
  /** Tracing's, when on (tracing/). */
  interceptors?: ClientInterceptors | undefined;
}): { client: Client; connection: Connection } {
  const connection = Connection.lazy({
    address,
    connectTimeout: '3 seconds',
    channelArgs: { 'grpc.initial_reconnect_backoff_ms': 250, 'grpc.max_reconnect_backoff_ms': 2_000 },
  });
  return { client: new Client({ connection, namespace, ...(interceptors ? { interceptors } : {}) }), connection };
}
