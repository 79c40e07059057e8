import type { FastifyError, FastifyInstance } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';

export interface ErrorBody {
  error: string;
  message: string;
  details?: unknown;
}

/** The one error handler: every failure leaves as `{ error, message, details? }`; 5xx text is masked. */
export function registerErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError, request, reply) => {
    if (hasZodFastifySchemaValidationErrors(err)) {
      return reply.code(400).send({
        error: 'ValidationError',
        message: 'request does not match the schema',
        details: err.validation.map((v) => ({ in: err.validationContext, path: v.instancePath || '/', message: v.message })),
      } satisfies ErrorBody);
    }
    const statusCode = err.statusCode ?? 500;
    if (statusCode >= 500) {
      request.log.error({ err }, 'request failed');
      return reply.code(statusCode).send({ error: 'InternalError', message: 'internal error' } satisfies ErrorBody);
    }
    return reply.code(statusCode).send({ error: err.code ?? 'BadRequest', message: err.message } satisfies ErrorBody);
  });
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({ error: 'NotFound', message: `no route ${request.method} ${request.url}` } satisfies ErrorBody),
  );
}
