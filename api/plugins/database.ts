import type { FastifyInstance } from 'fastify';
import { createPool, type Pool } from '../../db/pool';

declare module 'fastify' {
  interface FastifyInstance {
    db: Pool;
  }
}

export function registerDatabase(app: FastifyInstance, { connectionString, max }: { connectionString: string; max: number }): void {
  const pool = createPool({ connectionString, max });
  app.decorate('db', pool);
  app.addHook('onClose', async () => pool.end());
}
