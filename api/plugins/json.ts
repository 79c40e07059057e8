import type { FastifyPluginCallback } from 'fastify';
import fp from 'fastify-plugin';
import { duplicateKey } from '../../domain/json';
import { HttpError } from '../http-errors';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** An empty body sent as application/json is no body, not malformed JSON. */
    bodyOptional?: boolean;
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Valid JSON the default parser still refused: it carries a prototype-poisoning key. */
function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

const forbiddenKey = () => new HttpError(400, 'ForbiddenKey', 'JSON keys "__proto__", and "constructor" holding "prototype", are refused');

/** JSON only, through Fastify's own parser (prototype-poisoning checks included), plus: a key twice in one object is a 400. */
const json: FastifyPluginCallback = (app, _options, done) => {
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser(['application/json', 'text/plain']);
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, parsed) => {
    // JSON is UTF-8 (RFC 8259): bytes that are not are refused, never decoded to U+FFFD and stored.
    const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(request.headers['content-type'] ?? '')?.[1]?.toLowerCase();
    if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8')
      return parsed(new HttpError(400, 'MalformedJson', 'the body must be UTF-8 JSON; other charsets are not accepted'), undefined);
    let text: string;
    try {
      text = utf8.decode(body as Buffer);
    } catch {
      return parsed(new HttpError(400, 'MalformedJson', 'the body is not valid UTF-8'), undefined);
    }
    // A route whose body is optional takes "no body" however the client labels it.
    if (text === '' && request.routeOptions.config.bodyOptional) return parsed(null, undefined);
    void parseJson(request, text, (err, value) => {
      if (err) return parsed(isJson(text) ? forbiddenKey() : err, undefined);
      const duplicate = duplicateKey(text);
      if (duplicate !== undefined)
        return parsed(new HttpError(400, 'DuplicateKey', `JSON key ${JSON.stringify(duplicate)} appears twice in one object`), undefined);
      parsed(null, value);
    });
  });
  done();
};

// Its refusals leave through the error handler, in the one error shape.
export default fp(json, { name: 'json', dependencies: ['errors'], fastify: '5.x' });
