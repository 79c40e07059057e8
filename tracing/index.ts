import path from 'node:path';
import type { Attributes, Tracer } from '@opentelemetry/api';
import type { SpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { ClientInterceptors } from '@temporalio/client';
import type { WorkerOptions } from '@temporalio/worker';
import type { FastifyPluginCallback } from 'fastify';
import type { Pool } from '../db/pool';

export type TracedService = 'api' | 'consumer' | 'worker';

/** Bundled with the workflows, on the fly and in the prebuilt bundle alike: they trace a workflow started with a trace. */
export const workflowInterceptorModules = [path.join(__dirname, 'workflow-interceptors.ts')];

/** What a process wires in when tracing is on; every part is built from one tracer provider. */
export interface Tracing {
  readonly tracer: Tracer;
  /** For the Temporal client: starts, updates, signals and queries carry the caller's trace. */
  readonly clientInterceptors: ClientInterceptors;
  /** For a worker: activity spans, and the sink that exports the spans workflows make. */
  readonly workerOptions: Pick<WorkerOptions, 'interceptors' | 'sinks'>;
  /** A server span per API request; register before the routes. */
  readonly httpPlugin: FastifyPluginCallback;
  /** A span per SQL statement this pool runs inside a traced operation. */
  readonly tracePool: (pool: Pool) => void;
  /** Runs `work` inside a new span (the consumer's span per Kafka message), the child of a W3C `traceparent` in `carrier` if it holds a valid one. */
  readonly inSpan: <T>(name: string, attributes: Attributes, work: () => Promise<T>, carrier?: Record<string, string>) => Promise<T>;
  /** Exports what is buffered and stops; resolves even when the collector does not answer. */
  readonly shutdown: () => Promise<void>;
}

/**
 * Tracing for one process, or undefined when OTEL_EXPORTER_OTLP_ENDPOINT is unset: then none of
 * OpenTelemetry is loaded. Tests pass a span processor to keep spans in memory instead of exporting them.
 */
export async function startTracing(
  service: TracedService,
  config: { OTEL_EXPORTER_OTLP_ENDPOINT?: string | undefined },
  { spanProcessor }: { spanProcessor?: SpanProcessor } = {},
): Promise<Tracing | undefined> {
  const endpoint = config.OTEL_EXPORTER_OTLP_ENDPOINT;
  if (!endpoint) return undefined;
  const { createTracing } = await import('./provider.js');
  return createTracing({ service, endpoint, spanProcessor });
}
