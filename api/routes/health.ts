import type { FastifyInstance } from 'fastify';

export function registerHealthRoutes(app: FastifyInstance): void {
  app.get('/healthz', (_request, reply) => reply.send({ status: 'ok' }));

  app.get('/readyz', async (_request, reply) => {
    const [database, temporal] = await Promise.all([
      app.db.query('select 1').then(
        () => 'ok',
        () => 'unreachable',
      ),
      app.temporal
        .withDeadline(Date.now() + 2_000, () => app.temporal.workflowService.getSystemInfo({}))
        .then(
          () => 'ok',
          () => 'unreachable',
        ),
    ]);
    const ready = database === 'ok' && temporal === 'ok';
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not-ready', database, temporal });
  });
}
