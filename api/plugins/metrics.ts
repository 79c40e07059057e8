import type { FastifyPluginCallback, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { z } from 'zod';
import { onConflict } from '../../db/optimistic-retry';
import { collectProcessMetrics } from '../../lib/process-metrics';
import { errorResponses } from '../schemas';

declare module 'fastify' {
  interface FastifyInstance {
    metrics: { ordersStarted: Counter<'source' | 'result'>; eagerStarts: Counter<'saga'>; refundsRestarted: Counter };
  }
}

const methods = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];

/** The route's pattern (`/orders/:orderId`), never the raw URL; anything the router did not match is one value. */
function routeLabels(request: FastifyRequest): { route: string; method: string } {
  const route = request.routeOptions.url;
  return { route: route ?? 'unmatched', method: methods.includes(request.method) ? request.method : 'other' };
}

const exposition = { description: 'Prometheus text exposition format', content: { 'text/plain': { schema: z.string() } } };

/** Process, HTTP and intake metrics, served at GET /metrics. */
const metrics: FastifyPluginCallback = (app, _options, done) => {
  const registry = new Registry();
  collectProcessMetrics(registry);
  const ordersStarted = new Counter({
    name: 'orders_start_requests_total',
    help: 'Order start requests by source and result (started, duplicate, conflict, unavailable, overloaded, failed)',
    labelNames: ['source', 'result'] as const,
    registers: [registry],
  });
  const eagerStarts = new Counter({
    name: 'sagas_eager_starts_total',
    help: "Sagas whose first workflow task Temporal handed to this process's own worker (INTAKE_LAYOUT=worker), by saga",
    labelNames: ['saga'] as const,
    registers: [registry],
  });
  const refundsRestarted = new Counter({
    name: 'refunds_restarted_total',
    help: 'Stored refunds whose start never came back (a 503, a crash), started by the sweep',
    registers: [registry],
  });
  const conflicts = new Counter({
    name: 'optimistic_lock_conflicts_total',
    help: 'Optimistic-lock races lost in this process, retried or given up on',
    registers: [registry],
  });
  const retries = new Counter({ name: 'optimistic_lock_retries_total', help: 'Lost optimistic-lock races retried in this process', registers: [registry] });
  const unsubscribe = onConflict((outcome) => {
    conflicts.inc();
    if (outcome === 'retried') retries.inc();
  });
  app.addHook('onClose', (_app, next) => {
    unsubscribe();
    next();
  });
  const requests = new Counter({
    name: 'http_requests_total',
    help: 'HTTP requests answered, by route pattern, method and status code',
    labelNames: ['route', 'method', 'status_code'] as const,
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'Time from receiving a request to sending its answer, by route pattern, method and status code',
    labelNames: ['route', 'method', 'status_code'] as const,
    registers: [registry],
  });
  app.addHook('onResponse', (request, reply, next) => {
    const labels = { ...routeLabels(request), status_code: String(reply.statusCode) };
    requests.inc(labels);
    latency.observe(labels, reply.elapsedTime / 1000);
    next();
  });
  new Gauge({
    name: 'intake_backlog_sagas',
    help: 'Sagas started and not yet waiting, confirmed or cancelled, as last counted for admission',
    registers: [registry],
    collect() {
      this.set(app.admission.backlog);
    },
  });
  app.decorate('metrics', { ordersStarted, eagerStarts, refundsRestarted });
  app.get(
    '/metrics',
    { schema: { tags: ['operations'], summary: 'Prometheus metrics', response: { 200: exposition, ...errorResponses(401) } } },
    async (_request, reply) => reply.header('content-type', registry.contentType).send(await registry.metrics()),
  );
  done();
};

export default fp(metrics, { name: 'metrics', dependencies: ['admission'], fastify: '5.x' });
