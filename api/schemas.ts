import { z } from 'zod';
import { cancelBodySchema, cents, freeText, idSchema, messageIdSchema, orderCommandSchema } from '../contract/order';
import { refundCommandSchema } from '../contract/refund';
import type { OrderSagaStatus } from '../contract/saga';
import { Limits } from '../domain/limits';

/** HTTP-only shapes; the order itself is in contract/order. */
export const accountIdParams = z.strictObject({ accountId: idSchema });
export const orderIdParams = z.strictObject({ orderId: messageIdSchema });
export const refundParams = z.strictObject({ orderId: messageIdSchema, refundId: idSchema });
export const skuParams = z.strictObject({ sku: idSchema });

// Examples are requests the server accepts: the API fuzz sends each of them and fails if one is refused.
export const createAccountSchema = z
  .strictObject({ accountId: idSchema, openingBalanceCents: cents(Limits.maxBalanceCents) })
  .meta({ examples: [{ accountId: 'alice', openingBalanceCents: 10_000 }] });
export const creditSchema = z.strictObject({ amountCents: cents(Limits.maxBalanceCents).positive() }).meta({ examples: [{ amountCents: 2_500 }] });
export const inventorySchema = z.strictObject({ available: z.number().int().nonnegative().max(Limits.maxStockLevel) }).meta({ examples: [{ available: 5 }] });
/** POST /orders: the contract's order, with an example. */
export const orderBody = orderCommandSchema.meta({
  examples: [{ customerId: 'alice', items: [{ sku: 'book-1', quantity: 2, unitPriceCents: 1_999 }] }],
});
/** POST /orders/:orderId/refunds: the contract's refund, with an example. */
export const refundBody = refundCommandSchema.meta({ examples: [{ refundId: 'refund-1001-a', amountCents: 1_999, reason: 'one copy arrived damaged' }] });
/** The body is optional: no body, an empty one, or JSON null all mean "no reason". */
export const cancelSchema = cancelBodySchema.nullish();
export const confirmSchema = z.strictObject({}).nullish();

/** An operator's resolution of a flagged order: who (an ID-like name) and what they found or did. */
export const resolutionSchema = z
  .strictObject({ resolvedBy: idSchema, note: freeText(Limits.maxReasonLength).min(1) })
  .meta({ examples: [{ resolvedBy: 'ops-ana', note: 'debit confirmed with the bank; no action needed' }] });
export const reviewListQuery = z.strictObject({ limit: z.coerce.number().int().min(1).max(1_000).default(100) });

export const idempotencyHeaders = z.object({ 'idempotency-key': messageIdSchema.optional().meta({ examples: ['order-1001'] }) });
/** A top-up has no ID of its own in the body: the key is required. */
export const creditHeaders = z.object({
  'idempotency-key': messageIdSchema.describe('the top-up applies once per key and account').meta({ examples: ['topup-2026-12-08-1'] }),
});

export const orderStartHeaders = idempotencyHeaders.extend({
  // No length cap: a Prefer the server cannot use is ignored (RFC 7240), never refused; Node bounds the header size.
  prefer: z
    .string()
    .optional()
    .describe('`wait=N`: answer with the outcome (200, CONFIRMED or CANCELLED) if the saga ends within N seconds (at most API_MAX_WAIT_SECONDS)'),
});

/** The one error shape; every route's error answers use it. */
export const errorBody = z.object({
  error: z.string().describe('a stable code, e.g. ValidationError, OrderNotFound, TemporalUnavailable'),
  message: z.string(),
  details: z.unknown().optional().describe("ValidationError: one { in, path, message } per problem; a refused decision: the order's state"),
});

const errorMeanings = {
  400: 'Bad request: ValidationError (with details), MalformedJson, DuplicateKey, ForbiddenKey or a route-specific code',
  401: 'Unauthorized: API_KEY is set and the Authorization header is missing or wrong',
  403: 'Forbidden: OperatorKeyRequired, an operator route while API_KEY is not set',
  404: 'Not found',
  409: 'Conflict with what was stored before, or with the current state (BalanceLimitExceeded: the balance would pass its limit)',
  413: 'PayloadTooLarge: the body is over API_BODY_LIMIT_BYTES',
  415: 'UnsupportedContentType: a body must be sent as application/json (UTF-8)',
  422: 'ValueRefused: a value is outside what the database accepts',
  429: 'RateLimited: past the per-client budget',
  500: 'InternalError: an unexpected failure; the message is masked',
  503: 'Unavailable (DatabaseUnavailable, TemporalUnavailable, Timeout, ShuttingDown or route-specific): retry after Retry-After seconds',
} as const;
export type ErrorStatus = keyof typeof errorMeanings;

/** Answers any route can give: rate limited, an unexpected failure, a timeout or shutdown. */
const everyRoute = [429, 500, 503] as const;

/** Response schemas for the given error statuses, plus those every route can answer. */
export function errorResponses<S extends ErrorStatus>(...statuses: S[]): Record<S | (typeof everyRoute)[number], typeof errorBody> {
  const all = new Set<ErrorStatus>([...statuses, ...everyRoute]);
  return Object.fromEntries([...all].map((status) => [status, errorBody.describe(errorMeanings[status])])) as Record<
    S | (typeof everyRoute)[number],
    typeof errorBody
  >;
}

// Answers. Plain types without the input bounds: a stored value must never fail its own answer.
const int = z.number().int();
const timestamp = z.iso.datetime();
const orderStatus = z.enum(['PENDING', 'CONFIRMED', 'CANCELLED']);

export const healthAnswer = z.object({ status: z.literal('ok') }).describe('Alive');
const reachable = z.enum(['ok', 'unreachable']);
export const readinessAnswer = z.object({ status: z.enum(['ready', 'not-ready']), database: reachable, temporal: reachable });

