import { ROOT_CONTEXT, context, propagation, SpanKind, SpanStatusCode, trace, type Span, type Tracer } from '@opentelemetry/api';
import type { FastifyPluginCallback, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';

/** Probes, scrapes and the API description: frequent, and no part of any order's trace. */
const untraced = (route: string | undefined) => !route || route === '/healthz' || route === '/readyz' || route === '/metrics' || route.startsWith('/docs');

/**
 * A server span per request, named by method and route, continuing a `traceparent` the client sent.
 * The handler runs inside it, so the workflow start and the SQL it makes are its children.
 */
export function httpTracing(tracer: Tracer): FastifyPluginCallback {
  const spans = new WeakMap<FastifyRequest, Span>();
  const plugin: FastifyPluginCallback = (app, _options, done) => {
    // Wrapping the handler, not the hook chain: a body read from the socket resumes outside any context set in a hook.
    app.addHook('onRoute', (route) => {
      if (untraced(route.url)) return;
      const handler = route.handler;
      route.handler = function (request, reply) {
        const span = spans.get(request);
        return span ? context.with(trace.setSpan(ROOT_CONTEXT, span), () => handler.call(this, request, reply)) : handler.call(this, request, reply);
      };
    });
    app.addHook('onRequest', (request, reply, next) => {
      const route = request.routeOptions.url;
      if (untraced(route)) return next();
      const parent = propagation.extract(ROOT_CONTEXT, request.headers);
      const span = tracer.startSpan(
        `${request.method} ${route}`,
        { kind: SpanKind.SERVER, attributes: { 'http.request.method': request.method, 'http.route': route } },
        parent,
      );
      spans.set(request, span);
      request.log = reply.log = request.log.child({ trace_id: span.spanContext().traceId });
      next();
    });
    app.addHook('onError', (request, _reply, err, next) => {
      spans.get(request)?.recordException(err);
      next();
    });
    app.addHook('onResponse', (request, reply, next) => {
      const span = spans.get(request);
      if (span) {
        span.setAttribute('http.response.status_code', reply.statusCode);
        if (reply.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
        span.end();
      }
      next();
    });
    app.addHook('onRequestAbort', (request, next) => {
      spans.get(request)?.end();
      next();
    });
    done();
  };
  return fp(plugin, { name: 'tracing', fastify: '5.x' });
}
