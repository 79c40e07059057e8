import { Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { describe, expect, it, vi } from 'vitest';
import { describeDeployment } from '../fleet/deployments';
import { canConnect, waitUntil } from '../tools/stack/servers';
import { npmStart, processesUsing } from './helpers/npm-start';

describe('npm start: the whole embedded stack', () => {
  it(
    'starts every server and a fleet of WORKERS=2, serves the API and UI, and a SIGTERM to npm alone leaves nothing running',
    { timeout: 180_000 },
    async () => {
      // WORKERS=2: the banner lists the fleet, and each worker serves metrics on its own port.
      const stack = await npmStart({ WORKERS: '2' }, 'stack-life-');
      const { stackDir, ports } = stack;
      await stack.untilUp(150_000);
      const output = stack.output();
      expect(output).toContain('saga-orchestrator is up');
      expect(output).toContain(`Temporal Web UI     http://127.0.0.1:${ports.TEMPORAL_UI_PORT}`);
      expect(output).toContain(`Kafka bootstrap     127.0.0.1:${ports.KAFKA_PORT}`);
      expect(output).toContain(`DATABASE_URL        postgres://postgres@127.0.0.1:${ports.PG_PORT}/orders`);

      // Both workers poll the task queue, each under its own identity (pid@host).
      const pids = [...output.matchAll(/worker-\d \(pid (\d+)\)/g)].map((m) => m[1]);
      expect(output).toMatch(/workers {13}2 on task queue orders: worker-1 \(pid \d+\), worker-2 \(pid \d+\)/);
      const connection = await Connection.connect({ address: `127.0.0.1:${ports.TEMPORAL_PORT}` });
      try {
        const { pollers } = await connection.workflowService.describeTaskQueue({
          namespace: 'default',
          taskQueue: { name: 'orders' },
          taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        });
        expect(pids.every((pid) => (pollers ?? []).some((p) => p.identity?.startsWith(`${pid}@`)))).toBe(true);
        // Pinned by default: the workers run as a Worker Deployment and their build made itself current.
        const deployment = { connection, namespace: 'default', deploymentName: 'saga-orchestrator' };
        await vi.waitFor(async () => expect((await describeDeployment(deployment))?.currentBuildId).toMatch(/^b-[0-9a-f]{12}$/), {
          timeout: 30_000,
          interval: 250,
        });
      } finally {
        await connection.close();
      }

      // Each worker of the fleet serves its metrics on WORKER_METRICS_PORT + n - 1, as the banner says.
      const metricsUrls = {
        consumer: `http://127.0.0.1:${ports.CONSUMER_METRICS_PORT}/metrics`,
        'worker-1': `http://127.0.0.1:${ports.WORKER_METRICS_PORT}/metrics`,
        'worker-2': `http://127.0.0.1:${ports.WORKER_METRICS_PORT + 1}/metrics`,
      };
      expect(output).toContain(`metrics             http://127.0.0.1:${ports.API_PORT}/metrics   (api)`);
      for (const [name, url] of Object.entries(metricsUrls)) {
        expect(output).toContain(`${url}   (${name})`);
        // The consumer has no readiness probe: the banner may come before it listens.
        await waitUntil(url, async () => (await fetch(url)).ok, 30_000);
      }
      for (const url of [metricsUrls['worker-1'], metricsUrls['worker-2']]) expect(await (await fetch(url)).text()).toMatch(/^temporal_num_pollers\{/m);

      expect(await (await fetch(`http://127.0.0.1:${ports.API_PORT}/healthz`)).json()).toEqual({ status: 'ok' });
      expect((await fetch(`http://127.0.0.1:${ports.TEMPORAL_UI_PORT}/`)).ok).toBe(true);
      const ready: unknown = await (await fetch(`http://127.0.0.1:${ports.API_PORT}/readyz`)).json();
      expect(ready).toEqual({ status: 'ready', database: 'ok', temporal: 'ok' });

      await stack.stopAndExpectNothingLeft(60_000);
      for (const [name, port] of Object.entries({ ...ports, WORKER_METRICS_PORT_2: ports.WORKER_METRICS_PORT + 1 }))
        expect(await canConnect(port), `${name} ${port} still bound`).toBe(false);
      expect(processesUsing(stackDir)).toEqual([]);
    },
  );
});
