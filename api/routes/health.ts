import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { errorBody, errorResponses, healthAnswer, readinessAnswer } from '../schemas';

const tags = ['operations'];
const liveness = { tags, summary: 'Liveness', response: { 200: healthAnswer, ...errorResponses() } };
const readiness = {
  tags,
  summary: 'Readiness: PostgreSQL and Temporal reachable',
  // A 503 is "not ready", or the one error shape when shutting down or timed out.
  response: {
    200: readinessAnswer.describe('Ready'),
    ...errorResponses(),
    503: readinessAnswer.or(errorBody).describe('Not ready, shutting down or timed out'),
  },
};

export function registerHealthRoutes(app: FastifyInstance): void {
  const routes = app.withTypeProvider<ZodTypeProvider>();

  routes.get('/healthz', { schema: liveness }, () => ({ status: 'ok' as const }));

  routes.get('/readyz', { schema: readiness }, async (_request, reply) => {
    const [database, temporal] = await Promise.all([
      app.db.query('select 1').then(
        () => 'ok' as const,
        () => 'unreachable' as const,
      ),
      app.temporal
        .withDeadline(Date.now() + 2_000, () => app.temporal.workflowService.getSystemInfo({}))
        .then(
          () => 'ok' as const,
          () => 'unreachable' as const,
        ),
    ]);
    const ready = database === 'ok' && temporal === 'ok';
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not-ready', database, temporal });
  });
}
