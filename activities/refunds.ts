import { randomUUID } from 'node:crypto';
import { log } from '@temporalio/activity';
import { applyBalanceChange, ledgerKeys } from '../billing/balance';
import { refundFingerprint } from '../billing/refund-fingerprint';
import { Topics } from '../contract/topics';
import { selectInventory, updateAvailableIfVersion } from '../db/inventory';
import { selectLedgerEntryByKey } from '../db/ledger';
import { LostRace, retryOnConflict } from '../db/optimistic-retry';
import { selectOrder, selectOrderForUpdate, updateRefundedCents } from '../db/orders';
import { insertOutboxEvent } from '../db/outbox';
import { withTransaction, type Queryable } from '../db/pool';
import { endRefund, insertRefund, selectRefundForUpdate, type RefundRow } from '../db/refunds';
import { selectStep } from '../db/steps';
import { BusinessError, BusinessRuleError } from '../domain/errors';
import { Limits } from '../domain/limits';
import { refundStepKey, rewardShareCents, type RefundStatus, type RefundStep } from '../domain/refund';
import { sanitizeText } from '../domain/text';
import type { CheckedStepState } from './orders';
import type { ActivityDeps } from './deps';
import { applyStepOnce, compensateStepOnce, type CompensationOutcome, type StepOutcome } from './step-fence';

export interface RefundInput {
  refundId: string;
  orderId: string;
  amountCents: number;
  reason?: string;
}

/** What the claim stored: the order's figures at the moment this refund took its share of the cap. */
interface Claim {
  accountId: string;
  amountCents: number;
  totalCents: number;
  refundedBeforeCents: number;
  refundedAfterCents: number;
}

async function claimOf(db: Queryable, refundId: string): Promise<Claim> {
  const row = await selectStep(db, refundStepKey(refundId), 'claim');
  // The kit runs a refund's steps after its claim only: anything else is a broken invariant, not a retry.
  if (row?.state !== 'applied') throw new Error(`refund ${refundId} has no applied claim (${row?.state ?? 'none'})`);
  return row.detail as unknown as Claim;
}

