import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../api/app';
import { errorBody, orderAnswer, readinessAnswer, type OrderAnswer } from '../api/schemas';
import type { OrderSagaStatus } from '../contract/saga';
import { loadConfig } from '../config';

interface JsonSchema {
  required?: string[];
  anyOf?: JsonSchema[];
  pattern?: string;
  maxLength?: number;
  properties?: Record<string, JsonSchema>;
}
interface Parameter {
  in: string;
  name: string;
  required?: boolean;
  schema: JsonSchema;
}
interface Operation {
  description?: string;
  parameters?: Parameter[];
  requestBody?: { required?: boolean; content: Record<string, { schema: JsonSchema }> };
  security?: unknown[];
  responses?: Record<string, Response>;
}
interface Response {
  description?: string;
  content?: Record<string, { schema?: JsonSchema }>;
}
interface Document {
  paths: Record<string, Record<string, Operation>>;
  components?: { securitySchemes?: Record<string, unknown> };
}

/** Routes open without API_KEY (api/plugins/auth.ts); every other one can answer 401. */
const open = new Set(['/healthz', '/readyz']);
/** What every route can answer: rate limited, an unexpected failure, a timeout or shutdown. */
const everyRoute = ['429', '500', '503'];

const isErrorBody = (schema: JsonSchema | undefined): boolean =>
  (['error', 'message'].every((key) => schema?.required?.includes(key)) || schema?.anyOf?.some(isErrorBody)) ?? false;

/** Only the document and the router are exercised: nothing needs to listen at these addresses. */
async function documentOnlyApp(extra: Record<string, string> = {}): Promise<FastifyInstance> {
  const config = loadConfig({
    DATABASE_URL: 'postgres://docs@127.0.0.1:1/docs',
    TEMPORAL_ADDRESS: '127.0.0.1:1',
    INTAKE_BACKLOG_LIMIT: '0',
    LOG_LEVEL: 'silent',
    ...extra,
  });
  return buildApp(config, { logger: false });
}

