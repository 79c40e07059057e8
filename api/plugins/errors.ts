import type { FastifyError, FastifyPluginCallback, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import type { z } from 'zod';
import { isCheckViolation, isDataError, isDatabaseUnavailable } from '../../db/errors';
import { isTemporalUnavailable } from '../../lib/temporal-errors';
import { HttpError, RETRY_AFTER_SECONDS } from '../http-errors';
import { trackAllowedMethods } from './allowed-methods';
import type { errorBody } from '../schemas';

export type ErrorBody = z.output<typeof errorBody>;

const fastifyCodes: Record<string, { status: number; error: string }> = {
  FST_ERR_CTP_INVALID_JSON_BODY: { status: 400, error: 'MalformedJson' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { status: 400, error: 'MalformedJson' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { status: 415, error: 'UnsupportedContentType' },
  FST_ERR_ROUTE_MISSING_CONTENT_TYPE: { status: 415, error: 'UnsupportedContentType' },
  FST_ERR_CTP_BODY_TOO_LARGE: { status: 413, error: 'PayloadTooLarge' },
  FST_ERR_BAD_URL: { status: 400, error: 'BadUrl' },
  FST_ERR_MAX_PARAM_LENGTH: { status: 414, error: 'UriTooLong' },
};

/** The service's own code for a client error the framework or a plugin raised without one of ours: never Fastify's internal code. */
const codeByStatus: Record<number, string> = {
  400: 'BadRequest',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  406: 'NotAcceptable',
  408: 'RequestTimeout',
  413: 'PayloadTooLarge',
  414: 'UriTooLong',
  415: 'UnsupportedContentType',
  429: 'RateLimited',
  431: 'HeadersTooLarge',
};
const clientErrorCode = (status: number) => codeByStatus[status] ?? 'BadRequest';

/** Failures of a dependency: the same request may succeed later, so 503 with Retry-After, never 500. */
function unavailable(err: unknown): HttpError | undefined {
  const retry = { 'retry-after': RETRY_AFTER_SECONDS };
  if ((err as FastifyError).code === 'FST_ERR_HANDLER_TIMEOUT') return new HttpError(503, 'Timeout', 'the request took too long; retry later', retry);
  if (isDatabaseUnavailable(err)) return new HttpError(503, 'DatabaseUnavailable', 'the database is temporarily unavailable; retry later', retry);
  if (isTemporalUnavailable(err)) return new HttpError(503, 'TemporalUnavailable', 'Temporal is temporarily unavailable; retry later', retry);
  return undefined;
}

function send(reply: FastifyReply, status: number, body: ErrorBody, headers: Record<string, string> = {}) {
  return reply.code(status).headers(headers).send(body);
}

/** The one error handler: every failure leaves as `{ error, message, details? }`; 5xx text is masked. */
const errors: FastifyPluginCallback = (app, _options, done) => {
  app.setErrorHandler((err: FastifyError, request, reply) => {
    if (hasZodFastifySchemaValidationErrors(err)) {
      return send(reply, 400, {
        error: 'ValidationError',
        message: `invalid ${err.validationContext ?? 'request'}`,
        details: err.validation.map((v) => ({ in: err.validationContext, path: v.instancePath || '/', message: v.message })),
      });
    }
    const mapped = err instanceof HttpError ? err : unavailable(err);
    if (mapped) {
      if (mapped.statusCode >= 500) request.log.warn({ err }, mapped.message);
      return send(
        reply,
        mapped.statusCode,
        { error: mapped.code, message: mapped.message, ...(mapped.details === undefined ? {} : { details: mapped.details }) },
        mapped.headers,
      );
    }
    if (isDataError(err) || isCheckViolation(err)) {
      return send(reply, 422, { error: 'ValueRefused', message: 'a value is outside what the database accepts' });
    }
    const known = err.code ? fastifyCodes[err.code] : undefined;
    if (known) return send(reply, known.status, { error: known.error, message: err.message });
    const statusCode = err.statusCode ?? 500;
    if (statusCode >= 500) {
      request.log.error({ err }, 'request failed');
      return send(reply, statusCode, { error: 'InternalError', message: 'internal error' });
    }
    return send(reply, statusCode, { error: clientErrorCode(statusCode), message: err.message });
  });
  // A known path asked with a method it does not answer: 405 and Allow (OPTIONS: 204 and Allow), before auth and body parsing.
  const allowed = trackAllowedMethods(app);
  app.addHook('onRequest', (request, reply, next) => {
    if (!request.is404) return next();
    const methods = allowed.of(request.url);
    if (methods.length === 0) return next();
    const allow = methods.join(', ');
    if (request.method === 'OPTIONS') return void reply.code(204).header('allow', allow).send();
    void send(reply, 405, { error: 'MethodNotAllowed', message: `${request.method} is not allowed here; allowed: ${allow}` }, { allow });
  });
  app.setNotFoundHandler((request, reply) => send(reply, 404, { error: 'NotFound', message: `no route ${request.method} ${request.url}` }));
  done();
};

export default fp(errors, { name: 'errors', fastify: '5.x' });

/** Router errors (a malformed or over-long path) happen before any route: answer them in the same shape. */
export function frameworkErrors(err: FastifyError, _request: FastifyRequest, reply: FastifyReply): void {
  const status = err.statusCode ?? 400;
  const known = fastifyCodes[err.code] ?? { status, error: clientErrorCode(status) };
  void send(reply, known.status, { error: known.error, message: err.message });
}
