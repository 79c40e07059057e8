import { context, SpanKind, SpanStatusCode, trace, type Tracer } from '@opentelemetry/api';
import type pg from 'pg';
import type { Pool } from '../db/pool';

type Query = (...args: unknown[]) => unknown;

/**
 * A client span per statement run inside a traced operation (a request, a message, an activity); the
 * relay's polling and other background queries make none. Statements carry `$n` placeholders, never
 * values, so `db.statement` holds no data. Both entry points are wrapped: `pool.query`, and `query` on a
 * checked-out client (transactions); pg-pool's own call from one into the other passes a callback and is
 * left alone, so a statement makes one span.
 */
export function traceQueries(pool: Pool, tracer: Tracer): void {
  pool.query = traced(pool.query.bind(pool), tracer) as Pool['query'];
  pool.on('connect', (client: pg.PoolClient) => {
    client.query = traced(client.query.bind(client), tracer) as pg.PoolClient['query'];
  });
}

function traced(query: Query, tracer: Tracer): Query {
  return (...args) => {
    const text = statementOf(args[0]);
    if (text === undefined || typeof args.at(-1) === 'function' || !trace.getSpan(context.active())) return query(...args);
    const operation = /^\s*(\w+)/.exec(text)?.[1]?.toUpperCase() ?? 'SQL';
    const span = tracer.startSpan(operation, {
      kind: SpanKind.CLIENT,
      attributes: { 'db.system': 'postgresql', 'db.operation': operation, 'db.statement': text },
    });
    return (query(...args) as Promise<unknown>).then(
      (result) => {
        span.end();
        return result;
      },
      (err: unknown) => {
        span.recordException(err as Error);
        span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
        span.end();
        throw err;
      },
    );
  };
}

/** The SQL text of a promise-style call; undefined for a cursor or anything else submittable. */
function statementOf(first: unknown): string | undefined {
  if (typeof first === 'string') return first;
  if (first && typeof first === 'object' && typeof (first as { text?: unknown }).text === 'string' && !('submit' in first))
    return (first as { text: string }).text;
  return undefined;
}
