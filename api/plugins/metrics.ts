import type { FastifyInstance } from 'fastify';
import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import { conflictStats } from '../../activities/optimistic-retry';

declare module 'fastify' {
  interface FastifyInstance {
    metrics: { ordersStarted: Counter<'source' | 'result'> };
  }
}

export function registerMetrics(app: FastifyInstance): void {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const ordersStarted = new Counter({
    name: 'orders_start_requests_total',
    help: 'Order start requests by source and result (started, duplicate, conflict, unavailable)',
    labelNames: ['source', 'result'] as const,
    registers: [registry],
  });
  new Gauge({
    name: 'optimistic_lock_retries_total',
    help: 'Lost optimistic-lock races retried in this process',
    registers: [registry],
    collect() {
      this.set(conflictStats.retried);
    },
  });
  app.decorate('metrics', { ordersStarted });
  app.get('/metrics', { schema: { hide: true } }, async (_request, reply) =>
    reply.header('content-type', registry.contentType).send(await registry.metrics()),
  );
}
