import { timingSafeEqual } from 'node:crypto';
import type { FastifyPluginCallback } from 'fastify';
import fp from 'fastify-plugin';
import { HttpError } from '../http-errors';

/** Probes and the API description stay open; balances, ledgers, orders and metrics do not. By matched route, not raw URL. */
export const isOpenRoute = (route: string | undefined): boolean =>
  route === '/healthz' || route === '/readyz' || route === '/docs' || route?.startsWith('/docs/') === true;

/** With API_KEY set, every route but the open ones needs `Authorization: Bearer <key>`. */
const auth: FastifyPluginCallback<{ apiKey?: string }> = (app, { apiKey }, done) => {
  if (!apiKey) return done();
  const expected = Buffer.from(`Bearer ${apiKey}`);
  app.addHook('onRequest', (request, _reply, next) => {
    if (isOpenRoute(request.routeOptions.url)) return next();
    const given = Buffer.from(request.headers.authorization ?? '');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      return next(new HttpError(401, 'Unauthorized', 'missing or wrong Authorization: Bearer <API_KEY>', { 'www-authenticate': 'Bearer' }));
    }
    next();
  });
  done();
};

// The 401 leaves through the error handler, in the one error shape.
export default fp(auth, { name: 'auth', dependencies: ['errors'], fastify: '5.x' });
