import type { FastifyInstance } from 'fastify';
import { HttpError, RETRY_AFTER_SECONDS } from '../http-errors';

/** While the server drains, requests on open connections are turned away with a 503 that says when to come back. */
export function registerShutdown(app: FastifyInstance): void {
  let closing = false;
  app.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  app.addHook('onRequest', (_request, reply, done) => {
    if (!closing) return done();
    void reply.header('connection', 'close');
    done(new HttpError(503, 'ShuttingDown', 'this API instance is shutting down; retry', { 'retry-after': RETRY_AFTER_SECONDS }));
  });
}
