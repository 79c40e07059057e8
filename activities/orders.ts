import { randomUUID } from 'node:crypto';
import { log } from '@temporalio/activity';
import { insertPendingOrder, recordConfirmationDecision, selectOrder, selectOrderForUpdate, updateOrderStatus, type OrderRow } from '../db/orders';
import { Topics } from '../contract/topics';
import { insertOutboxEvent } from '../db/outbox';
import { withTransaction, type Queryable } from '../db/pool';
import { BusinessError, BusinessRuleError } from '../domain/errors';
import { orderTotalCents, rewardCents, type ConfirmationDecision, type ConfirmationMode, type OrderItem, type SagaStep } from '../domain/order';
import { applyBalanceChange, ledgerKeys } from '../billing/balance';
import { LostRace, retryOnConflict } from '../db/optimistic-retry';
import { sanitizeText } from '../domain/text';
import type { ActivityDeps } from './deps';
import { checkStepOnce, type CheckedStepState } from './step-fence';

export interface OpenOrderInput {
  orderId: string;
  customerId: string;
  items: OrderItem[];
  confirmation: ConfirmationMode;
}

function sanitizeOrderText<T extends OpenOrderInput & { reason: string }>(input: T): T {
  return {
    ...input,
    customerId: sanitizeText(input.customerId, 128),
    items: input.items.map((item) => ({ ...item, sku: sanitizeText(item.sku, 128) })),
    reason: sanitizeText(input.reason, 1_000),
  };
}

async function writeTerminalEvent(
  tx: Queryable,
  order: OrderRow,
  eventType: 'order.confirmed' | 'order.cancelled',
  extra: Record<string, unknown>,
): Promise<void> {
  const eventId = randomUUID();
  await insertOutboxEvent(tx, {
    eventId,
    orderId: order.id,
    topic: Topics.events,
    key: order.id,
    eventType,
    payload: {
      eventId,
      type: eventType,
      orderId: order.id,
      messageId: order.id,
      customerId: order.customer_id,
      totalCents: order.total_cents,
      occurredAt: new Date().toISOString(),
      ...extra,
    },
  });
}

/** An order with no items or a total beyond safe integer cents can never apply: a business failure, not a retry. */
function validTotalCents(items: OrderItem[]): number {
  if (items.length === 0) throw new BusinessRuleError(BusinessError.InvalidOrder, 'an order needs at least one item');
  try {
    return orderTotalCents(items);
  } catch (err) {
    throw new BusinessRuleError(BusinessError.InvalidOrder, err instanceof Error ? err.message : String(err));
  }
}

