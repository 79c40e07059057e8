import { randomUUID } from 'node:crypto';
import { Client, Connection, WorkflowNotFoundError } from '@temporalio/client';
import { bundleWorkflowCode, NativeConnection, type Worker } from '@temporalio/worker';
import { workflowIdFor } from '../../domain/order';
import type { orderSaga } from '../../workflows/order-saga';
import { createOrderWorker, workflowsPath } from '../../worker/create-worker';
import type { Pool } from '../../db/pool';
import { createTestDatabase } from './database';
import { createDevServer } from './dev-server';
import { quietBundlerLogger } from './loggers';

/** A fresh database, a real Temporal dev server and an order worker on its own task queue. */
export async function startRealStack() {
  const taskQueue = `orders-${randomUUID().slice(0, 8)}`;
  const parts = await Promise.allSettled([createTestDatabase(), createDevServer(), bundleWorkflowCode({ workflowsPath, logger: quietBundlerLogger })]);
  const failed = parts.find((p): p is PromiseRejectedResult => p.status === 'rejected');
  if (failed) {
    // Leave no server behind when one part could not start.
    if (parts[0].status === 'fulfilled') await parts[0].value.drop().catch(() => undefined);
    if (parts[1].status === 'fulfilled') await parts[1].value.stop().catch(() => undefined);
    throw failed.reason;
  }
  const [db, temporal, bundle] = parts.map((p) => (p as PromiseFulfilledResult<unknown>).value) as [
    Awaited<ReturnType<typeof createTestDatabase>>,
    Awaited<ReturnType<typeof createDevServer>>,
    Awaited<ReturnType<typeof bundleWorkflowCode>>,
  ];
  const connection = await Connection.connect({ address: temporal.address });
  const client = new Client({ connection });
  const workerConnection = await NativeConnection.connect({ address: temporal.address });
  const worker: Worker = await createOrderWorker({ connection: workerConnection, taskQueue, workflowBundle: bundle, pool: db.pool });
  const workerDone = worker.run();

  return {
    db,
    temporal,
    client,
    taskQueue,
    /** Another order worker, on another task queue, with the same bundle (and its own pool, if given). */
    async startWorker(queue: string, { pool = db.pool }: { pool?: Pool } = {}): Promise<{ stop(): Promise<void> }> {
      const extra = await createOrderWorker({ connection: workerConnection, taskQueue: queue, workflowBundle: bundle, pool });
      const done = extra.run();
      return {
        async stop() {
          extra.shutdown();
          await done;
        },
      };
    },
    async result(orderId: string): Promise<unknown> {
      return client.workflow.getHandle<typeof orderSaga>(workflowIdFor(orderId)).result();
    },
    async workflowExists(orderId: string): Promise<boolean> {
      try {
        await client.workflow.getHandle(workflowIdFor(orderId)).describe();
        return true;
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) return false;
        throw err;
      }
    },
    async stop() {
      worker.shutdown();
      await workerDone;
      await workerConnection.close();
      await connection.close();
      await temporal.stop();
      await db.drop();
    },
  };
}
export type RealStack = Awaited<ReturnType<typeof startRealStack>>;