export const startAnswer = z.object({
  orderId: z.string(),
  workflowId: z.string(),
  runId: z.string(),
  duplicate: z.boolean(),
  status: orderStatus.describe('PENDING until the saga has ended it; a copy of a finished order, or an answer after `Prefer: wait`, gets its end state'),
  reason: z.string().optional().describe('why a CANCELLED order was cancelled'),
  needsReview: z.boolean().optional().describe('with an end state: the saga was flagged for an operator'),
});

export const refundView = z.object({
  refundId: z.string(),
  orderId: z.string(),
  amountCents: int,
  reason: z.string().nullable(),
  status: z.enum(['PENDING', 'REFUNDED', 'REJECTED']),
  rejectReason: z.string().nullable().describe('REJECTED: why (a refused claim, or a step that failed)'),
  createdAt: timestamp,
  updatedAt: timestamp,
});
export const refundAnswer = refundView.extend({
  workflowId: z.string(),
  runId: z.string(),
  duplicate: z.boolean().describe('a copy of a refund already requested: the same refund, its saga started once'),
});

const storedOrder = z.object({
  orderId: z.string(),
  customerId: z.string(),
  items: z.array(z.object({ sku: z.string(), quantity: int, unitPriceCents: int })),
  totalCents: int,
  status: orderStatus,
  confirmation: z.enum(['auto', 'manual']),
  cancelReason: z.string().nullable(),
  needsReview: z.boolean(),
  reviewReason: z.string().nullable(),
  resolution: z.object({ resolvedBy: z.string(), note: z.string(), resolvedAt: timestamp }).optional().describe("an operator's resolution of its review"),
  refundedCents: int.describe('what its refunds have claimed so far; never more than totalCents'),
  refunds: z.array(refundView).describe('its newest 100 refunds, oldest first'),
  refundCount: int.describe('how many refunds it has in all'),
  createdAt: timestamp,
  updatedAt: timestamp,
});
/** The saga's status query answer. Only orderId and state are required, so a worker of another version never fails the answer. */
const sagaStatus = z.object({
  orderId: z.string(),
  state: z.enum(['RUNNING', 'AWAITING_CONFIRMATION', 'COMPENSATING', 'CONFIRMED', 'CANCELLED']),
  currentStep: z.string().optional(),
  stepsApplied: z.array(z.string()).optional(),
  compensationsDone: z.array(z.object({ step: z.string(), outcome: z.string() })).optional(),
  checkBacksUsed: int.optional(),
  nextCheckBackAt: z.string().optional(),
  reason: z.string().optional(),
  needsReview: z.boolean().optional(),
  reviewReason: z.string().optional(),
  resolution: z.object({ resolvedBy: z.string(), note: z.string(), resolvedAt: z.string() }).optional(),
});
// A field added to the saga's status must be added here too, or it would be stripped from the answer.
const _sagaStatusCovered: Record<keyof OrderSagaStatus, unknown> = sagaStatus.shape;
const opening = z.object({ orderId: z.string(), status: z.literal('PENDING') });
const fromWorkflow = { source: z.literal('workflow'), saga: sagaStatus };
const fromDatabase = { source: z.literal('database'), workflowUnreachable: z.literal(true).optional() };
/** The first shape that fits is sent, so the fuller ones come first. */
export const orderAnswer = z
  .union([
    storedOrder.extend(fromWorkflow),
    storedOrder.extend(fromDatabase),
    opening.extend(fromWorkflow),
    opening.extend({ ...fromDatabase, workflowUnreachable: z.literal(true) }),
  ])
  .describe('While the saga runs: its status query (source "workflow"), with the stored row once written. Else the row (source "database")');

export type OrderAnswer = z.output<typeof orderAnswer>;

export const accountAnswer = z.object({ accountId: z.string(), balanceCents: int, version: int, created: z.boolean() });
export const creditAnswer = z.object({ accountId: z.string(), applied: z.boolean(), balanceAfterCents: int });
export const accountDetailsAnswer = z
  .object({
    accountId: z.string(),
    balanceCents: int,
    openingBalanceCents: int,
    version: int,
    recentLedgerEntries: z.array(
      z.object({
        key: z.string(),
        orderId: z.string().nullable(),
        kind: z.enum(['debit', 'refund', 'reward', 'credit']),
        amountCents: int,
        balanceAfterCents: int,
        at: timestamp,
      }),
    ),
  })
  .describe('The account and its last 20 ledger entries');
export const inventoryAnswer = z.object({ sku: z.string(), available: int, version: int }).describe('The stock on hand');

export const flaggedOrdersAnswer = z
  .object({
    orders: z.array(
      z.object({ orderId: z.string(), customerId: z.string(), status: z.string(), totalCents: int, reviewReason: z.string().nullable(), flaggedAt: timestamp }),
    ),
  })
  .describe('Orders flagged for review and not yet resolved, longest waiting first');
export const resolutionAnswer = z.object({
  orderId: z.string(),
  reviewReason: z.string(),
  resolvedBy: z.string(),
  note: z.string(),
  resolvedAt: timestamp,
  created: z.boolean(),
  saga: z.enum(['released', 'closed']).describe('released: the saga cleared NeedsReview and completed; closed: its workflow had already ended'),
});
export const checkBackAnswer = z
  .object({
    orderId: z.string(),
    step: z.string(),
    state: z.enum(['applied', 'not-applied', 'compensated', 'fenced', 'unknown']),
    checkBacksUsed: int,
  })
  .describe('What the check-back found: applied, the saga goes on; not applied, it compensates; unknown, it keeps checking back');
export const checkBackPending = z.object({ orderId: z.string(), state: z.literal('checking') });
