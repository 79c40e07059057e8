import Fastify, { type FastifyInstance } from 'fastify';
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import type { Config } from '../config';
import { registerDatabase } from './plugins/database';
import { registerErrorHandler } from './plugins/errors';
import { registerTemporal } from './plugins/temporal';
import { registerHealthRoutes } from './routes/health';

/** Builds the app without listening, so tests drive it with `app.inject`. */
export async function buildApp(config: Config, { logger = true }: { logger?: boolean } = {}): Promise<FastifyInstance> {
  const app = Fastify({
    logger: logger ? { level: config.LOG_LEVEL } : false,
    bodyLimit: config.API_BODY_LIMIT_BYTES,
    requestTimeout: config.API_REQUEST_TIMEOUT_MS,
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  registerErrorHandler(app);
  registerDatabase(app, { connectionString: config.DATABASE_URL, max: config.DATABASE_POOL_SIZE });
  registerTemporal(app, { address: config.TEMPORAL_ADDRESS, namespace: config.TEMPORAL_NAMESPACE });
  registerHealthRoutes(app);
  await app.ready();
  return app;
}
