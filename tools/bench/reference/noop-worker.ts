/**
 * The no-op reference's worker: its own process and task queue, against the same Temporal server.
 *   TEMPORAL_ADDRESS=… BENCH_NOOP_TASK_QUEUE=bench-noop node --import tsx tools/bench/reference/noop-worker.ts
 */
import path from 'node:path';
import { NativeConnection, Worker } from '@temporalio/worker';
import { createNoopActivities } from './noop-activities';

export const noopTaskQueueDefault = 'bench-noop';

async function main(): Promise<void> {
  const address = process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233';
  const taskQueue = process.env.BENCH_NOOP_TASK_QUEUE ?? noopTaskQueueDefault;
  const connection = await NativeConnection.connect({ address });
  const worker = await Worker.create({
    connection,
    namespace: process.env.TEMPORAL_NAMESPACE ?? 'default',
    taskQueue,
    workflowsPath: path.resolve(__dirname, 'noop-workflow.ts'),
    activities: createNoopActivities(),
  });
  process.stdout.write(`noop worker polling ${taskQueue}\n`);
  await worker.run();
  await connection.close();
}

main().catch((err: unknown) => {
  process.stderr.write(`error: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
