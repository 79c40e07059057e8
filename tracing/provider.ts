import { propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, type Attributes, type Tracer } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { Resource } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { OpenTelemetryWorkflowClientInterceptor } from '@temporalio/interceptors-opentelemetry/lib/client';
import { TRACE_HEADER } from '@temporalio/interceptors-opentelemetry/lib/instrumentation';
import {
  makeWorkflowExporter,
  OpenTelemetryActivityInboundInterceptor,
  OpenTelemetryActivityOutboundInterceptor,
} from '@temporalio/interceptors-opentelemetry/lib/worker';
import type { ActivityInboundCallsInterceptor } from '@temporalio/worker';
import { httpTracing } from './http';
import { traceQueries } from './sql';
import type { Tracing, TracedService } from './index';

let registered = false;

/**
 * The first provider in a process becomes the global one, with the async-hooks context manager and the
 * W3C propagators; later ones (a test hosting the API and a worker in one process) pass their tracer
 * everywhere explicitly instead.
 */
function register(provider: BasicTracerProvider): void {
  if (registered) return;
  registered = true;
  provider.register({ contextManager: new AsyncLocalStorageContextManager().enable() });
}

export function createTracing({ service, endpoint, spanProcessor }: { service: TracedService; endpoint: string; spanProcessor?: SpanProcessor }): Tracing {
  const resource = new Resource({ 'service.name': service, 'service.namespace': 'saga-orchestrator' });
  const processor =
    spanProcessor ?? new BatchSpanProcessor(new OTLPTraceExporter({ url: new URL('v1/traces', endpoint.endsWith('/') ? endpoint : `${endpoint}/`).href }));
  const provider = new BasicTracerProvider({ resource, spanProcessors: [processor] });
  register(provider);
  const tracer = provider.getTracer('saga-orchestrator');

  return {
    tracer,
    clientInterceptors: { workflow: [new OpenTelemetryWorkflowClientInterceptor({ tracer })] },
    workerOptions: {
      interceptors: {
        activity: [
          (ctx) => ({
            inbound: onlyTraced(new OpenTelemetryActivityInboundInterceptor(ctx, { tracer })),
            outbound: new OpenTelemetryActivityOutboundInterceptor(ctx),
          }),
        ],
      },
      sinks: { exporter: makeWorkflowExporter(processor, resource) },
    },
    httpPlugin: httpTracing(tracer),
    tracePool: (pool) => traceQueries(pool, tracer),
    inSpan: (name, attributes, work, carrier) => inSpan(tracer, name, attributes, work, carrier),
    // A collector that is down costs the spans still buffered; it must not fail the process's shutdown.
    shutdown: () => provider.shutdown().catch(() => undefined),
  };
}

/** Activities of a workflow started without a trace (the workflow made no span) make none either. */
function onlyTraced(otel: ActivityInboundCallsInterceptor): ActivityInboundCallsInterceptor {
  return { execute: (input, next) => (input.headers[TRACE_HEADER] ? otel.execute!(input, next) : next(input)) };
}

async function inSpan<T>(tracer: Tracer, name: string, attributes: Attributes, work: () => Promise<T>, carrier?: Record<string, string>): Promise<T> {
  // A malformed traceparent is ignored by the propagator: the span then starts a trace of its own.
  const parent = carrier ? propagation.extract(ROOT_CONTEXT, carrier) : ROOT_CONTEXT;
  return tracer.startActiveSpan(name, { kind: SpanKind.CONSUMER, attributes }, parent, async (span) => {
    try {
      return await work();
    } catch (err) {
      span.recordException(err as Error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
      throw err;
    } finally {
      span.end();
    }
  });
}