export function createOrderActivities({ pool, rewardBasisPoints = 100 }: ActivityDeps) {
  /** The "half message": durable but not yet visible downstream. Idempotent on the message ID. */
  async function openOrder(input: OpenOrderInput): Promise<{ totalCents: number; created: boolean }> {
    const totalCents = validTotalCents(input.items);
    const created = await retryOnConflict(() =>
      insertPendingOrder(pool, { id: input.orderId, customerId: input.customerId, items: input.items, totalCents, confirmation: input.confirmation }),
    );
    return { totalCents, created };
  }

  async function commitOrder({ orderId }: { orderId: string }): Promise<{ rewardCents: number; alreadyCommitted: boolean }> {
    return retryOnConflict(() =>
      withTransaction(pool, async (tx) => {
        const order = await selectOrderForUpdate(tx, orderId);
        if (!order) throw new Error(`order ${orderId} not found at commit`);
        if (order.status === 'CONFIRMED') return { rewardCents: 0, alreadyCommitted: true };
        if (order.status === 'CANCELLED') throw new BusinessRuleError(BusinessError.OrderClosed, `order ${orderId} is already cancelled`);
        const reward = rewardCents(order.total_cents, rewardBasisPoints);
        if (reward > 0) {
          await applyBalanceChange(tx, {
            accountId: order.customer_id,
            orderId,
            kind: 'reward',
            amountCents: reward,
            idempotencyKey: ledgerKeys.reward(orderId),
          });
        }
        if (!(await updateOrderStatus(tx, { id: orderId, version: order.version, status: 'CONFIRMED' }))) throw new LostRace(orderId);
        await writeTerminalEvent(tx, order, 'order.confirmed', { status: 'CONFIRMED', rewardCents: reward });
        return { rewardCents: reward, alreadyCommitted: false };
      }),
    );
  }

  type CancelInput = OpenOrderInput & { reason: string; reviewReason?: string };

  function cancelOnce(input: CancelInput): Promise<{ alreadyCancelled: boolean }> {
    return retryOnConflict(() =>
      withTransaction(pool, async (tx) => {
        // The saga may fail before its open step ran; the order must exist all the same.
        await insertPendingOrder(tx, {
          id: input.orderId,
          customerId: input.customerId,
          items: input.items,
          totalCents: validTotalCents(input.items),
          confirmation: input.confirmation,
        });
        const order = (await selectOrderForUpdate(tx, input.orderId))!;
        if (order.status === 'CANCELLED') return { alreadyCancelled: true };
        if (order.status === 'CONFIRMED') throw new BusinessRuleError(BusinessError.OrderClosed, `order ${input.orderId} is already confirmed`);
        const updated = await updateOrderStatus(tx, {
          id: input.orderId,
          version: order.version,
          status: 'CANCELLED',
          cancelReason: input.reason,
          reviewReason: input.reviewReason,
        });
        if (!updated) throw new LostRace(input.orderId);
        await writeTerminalEvent(tx, order, 'order.cancelled', {
          status: 'CANCELLED',
          reason: input.reason,
          needsReview: input.reviewReason !== undefined,
        });
        return { alreadyCancelled: false };
      }),
    );
  }

  /**
   * The terminal write of every failed saga, so it must not fail for good: if PostgreSQL refuses a value
   * (SQLSTATE class 22), the order is cancelled with that text made storable and flagged for review.
   */
  async function cancelOrder(input: CancelInput): Promise<{ alreadyCancelled: boolean; reviewReason?: string }> {
    let reviewReason = input.reviewReason;
    const result = await cancelOnce(input).catch((err: unknown) => {
      if (!(err instanceof BusinessRuleError && err.type === BusinessError.DataError)) throw err;
      reviewReason = `data error while cancelling, text sanitised: ${sanitizeText(err.message, 300)}`;
      return cancelOnce({ ...sanitizeOrderText(input), reviewReason });
    });
    if (reviewReason) log.warn('order flagged for review', { orderId: input.orderId, reviewReason });
    return reviewReason ? { ...result, reviewReason } : result;
  }

  /** The check-back: what the database says about a step, by the order's idempotency key. */
  function checkStep({ orderId, step }: { orderId: string; step: SagaStep }): Promise<CheckedStepState> {
    return checkStepOnce(pool, { orderId, step });
  }

  /**
   * Stores `decision` unless one is stored already; returns the decision that stands. An order already
   * closed answers with its outcome: a local step that ran again after its workflow task was rejected
   * must learn that the commit it is about to decide on has already happened.
   */
  async function settleConfirmation({ orderId, decision }: { orderId: string; decision: ConfirmationDecision }): Promise<ConfirmationDecision | null> {
    const stored = await recordConfirmationDecision(pool, { id: orderId, decision });
    if (stored !== undefined) return stored;
    const order = await selectOrder(pool, orderId);
    if (order?.status === 'CONFIRMED') return 'confirm';
    if (order?.status === 'CANCELLED') return 'cancel';
    return null;
  }

  async function readConfirmationDecision({ orderId }: { orderId: string }): Promise<ConfirmationDecision | null> {
    const order = await selectOrder(pool, orderId);
    return order?.confirmation_decision ?? null;
  }

  return { openOrder, commitOrder, cancelOrder, checkStep, readConfirmationDecision, settleConfirmation };
}
