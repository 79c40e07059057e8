import { randomUUID } from 'node:crypto';
import { log } from '@temporalio/activity';
import { applyBalanceChange, ledgerKeys } from '../billing/balance';
import { refundFingerprint } from '../billing/refund-fingerprint';
import { refundMessageSchema } from '../contract/refund';
import { Topics } from '../contract/topics';
import { selectInventory, updateAvailableIfVersion } from '../db/inventory';
import { selectLedgerEntryByKey } from '../db/ledger';
import { LostRace, retryOnConflict } from '../db/optimistic-retry';
import { selectOrder, selectOrderForUpdate, updateOrderRefunds, updateRestockedBy } from '../db/orders';
import { insertOutboxEvent } from '../db/outbox';
import { withTransaction, type Queryable } from '../db/pool';
import { endRefund, insertRefund, selectRefundForUpdate, type RefundRow } from '../db/refunds';
import { selectStep } from '../db/steps';
import { BusinessError, BusinessRuleError } from '../domain/errors';
import { Limits } from '../domain/limits';
import { refundStepKey, rewardShareCents, type RefundStatus, type RefundStep } from '../domain/refund';
import { sanitizeText } from '../domain/text';
import type { ActivityDeps } from './deps';
import { applyStepOnce, checkStepOnce, compensateStepOnce, type CheckedStepState, type CompensationOutcome, type StepOutcome } from './step-fence';

export interface RefundInput {
  refundId: string;
  orderId: string;
  amountCents: number;
  reason?: string;
}

/** What a refund's credit changed, so that its reversal undoes exactly that. */
interface Credit {
  accountId: string;
  creditedCents: number;
  rewardTakenBackCents: number;
}

const storableRefund = refundMessageSchema.pick({ refundId: true, amountCents: true });
/** The contract's rules for a refund's ID and amount: a saga started some other way than the intake meets them too. */
const isStorable = ({ refundId, amountCents }: RefundInput) => storableRefund.safeParse({ refundId, amountCents }).success;

/** A compensation that has to wait (for funds, for stock) is retried by its activity profile until it can run. */
function waitFor(what: string, err: unknown): never {
  if (err instanceof BusinessRuleError && (err.type === BusinessError.InsufficientFunds || err.type === BusinessError.DataError)) {
    log.warn(`${what} must wait`, { reason: err.message });
    throw new Error(`${what} must wait: ${err.message}`, { cause: err });
  }
  throw err;
}

