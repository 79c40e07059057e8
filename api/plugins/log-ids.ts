import type { FastifyPluginCallback, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { messageIdSchema } from '../../contract/order';
import { workflowIdFor } from '../../domain/order';

/** A well-formed ID only: anything else is the client's text, already in the logged URL. */
const idOf = (value: unknown): string | undefined => (messageIdSchema.safeParse(value).success ? (value as string) : undefined);

function bind(request: FastifyRequest, reply: FastifyReply, ids: Record<string, string>): void {
  request.log = reply.log = request.log.child(ids);
}

/**
 * The order a request is about, on every line it logs after routing (the error it failed with, "request
 * completed"): orderId and workflowId from the path, and for POST /orders also the messageId, from
 * Idempotency-Key or the body.
 */
const logIds: FastifyPluginCallback = (app, _options, done) => {
  app.addHook('onRequest', (request, reply, next) => {
    const orderId = idOf((request.params as { orderId?: unknown } | undefined)?.orderId);
    if (orderId) bind(request, reply, { orderId, workflowId: workflowIdFor(orderId) });
    next();
  });
  app.addHook('preValidation', (request, reply, next) => {
    if (request.method !== 'POST' || request.routeOptions.url !== '/orders') return next();
    const messageId = idOf(request.headers['idempotency-key']) ?? idOf((request.body as { messageId?: unknown } | null)?.messageId);
    if (messageId) bind(request, reply, { orderId: messageId, messageId, workflowId: workflowIdFor(messageId) });
    next();
  });
  done();
};

export default fp(logIds, { name: 'log-ids', fastify: '5.x' });
