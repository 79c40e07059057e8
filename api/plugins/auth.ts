import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { HttpError } from '../http-errors';

const readOnly = new Set(['GET', 'HEAD', 'OPTIONS']);

/** With API_KEY set, every mutating route needs `Authorization: Bearer <key>`. */
export function registerAuth(app: FastifyInstance, { apiKey }: { apiKey?: string }): void {
  if (!apiKey) return;
  const expected = Buffer.from(`Bearer ${apiKey}`);
  app.addHook('onRequest', (request, _reply, done) => {
    if (readOnly.has(request.method)) return done();
    const given = Buffer.from(request.headers.authorization ?? '');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      return done(new HttpError(401, 'Unauthorized', 'missing or wrong Authorization: Bearer <API_KEY>', { 'www-authenticate': 'Bearer' }));
    }
    done();
  });
}