export function createRefundActivities({ pool }: ActivityDeps) {
  /** Takes the refund's share of what the order paid: the database's check, not only this read, keeps the sum within the total. */
  async function claimRefund({ refundId, orderId, amountCents }: RefundInput): Promise<StepOutcome> {
    if (!Number.isSafeInteger(amountCents) || amountCents <= 0) {
      throw new BusinessRuleError(BusinessError.InvalidRefund, `refund amount must be whole cents > 0, got ${amountCents}`);
    }
    return applyStepOnce(pool, { orderId: refundStepKey(refundId), step: 'claim', what: 'refund claim' }, async (tx): Promise<Record<string, unknown>> => {
      const order = await selectOrderForUpdate(tx, orderId);
      if (!order) throw new BusinessRuleError(BusinessError.UnknownOrder, `no order ${orderId}`, { orderId });
      if (order.status !== 'CONFIRMED') {
        throw new BusinessRuleError(BusinessError.OrderNotRefundable, `order ${orderId} is ${order.status}; only a confirmed order can be refunded`, {
          orderId,
          status: order.status,
        });
      }
      const refundedAfterCents = order.refunded_cents + amountCents;
      if (refundedAfterCents > order.total_cents) {
        throw new BusinessRuleError(
          BusinessError.RefundExceedsPaid,
          `order ${orderId} paid ${order.total_cents} cents and has ${order.refunded_cents} refunded; ${amountCents} more would pass what was paid`,
          { orderId, totalCents: order.total_cents, refundedCents: order.refunded_cents, requestedCents: amountCents },
        );
      }
      if (!(await updateRefundedCents(tx, { id: orderId, version: order.version, refundedCents: refundedAfterCents }))) throw new LostRace(orderId);
      const claim: Claim = {
        accountId: order.customer_id,
        amountCents,
        totalCents: order.total_cents,
        refundedBeforeCents: order.refunded_cents,
        refundedAfterCents,
      };
      return { ...claim };
    });
  }

  async function releaseRefundClaim({ refundId, orderId }: RefundInput): Promise<CompensationOutcome> {
    return compensateStepOnce(pool, { orderId: refundStepKey(refundId), step: 'claim' }, async (tx, detail) => {
      const order = await selectOrderForUpdate(tx, orderId);
      if (!order) throw new Error(`order ${orderId} vanished while refund ${refundId} held a claim`);
      const refundedCents = order.refunded_cents - (detail as unknown as Claim).amountCents;
      if (!(await updateRefundedCents(tx, { id: orderId, version: order.version, refundedCents }))) throw new LostRace(orderId);
    });
  }

  /**
   * The money back, less the order's cashback in proportion, as two ledger rows in one transaction: the
   * customer can never have spent the credit before the cashback is taken back.
   */
  async function creditRefund({ refundId, orderId }: RefundInput): Promise<StepOutcome> {
    return applyStepOnce(pool, { orderId: refundStepKey(refundId), step: 'credit', what: 'refund credit' }, async (tx) => {
      const claim = await claimOf(tx, refundId);
      await applyBalanceChange(tx, {
        accountId: claim.accountId,
        orderId,
        kind: 'refund',
        amountCents: claim.amountCents,
        idempotencyKey: ledgerKeys.refundCredit(refundId),
      });
      const reward = await selectLedgerEntryByKey(tx, ledgerKeys.reward(orderId));
      const rewardTakenBackCents = rewardShareCents({
        rewardCents: reward?.amount_cents ?? 0,
        totalCents: claim.totalCents,
        beforeCents: claim.refundedBeforeCents,
        afterCents: claim.refundedAfterCents,
      });
      if (rewardTakenBackCents > 0) {
        await applyBalanceChange(tx, {
          accountId: claim.accountId,
          orderId,
          kind: 'reward',
          amountCents: -rewardTakenBackCents,
          idempotencyKey: ledgerKeys.refundReward(refundId),
        });
      }
      return { accountId: claim.accountId, creditedCents: claim.amountCents, rewardTakenBackCents };
    });
  }

  /** Refused (and retried) only if the customer has since spent the credit: a compensation that must wait for funds. */
  async function reverseRefundCredit({ refundId, orderId }: RefundInput): Promise<CompensationOutcome> {
    return compensateStepOnce(pool, { orderId: refundStepKey(refundId), step: 'credit' }, async (tx, detail) => {
      const { accountId, creditedCents, rewardTakenBackCents } = detail as { accountId: string; creditedCents: number; rewardTakenBackCents: number };
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
    });
  }

  /** A refund that brings the order to fully refunded puts its goods back on sale; a partial one returns none. */
  async function restockRefund({ refundId, orderId }: RefundInput): Promise<StepOutcome> {
    return applyStepOnce(pool, { orderId: refundStepKey(refundId), step: 'restock', what: 'refund restock' }, async (tx) => {
      const claim = await claimOf(tx, refundId);
      if (claim.refundedAfterCents < claim.totalCents) return { quantities: {} };
      const reserved = await selectStep(tx, orderId, 'reserve');
      const quantities = (reserved?.detail.quantities ?? {}) as Record<string, number>;
      await changeStock(tx, quantities, +1);
      return { quantities };
    });
  }

  async function unstockRefund({ refundId }: RefundInput): Promise<CompensationOutcome> {
    return compensateStepOnce(pool, { orderId: refundStepKey(refundId), step: 'restock' }, async (tx, detail) => {
      await changeStock(tx, (detail.quantities ?? {}) as Record<string, number>, -1);
    });
  }

  async function changeStock(tx: Queryable, quantities: Record<string, number>, sign: 1 | -1): Promise<void> {
    for (const [sku, quantity] of Object.entries(quantities).sort(([a], [b]) => (a < b ? -1 : 1))) {
      const row = await selectInventory(tx, sku);
      if (!row) throw new Error(`inventory row ${sku} vanished`);
      if (!(await updateAvailableIfVersion(tx, { sku, version: row.version, newAvailable: row.available + sign * quantity }))) throw new LostRace(sku);
    }
  }

  /** The check-back of a refund's step, by its key. */
  async function checkRefundStep({ refundId, step }: { refundId: string; step: RefundStep }): Promise<CheckedStepState> {
    const row = await selectStep(pool, refundStepKey(refundId), step);
    return row ? row.state : 'not-applied';
  }

  /** The refund's end and its event, once; a refund started without the intake's row gets one. */
  function endOnce(input: RefundInput, status: Exclude<RefundStatus, 'PENDING'>, rejectReason?: string): Promise<{ status: RefundStatus }> {
    return retryOnConflict(() =>
      withTransaction(pool, async (tx) => {
        const refund = (await selectRefundForUpdate(tx, input.refundId)) ?? (await recordRefund(tx, input));
        // A refund of no order, or of no storable amount, was never recorded: its saga's result is all there is.
        if (!refund) return { status };
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

  return { claimRefund, releaseRefundClaim, creditRefund, reverseRefundCredit, restockRefund, unstockRefund, checkRefundStep, completeRefund, rejectRefund };
}

/** The intake's row, for a refund whose saga was started some other way; undefined when it cannot be stored. */
async function recordRefund(tx: Queryable, input: RefundInput): Promise<RefundRow | undefined> {
  const storable =
    input.refundId.length >= 1 &&
    input.refundId.length <= Limits.maxIdLength &&
    Number.isSafeInteger(input.amountCents) &&
    input.amountCents > 0 &&
    input.amountCents <= Limits.maxOrderTotalCents;
  if (!storable || !(await selectOrder(tx, input.orderId))) return undefined;
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
