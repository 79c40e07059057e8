import { Client, Connection, defaultGrpcRetryOptions, makeGrpcRetryInterceptor, type ClientInterceptors, type ConnectionLike } from '@temporalio/client';

export interface TemporalClient {
  client: Client;
  connection: ConnectionLike;
  /** Closes the connection this client owns, once no retry of a failed call is still pending. */
  close: () => Promise<void>;
}

/**
 * A lazy client connection: processes start even while Temporal is down, and reconnect within about
 * two seconds once it is back, instead of gRPC's default backoff of up to two minutes. Given an order
 * worker's native connection instead, the client shares it (starts may then run eagerly on that worker)
 * and leaves closing it to the worker.
 */
export function createTemporalClient({
  address,
  namespace,
  interceptors,
  workerConnection,
}: {
  address: string;
  namespace: string;
  /** Tracing's, when on (tracing/). */
  interceptors?: ClientInterceptors | undefined;
  workerConnection?: ConnectionLike | undefined;
}): TemporalClient {
  const clientOf = (connection: ConnectionLike) => new Client({ connection, namespace, ...(interceptors ? { interceptors } : {}) });
  if (workerConnection) return { client: clientOf(workerConnection), connection: workerConnection, close: () => Promise.resolve() };
  const retries = drainableRetries();
  const connection = Connection.lazy({
    address,
    connectTimeout: '3 seconds',
    channelArgs: { 'grpc.initial_reconnect_backoff_ms': 250, 'grpc.max_reconnect_backoff_ms': 2_000 },
    interceptors: [retries.interceptor],
  });
  return {
    client: clientOf(connection),
    connection,
    close: async () => {
      await retries.drain();
      await connection.close();
    },
  };
}

/**
 * The SDK's retry interceptor, made safe to close under: its retry timers outlive `Connection.close()`, and
 * one firing on a closed channel throws outside any promise ("Channel has been shut down"), which kills the
 * process. Draining stops new retries and waits out the timers already set (at most the 5 s retry cap).
 */
function drainableRetries() {
  const defaults = defaultGrpcRetryOptions();
  let draining = false;
  let lastRetryAt = 0;
  const interceptor = makeGrpcRetryInterceptor({
    retryableDecider: (attempt, status) => !draining && defaults.retryableDecider(attempt, status),
    delayFunction: (attempt, status) => {
      const ms = defaults.delayFunction(attempt, status);
      lastRetryAt = Math.max(lastRetryAt, Date.now() + ms);
      return ms;
    },
  });
  return {
    interceptor,
    async drain() {
      draining = true;
      const wait = lastRetryAt - Date.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait + 50));
    },
  };
}
