import type { FastifyPluginCallback } from 'fastify';
import fp from 'fastify-plugin';
import { createPool, type Pool, type PoolOptions } from '../../db/pool';

declare module 'fastify' {
  interface FastifyInstance {
    db: Pool;
  }
}

/** The PostgreSQL pool, ended when the app closes. */
const database: FastifyPluginCallback<PoolOptions> = (app, options, done) => {
  const pool = createPool(options);
  app.decorate('db', pool);
  app.addHook('onClose', async () => pool.end());
  done();
};

export default fp(database, { name: 'database', fastify: '5.x' });
