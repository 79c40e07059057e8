import type { FastifyPluginCallback } from 'fastify';
import fp from 'fastify-plugin';
import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import { z } from 'zod';
import { conflictStats } from '../../db/optimistic-retry';
import { errorResponses } from '../schemas';

declare module 'fastify' {
  interface FastifyInstance {
    metrics: { ordersStarted: Counter<'source' | 'result'> };
  }
}

const exposition = { description: 'Prometheus text exposition format', content: { 'text/plain': { schema: z.string() } } };

/** Process and intake metrics, served at GET /metrics. */
const metrics: FastifyPluginCallback = (app, _options, done) => {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const ordersStarted = new Counter({
    name: 'orders_start_requests_total',
    help: 'Order start requests by source and result (started, duplicate, conflict, unavailable, overloaded)',
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
  new Gauge({
    name: 'intake_backlog_sagas',
    help: 'Sagas started and not yet waiting, confirmed or cancelled, as last counted for admission',
    registers: [registry],
    collect() {
      this.set(app.admission.backlog);
    },
  });
  app.decorate('metrics', { ordersStarted });
  app.get(
    '/metrics',
    { schema: { tags: ['operations'], summary: 'Prometheus metrics', response: { 200: exposition, ...errorResponses(401) } } },
    async (_request, reply) => reply.header('content-type', registry.contentType).send(await registry.metrics()),
  );
  done();
};

export default fp(metrics, { name: 'metrics', dependencies: ['admission'], fastify: '5.x' });
