import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { HttpError } from '../http-errors';

/** Probes and the API description stay open; balances, ledgers, orders and metrics do not. By matched route, not raw URL. */
const open = (route: string | undefined) => route === '/healthz' || route === '/readyz' || route === '/docs' || route?.startsWith('/docs/') === true;

/** With API_KEY set, every route but the open ones needs `Authorization: Bearer <key>`. */
export function registerAuth(app: FastifyInstance, { apiKey }: { apiKey?: string }): void {
  if (!apiKey) return;
  const expected = Buffer.from(`Bearer ${apiKey}`);
  app.addHook('onRequest', (request, _reply, done) => {
    if (open(request.routeOptions.url)) return done();
    const given = Buffer.from(request.headers.authorization ?? '');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      return done(new HttpError(401, 'Unauthorized', 'missing or wrong Authorization: Bearer <API_KEY>', { 'www-authenticate': 'Bearer' }));
    }
    done();
  });
}
