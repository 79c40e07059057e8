import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyInstance } from 'fastify';
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import type { ConnectionLike } from '@temporalio/client';
import type { Config } from '../config';
import { openApiOptions } from './openapi';
import { loggerOptions } from '../lib/logger';
import { secretsOf } from '../lib/redact';
import type { Tracing } from '../tracing';
import admission from './plugins/admission';
import auth from './plugins/auth';
import { clientErrorHandler } from './plugins/client-errors';
import database from './plugins/database';
import errors, { frameworkErrors } from './plugins/errors';
import json from './plugins/json';
import logIds from './plugins/log-ids';
import metrics from './plugins/metrics';
import orderEndings from './plugins/order-endings';
import refundRestarts from './plugins/refund-restarts';
import shutdown from './plugins/shutdown';
import temporal from './plugins/temporal';
import { registerAccountRoutes } from './routes/accounts';
import { registerDecisionRoutes } from './routes/decisions';
import { registerHealthRoutes } from './routes/health';
import { registerInventoryRoutes } from './routes/inventory';
import { registerOrderRoutes } from './routes/orders';
import { registerRefundRoutes } from './routes/refunds';
import { registerReviewRoutes } from './routes/reviews';

/** Builds the app without listening, so tests drive it with `app.inject`. */
export async function buildApp(
  config: Config,
  { logger = true, tracing, workerConnection }: { logger?: boolean; tracing?: Tracing; workerConnection?: ConnectionLike } = {},
): Promise<FastifyInstance> {
  const app = Fastify({
    logger: logger ? loggerOptions({ name: 'api', level: config.LOG_LEVEL, secrets: secretsOf(config) }) : false,
    bodyLimit: config.API_BODY_LIMIT_BYTES,
    requestTimeout: config.API_REQUEST_TIMEOUT_MS,
    handlerTimeout: config.API_REQUEST_TIMEOUT_MS,
    // IDs are at most 128 characters: longer ones reach validation (400), absurd ones the router (414), both in the one shape.
    routerOptions: { maxParamLength: 512 },
    frameworkErrors,
    clientErrorHandler,
    // Answered by the shutdown hook instead, with Retry-After and in the one error shape.
    return503OnClosing: false,
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  // Plugins load in this order; each checks that the ones it names in `dependencies` came before it.
  if (tracing) void app.register(tracing.httpPlugin);
  void app.register(errors);
  // Before auth, so that a refused request's lines name the order too.
  void app.register(logIds);
  void app.register(json);
  void app.register(shutdown);
  void app.register(swagger, openApiOptions({ apiKeySet: Boolean(config.API_KEY) }));
  void app.register(swaggerUi, { routePrefix: '/docs' });
  void app.register(rateLimit, { max: config.API_RATE_LIMIT_PER_MINUTE, timeWindow: '1 minute' });
  void app.register(auth, { apiKey: config.API_KEY });
  void app.register(database, {
    connectionString: config.DATABASE_URL,
    max: config.DATABASE_POOL_SIZE,
    queryTimeoutMs: config.DATABASE_QUERY_TIMEOUT_MS,
    onPool: tracing?.tracePool,
  });
  void app.register(orderEndings, { connectionString: config.DATABASE_URL });
  void app.register(temporal, {
    address: config.TEMPORAL_ADDRESS,
    namespace: config.TEMPORAL_NAMESPACE,
    interceptors: tracing?.clientInterceptors,
    workerConnection,
  });
  void app.register(admission, { taskQueue: config.TEMPORAL_TASK_QUEUE, limit: config.INTAKE_BACKLOG_LIMIT, everyMs: config.INTAKE_BACKLOG_CHECK_MS });
  void app.register(metrics);
  void app.register(refundRestarts, { taskQueue: config.TEMPORAL_TASK_QUEUE, everyMs: config.REFUND_RESTART_EVERY_MS });
  // Routes after the plugins, in their own context: they see every decorator and hook above.
  void app.register((routes, _options, done) => {
    registerHealthRoutes(routes);
    registerOrderRoutes(routes, { taskQueue: config.TEMPORAL_TASK_QUEUE, maxWaitSeconds: maxWaitSeconds(config) });
    registerRefundRoutes(routes, { taskQueue: config.TEMPORAL_TASK_QUEUE });
    registerDecisionRoutes(routes);
    registerAccountRoutes(routes);
    registerInventoryRoutes(routes);
    void routes.register((operators, _o, next) => {
      registerReviewRoutes(operators, { apiKeySet: Boolean(config.API_KEY) });
      next();
    });
    done();
  });
  await app.ready();
  return app;
}

/** A held request still answers a second before the request timeout cuts it off. */
function maxWaitSeconds(config: Config): number {
  return Math.max(0, Math.min(config.API_MAX_WAIT_SECONDS, Math.floor(config.API_REQUEST_TIMEOUT_MS / 1_000) - 1));
}
