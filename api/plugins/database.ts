import type { FastifyPluginCallback } from 'fastify';
import fp from 'fastify-plugin';
import { createPool, type Pool, type PoolOptions } from '../../db/pool';

declare module 'fastify' {
  interface FastifyInstance {
    db: Pool;
  }
}

/** The PostgreSQL pool, ended when the app closes; `onPool` sees it before any query (tracing wraps it). */
const database: FastifyPluginCallback<PoolOptions & { onPool?: ((pool: Pool) => void) | undefined }> = (app, { onPool, ...options }, done) => {
  const pool = createPool(options);
  onPool?.(pool);
  app.decorate('db', pool);
  app.addHook('onClose', async () => pool.end());
  done();
};

export default fp(database, { name: 'database', fastify: '5.x' });
