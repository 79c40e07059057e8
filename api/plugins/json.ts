import type { FastifyInstance } from 'fastify';
import { duplicateKey } from '../../domain/json';
import { HttpError } from '../http-errors';

/** Fastify's own JSON parser (prototype-poisoning checks included), plus: a key twice in one object is a 400. */
export function refuseDuplicateKeys(app: FastifyInstance): void {
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = body.toString();
    void parseJson(request, text, (err, value) => {
      if (err) return done(err, undefined);
      const duplicate = duplicateKey(text);
      if (duplicate !== undefined)
        return done(new HttpError(400, 'DuplicateKey', `JSON key ${JSON.stringify(duplicate)} appears twice in one object`), undefined);
      done(null, value);
    });
  });
}
