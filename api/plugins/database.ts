import type { FastifyInstance } from 'fastify';
import { createPool, type Pool, type PoolOptions } from '../../db/pool';

declare module 'fastify' {
  interface FastifyInstance {
    db: Pool;
  }
}

export function registerDatabase(app: FastifyInstance, options: PoolOptions): void {
  const pool = createPool(options);
  app.decorate('db', pool);
  app.addHook('onClose', async () => pool.end());
}