export function createRefundActivities({ pool }: ActivityDeps) {
  /**
   * Claims the refund's share of what the order paid and credits it, less the cashback in proportion, in one
   * transaction under the order's lock: the database's check keeps the refunded sum within the total whatever
   * raced, and the customer can never spend the credit before the cashback is taken back.
   */
  async function creditRefund(input: RefundInput): Promise<StepOutcome> {
    const { refundId, orderId, amountCents } = input;
    if (!isStorable(input)) {
      throw new BusinessRuleError(
        BusinessError.InvalidRefund,
        `refund ${refundId.slice(0, 200)}: the contract refuses its ID or its amount (whole cents from 1 to ${Limits.maxOrderTotalCents})`,
      );
    }
    return applyStepOnce(pool, { orderId: refundStepKey(refundId), step: 'credit', what: 'refund credit' }, async (tx): Promise<Record<string, unknown>> => {
      const order = await selectOrderForUpdate(tx, orderId);
      if (!order) throw new BusinessRuleError(BusinessError.UnknownOrder, `no order ${orderId}`, { orderId });
      if (order.status !== 'CONFIRMED') {
        throw new BusinessRuleError(BusinessError.OrderNotRefundable, `order ${orderId} is ${order.status}; only a confirmed order can be refunded`, {
          orderId,
          status: order.status,
        });
      }
      const stored = (await selectRefundForUpdate(tx, refundId)) ?? (await recordRefund(tx, input));
      if (stored && stored.fingerprint !== refundFingerprint(input)) {
        throw new BusinessRuleError(BusinessError.RefundIdConflict, `refund ${refundId} was stored with other content than this saga's`, { refundId });
      }
      const refundedAfterCents = order.refunded_cents + amountCents;
      if (refundedAfterCents > order.total_cents) {
        throw new BusinessRuleError(
          BusinessError.RefundExceedsPaid,
          `order ${orderId} paid ${order.total_cents} cents and has ${order.refunded_cents} refunded; ${amountCents} more would pass what was paid`,
          { orderId, totalCents: order.total_cents, refundedCents: order.refunded_cents, requestedCents: amountCents },
        );
      }
      const reward = await selectLedgerEntryByKey(tx, ledgerKeys.reward(orderId));
      const rewardTakenBackCents = rewardShareCents({
        rewardCents: reward?.amount_cents ?? 0,
        totalCents: order.total_cents,
        refundedAfterCents,
        takenBackCents: order.reward_taken_back_cents,
      });
      const updated = await updateOrderRefunds(tx, {
        id: orderId,
        version: order.version,
        refundedCents: refundedAfterCents,
        rewardTakenBackCents: order.reward_taken_back_cents + rewardTakenBackCents,
      });
      if (!updated) throw new LostRace(orderId);
      const accountId = order.customer_id;
      await applyBalanceChange(tx, { accountId, orderId, kind: 'refund', amountCents, idempotencyKey: ledgerKeys.refundCredit(refundId) });
      if (rewardTakenBackCents > 0) {
        await applyBalanceChange(tx, {
          accountId,
          orderId,
          kind: 'reward',
          amountCents: -rewardTakenBackCents,
          idempotencyKey: ledgerKeys.refundReward(refundId),
        });
      }
      const credit: Credit = { accountId, creditedCents: amountCents, rewardTakenBackCents };
      return { ...credit };
    });
  }

  /** Gives back the order's share and takes the credit back; waits (retried) while the customer has spent it. */
  async function reverseRefundCredit({ refundId, orderId }: RefundInput): Promise<CompensationOutcome> {
    return compensateStepOnce(pool, { orderId: refundStepKey(refundId), step: 'credit' }, async (tx, detail) => {
      const { accountId, creditedCents, rewardTakenBackCents } = detail as unknown as Credit;
      const order = await selectOrderForUpdate(tx, orderId);
      if (!order) throw new Error(`order ${orderId} vanished while refund ${refundId} held a credit`);
      const updated = await updateOrderRefunds(tx, {
        id: orderId,
        version: order.version,
        refundedCents: order.refunded_cents - creditedCents,
        rewardTakenBackCents: order.reward_taken_back_cents - rewardTakenBackCents,
      });
      if (!updated) throw new LostRace(orderId);
      if (rewardTakenBackCents > 0) {
        await applyBalanceChange(tx, {
          accountId,
          orderId,
          kind: 'reward',
          amountCents: rewardTakenBackCents,
          idempotencyKey: ledgerKeys.refundRewardReturned(refundId),
        });
      }
      await applyBalanceChange(tx, {
        accountId,
        orderId,
        kind: 'debit',
        amountCents: -creditedCents,
        idempotencyKey: ledgerKeys.refundCreditReversed(refundId),
      });
    }).catch((err: unknown) => waitFor(`reversing refund ${refundId}`, err));
  }

  /** The refund that finds the order refunded in full puts its goods back on sale, once per order; any other returns none. */
  async function restockRefund({ refundId, orderId }: RefundInput): Promise<StepOutcome> {
    return applyStepOnce(pool, { orderId: refundStepKey(refundId), step: 'restock', what: 'refund restock' }, async (tx) => {
      const order = await selectOrderForUpdate(tx, orderId);
      if (!order || order.refunded_cents < order.total_cents || order.restocked_by !== null) return { quantities: {} };
      const quantities = ((await selectStep(tx, orderId, 'reserve'))?.detail.quantities ?? {}) as Record<string, number>;
      await changeStock(tx, quantities, +1);
      if (!(await updateRestockedBy(tx, { id: orderId, version: order.version, restockedBy: refundId }))) throw new LostRace(orderId);
      return { quantities };
    });
  }

  /** Takes back a restock this refund made; waits (retried) while the goods are sold again. */
  async function unstockRefund({ refundId, orderId }: RefundInput): Promise<CompensationOutcome> {
    return compensateStepOnce(pool, { orderId: refundStepKey(refundId), step: 'restock' }, async (tx, detail) => {
      const quantities = (detail.quantities ?? {}) as Record<string, number>;
      if (Object.keys(quantities).length === 0) return;
      const order = await selectOrderForUpdate(tx, orderId);
      if (!order || order.restocked_by !== refundId) return;
      await changeStock(tx, quantities, -1);
      if (!(await updateRestockedBy(tx, { id: orderId, version: order.version, restockedBy: null }))) throw new LostRace(orderId);
    }).catch((err: unknown) => waitFor(`taking back the restock of refund ${refundId}`, err));
  }

  async function changeStock(tx: Queryable, quantities: Record<string, number>, sign: 1 | -1): Promise<void> {
    for (const [sku, quantity] of Object.entries(quantities).sort(([a], [b]) => (a < b ? -1 : 1))) {
      const row = await selectInventory(tx, sku);
      if (!row) throw new Error(`inventory row ${sku} vanished`);
      if (!(await updateAvailableIfVersion(tx, { sku, version: row.version, newAvailable: row.available + sign * quantity }))) throw new LostRace(sku);
    }
  }

  /** The check-back of a refund's step, by its key. */
  function checkRefundStep({ refundId, step }: { refundId: string; step: RefundStep }): Promise<CheckedStepState> {
    return checkStepOnce(pool, { orderId: refundStepKey(refundId), step });
  }

  /** The refund's end and its event, once; a refund started without the intake's row gets one. */
  function endOnce(input: RefundInput, status: Exclude<RefundStatus, 'PENDING'>, rejectReason?: string): Promise<{ status: RefundStatus }> {
    return retryOnConflict(() =>
      withTransaction(pool, async (tx) => {
        const refund = (await selectRefundForUpdate(tx, input.refundId)) ?? (await recordRefund(tx, input));
        // A refund of no order, or of no storable amount, was never recorded: its saga's result is all there is.
        if (!refund) return { status };
        if (refund.fingerprint !== refundFingerprint(input)) {
          log.warn('refund stored with other content than its saga; left as it is', { refundId: input.refundId });
          return { status };
        }
        if (refund.status !== 'PENDING') {
          if (refund.status !== status) throw new Error(`refund ${input.refundId} is already ${refund.status}, cannot become ${status}`);
          return { status };
        }
        await endRefund(tx, { id: refund.id, status, rejectReason });
        await writeRefundEvent(tx, refund, status, rejectReason);
        return { status };
      }),
    );
  }

  async function completeRefund(input: RefundInput): Promise<{ status: RefundStatus }> {
    return endOnce(input, 'REFUNDED');
  }

  /** The last write of a refund that compensated: the reason is made storable, so this write cannot fail for it. */
  async function rejectRefund(input: RefundInput & { rejectReason: string }): Promise<{ status: RefundStatus }> {
    const outcome = await endOnce(input, 'REJECTED', sanitizeText(input.rejectReason, 1_000));
    log.info('refund rejected', { refundId: input.refundId, orderId: input.orderId });
    return outcome;
  }

  return { creditRefund, reverseRefundCredit, restockRefund, unstockRefund, checkRefundStep, completeRefund, rejectRefund };
}

