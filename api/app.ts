import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyInstance } from 'fastify';
import { jsonSchemaTransform, serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import type { Config } from '../config';
import { registerAdmission } from './plugins/admission';
import { registerAuth } from './plugins/auth';
import { clientErrorHandler } from './plugins/client-errors';
import { registerDatabase } from './plugins/database';
import { frameworkErrors, registerErrorHandler } from './plugins/errors';
import { refuseDuplicateKeys } from './plugins/json';
import { registerShutdown } from './plugins/shutdown';
import { registerMetrics } from './plugins/metrics';
import { registerTemporal } from './plugins/temporal';
import { registerAccountRoutes } from './routes/accounts';
import { registerHealthRoutes } from './routes/health';
import { registerInventoryRoutes } from './routes/inventory';
import { registerOrderRoutes } from './routes/orders';

/** Builds the app without listening, so tests drive it with `app.inject`. */
export async function buildApp(config: Config, { logger = true }: { logger?: boolean } = {}): Promise<FastifyInstance> {
  const app = Fastify({
    logger: logger ? { level: config.LOG_LEVEL } : false,
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
  // JSON only: other content types are refused before they reach a route.
  app.removeContentTypeParser('text/plain');
  refuseDuplicateKeys(app);
  registerErrorHandler(app);
  registerShutdown(app);
  await app.register(swagger, {
    openapi: { info: { title: 'saga-orchestrator', version: '0.1.0' } },
    transform: jsonSchemaTransform,
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  await app.register(rateLimit, { max: config.API_RATE_LIMIT_PER_MINUTE, timeWindow: '1 minute' });
  registerAuth(app, { apiKey: config.API_KEY });
  registerDatabase(app, { connectionString: config.DATABASE_URL, max: config.DATABASE_POOL_SIZE, queryTimeoutMs: config.DATABASE_QUERY_TIMEOUT_MS });
  registerTemporal(app, { address: config.TEMPORAL_ADDRESS, namespace: config.TEMPORAL_NAMESPACE });
  registerAdmission(app, { taskQueue: config.TEMPORAL_TASK_QUEUE, limit: config.INTAKE_BACKLOG_LIMIT, everyMs: config.INTAKE_BACKLOG_CHECK_MS });
  registerMetrics(app);
  registerHealthRoutes(app);
  registerOrderRoutes(app, { taskQueue: config.TEMPORAL_TASK_QUEUE });
  registerAccountRoutes(app);
  registerInventoryRoutes(app);
  await app.ready();
  return app;
}
