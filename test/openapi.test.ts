import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../api/app';
import { errorBody, orderAnswer, readinessAnswer, type OrderAnswer } from '../api/schemas';
import type { OrderSagaStatus } from '../contract/saga';
import { loadConfig } from '../config';

interface JsonSchema {
  required?: string[];
  anyOf?: JsonSchema[];
}
interface Response {
  description?: string;
  content?: Record<string, { schema?: JsonSchema }>;
}
interface Document {
  paths: Record<string, Record<string, { responses?: Record<string, Response> }>>;
}

/** Routes open without API_KEY (api/plugins/auth.ts); every other one can answer 401. */
const open = new Set(['/healthz', '/readyz']);
/** What every route can answer: rate limited, an unexpected failure, a timeout or shutdown. */
const everyRoute = ['429', '500', '503'];

const isErrorBody = (schema: JsonSchema | undefined): boolean =>
  (['error', 'message'].every((key) => schema?.required?.includes(key)) || schema?.anyOf?.some(isErrorBody)) ?? false;

describe('the OpenAPI document at /docs/json', () => {
  let app: FastifyInstance;
  let doc: Document;

  beforeAll(async () => {
    // Only the document is read: nothing needs to listen at these addresses.
    const config = loadConfig({
      DATABASE_URL: 'postgres://docs@127.0.0.1:1/docs',
      TEMPORAL_ADDRESS: '127.0.0.1:1',
      INTAKE_BACKLOG_LIMIT: '0',
      LOG_LEVEL: 'silent',
    });
    app = await buildApp(config, { logger: false });
    doc = (await app.inject({ method: 'GET', url: '/docs/json' })).json<Document>();
  });
  afterAll(async () => app?.close());

  const operations = () => Object.entries(doc.paths).flatMap(([path, methods]) => Object.entries(methods).map(([method, op]) => ({ path, method, op })));

  it('lists the routes of the API', () => {
    const listed = operations().map(({ path, method }) => `${method.toUpperCase()} ${path}`);
    expect(listed).toEqual(
      expect.arrayContaining([
        'GET /healthz',
        'GET /readyz',
        'GET /metrics',
        'POST /orders',
        'GET /orders/{orderId}',
        'POST /orders/{orderId}/refunds',
        'GET /orders/{orderId}/refunds/{refundId}',
        'POST /accounts',
        'GET /inventory/{sku}',
      ]),
    );
  });

  it('every route documents a success, the errors it shares with every route, and a schema for each answer', () => {
    const problems: string[] = [];
    for (const { path, method, op } of operations()) {
      const route = `${method.toUpperCase()} ${path}`;
      const responses = Object.entries(op.responses ?? {});
      const statuses = responses.map(([status]) => status);
      if (!statuses.some((s) => s.startsWith('2'))) problems.push(`${route}: no 2xx`);
      for (const status of open.has(path) ? everyRoute : ['401', ...everyRoute]) {
        if (!statuses.includes(status)) problems.push(`${route}: no ${status}`);
      }
      for (const [status, response] of responses) {
        const media = Object.entries(response.content ?? {});
        if (media.length === 0) problems.push(`${route} ${status}: no schema`);
        for (const [type, { schema }] of media) {
          if (!schema) problems.push(`${route} ${status} ${type}: no schema`);
          else if (Number(status) >= 400 && !isErrorBody(schema)) problems.push(`${route} ${status}: not the one error shape`);
        }
      }
    }
    expect(problems).toEqual([]);
  });
});

describe('response schemas send every answer shape whole', () => {
  const saga: OrderSagaStatus = {
    orderId: 'o-1',
    state: 'AWAITING_CONFIRMATION',
    currentStep: 'confirmation',
    stepsApplied: ['reserve', 'debit'],
    compensationsDone: [],
    checkBacksUsed: 0,
    needsReview: false,
  };
  const row = {
    orderId: 'o-1',
    customerId: 'alice',
    items: [{ sku: 'book-1', quantity: 2, unitPriceCents: 1_999 }],
    totalCents: 3_998,
    status: 'PENDING',
    confirmation: 'manual',
    cancelReason: null,
    needsReview: false,
    reviewReason: null,
    refundedCents: 0,
    refunds: [] as unknown[],
    refundCount: 0,
    createdAt: new Date(0).toISOString(),
    updatedAt: new Date(0).toISOString(),
  };
  const refund = {
    refundId: 'r-1',
    orderId: 'o-1',
    amountCents: 1_000,
    reason: null,
    status: 'REFUNDED',
    rejectReason: null,
    createdAt: new Date(0).toISOString(),
    updatedAt: new Date(0).toISOString(),
  };

  it.each([
    ['from the workflow, with the row', { ...row, saga, source: 'workflow' }],
    ['from the workflow, before the row', { orderId: 'o-1', status: 'PENDING', saga, source: 'workflow' }],
    ['from the database', { ...row, status: 'CANCELLED', cancelReason: 'changed my mind', source: 'database' }],
    ['from the database, refunded in part', { ...row, status: 'CONFIRMED', refundedCents: 1_000, refunds: [refund], refundCount: 1, source: 'database' }],
    ['from the database, Temporal silent', { ...row, source: 'database', workflowUnreachable: true }],
    ['accepted, nothing stored yet, Temporal silent', { orderId: 'o-1', status: 'PENDING', source: 'database', workflowUnreachable: true }],
  ])('GET /orders/:orderId %s', (_name, answer) => {
    expect(orderAnswer.encode(answer as OrderAnswer)).toEqual(answer);
  });

  it('a 503 from /readyz is "not ready" or the one error shape', () => {
    const schema = readinessAnswer.or(errorBody);
    const notReady = { status: 'not-ready', database: 'ok', temporal: 'unreachable' } as const;
    expect(schema.encode(notReady)).toEqual(notReady);
    expect(schema.encode({ error: 'ShuttingDown', message: 'retry' })).toEqual({ error: 'ShuttingDown', message: 'retry' });
  });
});
