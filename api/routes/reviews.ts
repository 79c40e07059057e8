import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { OrderNotFoundError } from '../../intake/decide-order';
import { checkBackNow, listFlaggedOrders, resolveOrder, ReviewRefusedError } from '../../intake/review-order';
import { TemporalUnavailableError } from '../../intake/start-order';
import { HttpError, RETRY_AFTER_SECONDS } from '../http-errors';
import {
  checkBackAnswer,
  checkBackPending,
  errorResponses,
  flaggedOrdersAnswer,
  orderIdParams,
  resolutionAnswer,
  resolutionSchema,
  reviewListQuery,
} from '../schemas';

// With the 5 s to accept, within API_REQUEST_TIMEOUT_MS (15 s) on every path.
const CHECK_BACK_API_WAIT_MS = 8_000;

/** Operator requests: the review queue, resolutions, check-back-now. Refused unless API_KEY is set, as they act for a person. */
export function registerReviewRoutes(app: FastifyInstance, { apiKeySet }: { apiKeySet: boolean }): void {
  const routes = app.withTypeProvider<ZodTypeProvider>();
  const deps = () => ({ client: app.temporal, pool: app.db });

  routes.addHook('onRequest', (_request, _reply, next) => {
    if (apiKeySet) return next();
    next(new HttpError(403, 'OperatorKeyRequired', 'operator routes need API_KEY set; use `npm run saga -- review|resolve|check-back` meanwhile'));
  });

  const mapped = (err: unknown): unknown => {
    if (err instanceof OrderNotFoundError) return new HttpError(404, 'OrderNotFound', err.message);
    if (err instanceof ReviewRefusedError) return new HttpError(409, err.code, err.message, {}, err.current);
    if (err instanceof TemporalUnavailableError) return new HttpError(503, 'TemporalUnavailable', err.message, { 'retry-after': RETRY_AFTER_SECONDS });
    return err;
  };

  routes.get(
    '/reviews',
    {
      schema: {
        querystring: reviewListQuery,
        tags: ['operators'],
        summary: 'Orders flagged for review, not yet resolved',
        response: { 200: flaggedOrdersAnswer, ...errorResponses(400, 401, 403) },
      },
    },
    async (request) => ({ orders: await listFlaggedOrders(app.db, request.query.limit) }),
  );

  routes.post(
    '/orders/:orderId/resolution',
    {
      schema: {
        params: orderIdParams,
        body: resolutionSchema,
        tags: ['operators'],
        summary: "Record an operator's resolution of a flagged order (stored once, never edited) and clear its flag",
        response: {
          201: resolutionAnswer.describe('Resolved'),
          200: resolutionAnswer.describe('The same resolution, stored before'),
          ...errorResponses(400, 401, 403, 404, 409, 413, 415),
        },
      },
    },
    async (request, reply) => {
      const result = await resolveOrder(deps(), { orderId: request.params.orderId, ...request.body }).catch((err: unknown) => {
        throw mapped(err);
      });
      return reply.code(result.created ? 201 : 200).send(result);
    },
  );

  routes.post(
    '/orders/:orderId/check-back',
    {
      config: { bodyOptional: true },
      schema: {
        params: orderIdParams,
        tags: ['operators'],
        summary: 'A step in doubt: check back now instead of after the interval, and answer what the check found',
        response: {
          200: checkBackAnswer,
          202: checkBackPending.describe('Asked and accepted; the check had not answered within 8 s and the saga goes on with it'),
          ...errorResponses(400, 401, 403, 404, 409),
        },
      },
    },
    async (request, reply) => {
      // Below API_REQUEST_TIMEOUT_MS: a slow check answers 202, not a timeout.
      const outcome = await checkBackNow(deps(), request.params.orderId, { waitMs: CHECK_BACK_API_WAIT_MS }).catch((err: unknown) => {
        throw mapped(err);
      });
      return outcome.state === 'checking' ? reply.code(202).send(outcome) : reply.code(200).send(outcome);
    },
  );
}
