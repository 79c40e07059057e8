import { InterceptingCall, status as grpcStatus, type Interceptor } from '@grpc/grpc-js';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectProcessedMessage } from '../db/processed-messages';
import { MessageConflictError, startOrder } from '../intake/start-order';
import { startRealStack, type RealStack } from './helpers/real-stack';
import { seed, uniqueIds } from './helpers/seed';

/** Loses the server's answer to every StartWorkflowExecution: the server has started the workflow, the client hears only its own deadline expire. */
const lostStartAnswers: Interceptor = (options, nextCall) => {
  const lost = options.method_definition.path.endsWith('/StartWorkflowExecution');
  return new InterceptingCall(nextCall(options), {
    start(metadata, listener, next) {
      next(metadata, {
        // The message must pass (grpc-js holds the status until it has); a non-OK status makes the client drop it.
        onReceiveMessage: (message, pass) => pass(message),
        onReceiveStatus: (status, pass) => {
          // What the client sees when its deadline expires before the answer arrives.
          if (lost) Object.assign(status, { code: grpcStatus.DEADLINE_EXCEEDED, details: 'Deadline exceeded' });
          pass(status);
        },
      });
    },
  });
};

describe('intake: a start Temporal accepted after the deadline', () => {
  let stack: RealStack;
  let lateClient: Client;
  let connection: Connection;

  beforeAll(async () => {
    stack = await startRealStack();
    connection = await Connection.connect({ address: stack.temporal.address, interceptors: [lostStartAnswers] });
    lateClient = new Client({ connection });
  });
  afterAll(async () => {
    await connection?.close();
    await stack?.stop();
  });

  it('is learned by describing the workflow: answered as started, recorded, and a retry with another body gets its conflict', { timeout: 60_000 }, async () => {
    const ids = uniqueIds('late-start');
    await seed(stack.db.pool, { account: [ids.account, 1_000], skus: [[ids.sku, 2]] });
    const order = { messageId: ids.message, customerId: ids.account, items: [{ sku: ids.sku, quantity: 1, unitPriceCents: 100 }] };

    const started = await startOrder({ client: lateClient, pool: stack.db.pool, taskQueue: stack.taskQueue }, order, 'rest');

    const description = await stack.client.workflow.getHandle(started.workflowId).describe();
    expect(started).toMatchObject({ orderId: ids.message, duplicate: false, runId: description.runId });
    expect((await selectProcessedMessage(stack.db.pool, ids.message))?.run_id).toBe(description.runId);
    expect(await stack.result(ids.message)).toMatchObject({ state: 'CONFIRMED' });

    const changed = { ...order, items: [{ sku: ids.sku, quantity: 2, unitPriceCents: 100 }] };
    await expect(startOrder({ client: stack.client, pool: stack.db.pool, taskQueue: stack.taskQueue }, changed, 'rest')).rejects.toBeInstanceOf(
      MessageConflictError,
    );
  });
});