describe('the OpenAPI document at /docs/json', () => {
  let app: FastifyInstance;
  let doc: Document;

  beforeAll(async () => {
    app = await documentOnlyApp();
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

/** Each finding of the fuzzer that first read the document, as a regression test: the document says what the server enforces. */
describe('the document states what the server enforces', () => {
  let app: FastifyInstance;
  let doc: Document;
  beforeAll(async () => {
    app = await documentOnlyApp({ API_KEY: 'a-key-of-sixteen-chars' });
    doc = (await app.inject({ method: 'GET', url: '/docs/json' })).json<Document>();
  });
  afterAll(async () => app?.close());

  const body = (path: string) => doc.paths[path]!.post!.requestBody!;
  const bodySchema = (path: string) => body(path).content['application/json']!.schema;
  const pattern = (schema: JsonSchema | undefined) => new RegExp(schema!.pattern!, 'u');

  it('confirmWithin: 1 unit to 7 days in whole numbers, as the server checks; 0, negatives, fractions and 8 days are refused', () => {
    const confirmWithin = pattern(bodySchema('/orders').properties!.confirmWithin);
    for (const ok of ['1 second', '90 seconds', '10 minutes', '168 hours', '604800 seconds', '10080 minutes']) expect(confirmWithin.test(ok), ok).toBe(true);
    for (const bad of ['0 seconds', '-1 hours', '1.5 hours', '169 hours', '604801 seconds', '10081 minutes', '7 days'])
      expect(confirmWithin.test(bad), bad).toBe(false);
  });

  it('the Idempotency-Key of a top-up is published as required; of an order or a refund as optional, with the rule in the description', () => {
    const key = (path: string) => doc.paths[path]!.post!.parameters!.find((p) => p.in === 'header' && p.name === 'idempotency-key');
    expect(key('/accounts/{accountId}/credits')?.required).toBe(true);
    expect(key('/orders')?.required).toBe(false);
    expect(key('/orders/{orderId}/refunds')?.required).toBe(false);
    expect(doc.paths['/orders']!.post!.description).toMatch(/MessageIdMismatch[\s\S]*at most 1000000000000 cents/);
    expect(doc.paths['/orders/{orderId}/refunds']!.post!.description).toMatch(/RefundIdMismatch/);
  });

  it('confirm, cancel and check-back bodies are optional; the other bodies required', () => {
    for (const path of ['/orders/{orderId}/confirm', '/orders/{orderId}/cancel']) expect(body(path).required, path).toBe(false);
    for (const path of ['/orders', '/orders/{orderId}/refunds', '/accounts', '/orders/{orderId}/resolution']) expect(body(path).required, path).toBe(true);
  });

  it('IDs: the pattern refuses dots only; free text publishes its character rule and its length in code points', () => {
    const id = pattern(bodySchema('/orders').properties!.customerId);
    for (const bad of ['.', '..']) expect(id.test(bad), bad).toBe(false);
    expect(id.test('a.b')).toBe(true);
    const reason = bodySchema('/orders/{orderId}/refunds').properties!.reason!;
    expect(reason.maxLength).toBe(500);
    for (const bad of ['a\u0000b', 'tab\t', 'x\u202ey', 'x\uffff']) expect(pattern(reason).test(bad), JSON.stringify(bad)).toBe(false);
    expect(pattern(reason).test('one copy arrived damaged 😀')).toBe(true);
  });

  it('with API_KEY set, every route but the probes and the docs declares the bearer key', () => {
    expect(doc.components?.securitySchemes).toMatchObject({ apiKey: { type: 'http', scheme: 'bearer' } });
    for (const [path, methods] of Object.entries(doc.paths))
      for (const [method, op] of Object.entries(methods))
        expect({ route: `${method} ${path}`, secured: Boolean(op.security) }).toEqual({ route: `${method} ${path}`, secured: !open.has(path) });
  });

  it('a known path asked with another method: 405 with Allow in the one error shape; OPTIONS: 204 with Allow', async () => {
    for (const method of ['TRACE', 'DELETE', 'PATCH', 'PUT'] as const) {
      const answer = await app.inject({ method, url: '/orders/o-1/refunds' });
      expect({ method, status: answer.statusCode, allow: answer.headers.allow, error: answer.json<{ error: string }>().error }).toEqual({
        method,
        status: 405,
        allow: 'OPTIONS, POST',
        error: 'MethodNotAllowed',
      });
    }
    const options = await app.inject({ method: 'OPTIONS', url: '/orders/o-1' });
    expect({ status: options.statusCode, allow: options.headers.allow }).toEqual({ status: 204, allow: 'GET, HEAD, OPTIONS' });
    expect((await app.inject({ method: 'DELETE', url: '/no/such/path' })).statusCode).toBe(401);
  });

  it("framework errors leave in the service's own shape and code, never Fastify's", async () => {
    const auth = { authorization: 'Bearer a-key-of-sixteen-chars' };
    const answers = [
      await app.inject({ method: 'POST', url: '/accounts', headers: auth, payload: 'accountId=a' }),
      await app.inject({ method: 'POST', url: '/accounts', headers: { ...auth, 'content-type': 'text/plain' }, payload: 'x' }),
      await app.inject({ method: 'QUERY' as 'GET', url: '/no/such/path', headers: auth, payload: '{}' }),
    ];
    for (const answer of answers) {
      const error = answer.json<{ error: string }>().error;
      expect(error).not.toMatch(/^FST_/);
      expect(Object.keys(answer.json<object>()).sort()).toEqual(['error', 'message']);
    }
    expect(answers.slice(0, 2).map((a) => [a.statusCode, a.json<{ error: string }>().error])).toEqual([
      [415, 'UnsupportedContentType'],
      [415, 'UnsupportedContentType'],
    ]);
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
