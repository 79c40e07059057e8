import { Client, Connection, type ClientInterceptors } from '@temporalio/client';

/**
 * A lazy client connection: processes start even while Temporal is down, and reconnect within about
 * two seconds once it is back, instead of gRPC's default backoff of up to two minutes.
 */
export function createTemporalClient({
  address,
  namespace,
  interceptors,
  grpcRetries = true,
}: {
  address: string;
  namespace: string;
  /** Tracing's, when on (tracing/). */
  interceptors?: ClientInterceptors | undefined;
  /**
   * Off for calls that must end at their deadline: the SDK's retry interceptor keeps a retry timer past it,
   * which throws once the connection is closed.
   */
  grpcRetries?: boolean;
}): { client: Client; connection: Connection } {
  const connection = Connection.lazy({
    address,
    connectTimeout: '3 seconds',
    channelArgs: { 'grpc.initial_reconnect_backoff_ms': 250, 'grpc.max_reconnect_backoff_ms': 2_000 },
    ...(grpcRetries ? {} : { interceptors: [] }),
  });
  return { client: new Client({ connection, namespace, ...(interceptors ? { interceptors } : {}) }), connection };
}