/** The intake's row, for a refund whose saga was started some other way; undefined when it cannot be stored. */
async function recordRefund(tx: Queryable, input: RefundInput): Promise<RefundRow | undefined> {
  if (!isStorable(input) || !(await selectOrder(tx, input.orderId))) return undefined;
  const reason = input.reason === undefined ? undefined : sanitizeText(input.reason, Limits.maxReasonLength);
  await insertRefund(tx, { id: input.refundId, orderId: input.orderId, amountCents: input.amountCents, reason, fingerprint: refundFingerprint(input) });
  return selectRefundForUpdate(tx, input.refundId);
}

async function writeRefundEvent(tx: Queryable, refund: RefundRow, status: 'REFUNDED' | 'REJECTED', rejectReason?: string): Promise<void> {
  const eventId = randomUUID();
  const eventType = status === 'REFUNDED' ? 'refund.completed' : 'refund.rejected';
  await insertOutboxEvent(tx, {
    eventId,
    orderId: refund.order_id,
    refundId: refund.id,
    topic: Topics.events,
    key: refund.order_id,
    eventType,
    payload: {
      eventId,
      type: eventType,
      refundId: refund.id,
      orderId: refund.order_id,
      amountCents: refund.amount_cents,
      status,
      ...(rejectReason ? { reason: rejectReason } : {}),
      occurredAt: new Date().toISOString(),
    },
  });
}
