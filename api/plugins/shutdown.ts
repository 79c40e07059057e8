import type { FastifyPluginCallback } from 'fastify';
import fp from 'fastify-plugin';
import { HttpError, RETRY_AFTER_SECONDS } from '../http-errors';

/** While the server drains, requests on open connections are turned away with a 503 that says when to come back. */
const shutdown: FastifyPluginCallback = (app, _options, done) => {
  let closing = false;
  app.addHook('preClose', (next) => {
    closing = true;
    next();
  });
  app.addHook('onRequest', (_request, reply, next) => {
    if (!closing) return next();
    void reply.header('connection', 'close');
    next(new HttpError(503, 'ShuttingDown', 'this API instance is shutting down; retry', { 'retry-after': RETRY_AFTER_SECONDS }));
  });
  done();
};

export default fp(shutdown, { name: 'shutdown', dependencies: ['errors'], fastify: '5.x' });
