import type { FastifyPluginCallback } from 'fastify';
import fp from 'fastify-plugin';
import { Listener, ORDER_ENDED_CHANNEL } from '../../db/listener';
import { OrderEndings } from '../../intake/await-outcome';

declare module 'fastify' {
  interface FastifyInstance {
    orderEndings: OrderEndings;
  }
}

/** Requests held with `Prefer: wait`, woken by PostgreSQL's order_ended notifications on a connection of their own. */
const orderEndings: FastifyPluginCallback<{ connectionString: string }> = (app, { connectionString }, done) => {
  const endings = new OrderEndings(app.db);
  const listener = new Listener(connectionString, ORDER_ENDED_CHANNEL, endings.notify);
  listener.start();
  app.decorate('orderEndings', endings);
  app.addHook('onClose', async () => listener.close());
  done();
};

export default fp(orderEndings, { name: 'order-endings', dependencies: ['database'], fastify: '5.x' });
