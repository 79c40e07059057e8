import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { ConfirmationDecision } from '../../domain/order';
import { decideOrder, DecisionRefusedError, OrderNotFoundError } from '../../intake/decide-order';
import { TemporalUnavailableError } from '../../intake/start-order';
import { HttpError, RETRY_AFTER_SECONDS } from '../http-errors';
import { cancelSchema, confirmSchema, errorResponses, orderIdParams } from '../schemas';

const decisionResult = z.object({
  orderId: z.string(),
  decision: z.enum(['confirm', 'cancel']),
  status: z.enum(['PENDING', 'CONFIRMED', 'CANCELLED']).describe('PENDING: accepted, the saga is still committing or compensating'),
  reason: z.string().optional(),
});

const preferHeaders = z.object({ prefer: z.string().optional().describe('respond-async: answer 202 once the saga has accepted the decision') });

/** Confirm and cancel: the saga's decide update, answered with the outcome (200) or, when asked not to wait, accepted (202). */
export function registerDecisionRoutes(app: FastifyInstance): void {
  const routes = app.withTypeProvider<ZodTypeProvider>();

  const decide = async (orderId: string, decision: ConfirmationDecision, { reason, prefer }: { reason?: string; prefer?: string }) => {
    const wait = !/\brespond-async\b/i.test(prefer ?? '');
    try {
      const result = await decideOrder({ client: app.temporal, pool: app.db }, { orderId, decision, reason, wait });
      return { code: result.status === 'PENDING' ? (202 as const) : (200 as const), result };
    } catch (err) {
      if (err instanceof OrderNotFoundError) throw new HttpError(404, 'OrderNotFound', err.message);
      if (err instanceof DecisionRefusedError) throw new HttpError(err.code === 'InvalidDecision' ? 400 : 409, err.code, err.message, {}, err.current);
      if (err instanceof TemporalUnavailableError) throw new HttpError(503, 'TemporalUnavailable', err.message, { 'retry-after': RETRY_AFTER_SECONDS });
      throw err;
    }
  };

  const schema = (body: typeof confirmSchema | typeof cancelSchema, summary: string) => ({
    params: orderIdParams,
    headers: preferHeaders,
    body,
    tags: ['orders'],
    summary,
    response: { 200: decisionResult, 202: decisionResult, ...errorResponses(400, 401, 404, 409, 413, 415) },
  });

  routes.post(
    '/orders/:orderId/confirm',
    { config: { bodyOptional: true }, schema: schema(confirmSchema, 'Confirm a manual order; answers with its outcome') },
    async (request, reply) => {
      const { code, result } = await decide(request.params.orderId, 'confirm', { prefer: request.headers.prefer });
      return reply.code(code).send(result);
    },
  );
  routes.post(
    '/orders/:orderId/cancel',
    { config: { bodyOptional: true }, schema: schema(cancelSchema, 'Cancel a manual order; answers once it is compensated') },
    async (request, reply) => {
      const { code, result } = await decide(request.params.orderId, 'cancel', { reason: request.body?.reason, prefer: request.headers.prefer });
      return reply.code(code).send(result);
    },
  );
}
