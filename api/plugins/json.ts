import type { FastifyInstance } from 'fastify';
import { duplicateKey } from '../../domain/json';
import { HttpError } from '../http-errors';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** An empty body sent as application/json is no body, not malformed JSON. */
    bodyOptional?: boolean;
  }
}

/** Fastify's own JSON parser (prototype-poisoning checks included), plus: a key twice in one object is a 400. */
export function refuseDuplicateKeys(app: FastifyInstance): void {
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = body.toString();
    // A route whose body is optional takes "no body" however the client labels it.
    if (text === '' && request.routeOptions.config.bodyOptional) return done(null, undefined);
    void parseJson(request, text, (err, value) => {
      if (err) return done(err, undefined);
      const duplicate = duplicateKey(text);
      if (duplicate !== undefined)
        return done(new HttpError(400, 'DuplicateKey', `JSON key ${JSON.stringify(duplicate)} appears twice in one object`), undefined);
      done(null, value);
    });
  });
}
