/** The three things the load drives: the service over REST, the no-op workflow over the client, the classic consumer over Kafka. */
import type { Client } from '@temporalio/client';
import { workflowIdFor } from '../../../domain/order';
import type { Producer } from 'kafkajs';
import { CustomerIdKey, NeedsReviewKey, OrderIdKey, OrderStatusKey } from '../../../contract/saga';
import type { DonePoller } from './done-poller';
import type { Target } from './drive';
import type { OrderKind, Workload } from './workload';

/** POST /orders as a client should: a 503 or 429 is retried with the same key after its Retry-After. */
export async function postOrder(apiUrl: string, body: unknown, key: string): Promise<{ status: number; body: unknown }> {
  for (;;) {
    const response = await fetch(`${apiUrl}/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': key },
      body: JSON.stringify(body),
    });
    const answer = { status: response.status, body: await response.json() };
    if (answer.status !== 503 && answer.status !== 429) return answer;
    const seconds = Number(response.headers.get('retry-after') ?? '1');
    await new Promise((r) => setTimeout(r, (Number.isFinite(seconds) && seconds > 0 ? seconds : 1) * 1_000));
  }
}

/** POST /orders (202 expected, after any pushback), done once the orders row is CONFIRMED; closed once the saga's result arrives. */
export function serviceTarget(apiUrl: string, client: Client, workload: Workload, poller: DonePoller, kind: OrderKind = 'service'): Target {
  return {
    async send(i) {
      const { messageId, ...body } = workload.request(kind, i);
      const answer = await postOrder(apiUrl, body, messageId);
      if (answer.status !== 202) throw new Error(`POST ${messageId}: HTTP ${answer.status} ${JSON.stringify(answer.body).slice(0, 200)}`);
    },
    done: (i) => poller.wait(workload.id(kind, i)),
    closed: async (i) => {
      await client.workflow.getHandle(workflowIdFor(workload.id(kind, i))).result();
      return performance.now();
    },
  };
}

/**
 * Starts a no-op saga with the client directly; done (and closed) when its result arrives. `noopSagaLocal`
 * gets its search attributes at the start, as the service's intake gives them since S9.
 */
export function noopTarget(
  client: Client,
  taskQueue: string,
  workload: Workload,
  workflowType: 'noopSaga' | 'noopSagaLocal',
  kind: 'noop' | 'noopLocal',
): Target {
  const ends = new Map<number, Promise<number>>();
  const end = (i: number) => ends.get(i) ?? Promise.reject(new Error(`noop ${i} was never started`));
  return {
    async send(i) {
      const orderId = workload.id(kind, i);
      const customerId = workload.customer(i);
      const handle = await client.workflow.start(workflowType, {
        taskQueue,
        workflowId: `noop-${orderId}`,
        args: [{ orderId, customerId }],
        ...(workflowType === 'noopSagaLocal'
          ? {
              typedSearchAttributes: [
                { key: OrderIdKey, value: orderId },
                { key: CustomerIdKey, value: customerId },
                { key: OrderStatusKey, value: 'RUNNING' },
                { key: NeedsReviewKey, value: false },
              ],
            }
          : {}),
      });
      const ended = handle.result().then(() => performance.now());
      void ended.catch(() => undefined).finally(() => setTimeout(() => ends.delete(i), 1_000));
      ends.set(i, ended);
    },
    done: end,
    closed: end,
  };
}

/** Produces the order command to the classic consumer's topic (acks -1); done once its orders row exists. */
export function classicTarget(producer: Producer, topic: string, workload: Workload, poller: DonePoller, kind: OrderKind = 'classic'): Target {
  return {
    async send(i) {
      const request = workload.request(kind, i);
      await producer.send({ topic, acks: -1, messages: [{ key: request.customerId, value: JSON.stringify(request) }] });
    },
    done: (i) => poller.wait(workload.id(kind, i)),
  };
}
