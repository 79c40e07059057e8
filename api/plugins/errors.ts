import type { FastifyError, FastifyInstance } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { HttpError } from '../http-errors';

export interface ErrorBody {
  error: string;
  message: string;
  details?: unknown;
}

const fastifyCodes: Record<string, { status: number; error: string }> = {
  FST_ERR_CTP_INVALID_JSON_BODY: { status: 400, error: 'MalformedJson' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { status: 400, error: 'MalformedJson' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { status: 400, error: 'UnsupportedContentType' },
  FST_ERR_CTP_BODY_TOO_LARGE: { status: 413, error: 'PayloadTooLarge' },
};

/** The one error handler: every failure leaves as `{ error, message, details? }`; 5xx text is masked. */
export function registerErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError, request, reply) => {
    if (hasZodFastifySchemaValidationErrors(err)) {
      return reply.code(400).send({
        error: 'ValidationError',
        message: `invalid ${err.validationContext ?? 'request'}`,
        details: err.validation.map((v) => ({ in: err.validationContext, path: v.instancePath || '/', message: v.message })),
      } satisfies ErrorBody);
    }
    if (err instanceof HttpError) {
      return reply.code(err.statusCode).headers(err.headers).send({ error: err.code, message: err.message } satisfies ErrorBody);
    }
    const known = err.code ? fastifyCodes[err.code] : undefined;
    if (known) return reply.code(known.status).send({ error: known.error, message: err.message } satisfies ErrorBody);
    const statusCode = err.statusCode ?? 500;
    if (statusCode >= 500) {
      request.log.error({ err }, 'request failed');
      return reply.code(statusCode).send({ error: 'InternalError', message: 'internal error' } satisfies ErrorBody);
    }
    const error = statusCode === 429 ? 'RateLimited' : (err.code ?? 'BadRequest');
    return reply.code(statusCode).send({ error, message: err.message } satisfies ErrorBody);
  });
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({ error: 'NotFound', message: `no route ${request.method} ${request.url}` } satisfies ErrorBody),
  );
}
