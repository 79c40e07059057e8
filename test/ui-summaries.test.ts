import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { statusQuery } from '../contract/saga';
import { workflowIdFor } from '../domain/order';
import { formatCents, orderDetails, orderSummary } from '../domain/order-summary';
import { decideOrder } from '../intake/decide-order';
import { startOrder } from '../intake/start-order';
import { startRealStack, type RealStack } from './helpers/real-stack';
import { seed, uniqueIds } from './helpers/seed';

describe('order summaries for the Temporal Web UI', () => {
  it('formats whole cents exactly, to the largest order total', () => {
    expect([0, 5, 99, 100, 3998, -250, 1_000_000_000_000].map(formatCents)).toEqual(['0.00', '0.05', '0.99', '1.00', '39.98', '-2.50', '10000000000.00']);
    expect(() => formatCents(1.5)).toThrow(RangeError);
  });

  it('a summary line and details from the order', () => {
    const order = {
      customerId: 'alice_1',
      items: [{ sku: 'sku:a_b', quantity: 2, unitPriceCents: 1999 }],
      confirmation: 'manual' as const,
      confirmWithin: '2 hours',
    };
    expect(orderSummary(order)).toBe('alice_1 · 2 items · 39.98 · manual');
    expect(orderDetails(order)).toBe(
      ['**Customer** `alice_1`  ', '**Mode** manual, confirm within 2 hours  ', '**Total** 39.98', '', '- `sku:a_b` × 2 at 19.99 = 39.98'].join('\n'),
    );
  });

  describe('on a real server', () => {
    let stack: RealStack;
    beforeAll(async () => {
      stack = await startRealStack();
    });
    afterAll(async () => stack?.stop());

    it('every saga started by intake carries them', { timeout: 60_000 }, async () => {
      const ids = uniqueIds('ui');
      await seed(stack.db.pool, { account: [ids.account, 10_000], skus: [[ids.sku, 5]] });
      const order = { messageId: ids.message, customerId: ids.account, items: [{ sku: ids.sku, quantity: 3, unitPriceCents: 1250 }] };
      await startOrder({ client: stack.client, pool: stack.db.pool, taskQueue: stack.taskQueue }, order, 'rest');
      const description = await stack.client.workflow.getHandle(workflowIdFor(ids.message)).describe();
      expect(await description.staticSummary()).toBe(`${ids.account} · 3 items · 37.50 · auto`);
      expect(await description.staticDetails()).toContain(`- \`${ids.sku}\` × 3 at 12.50 = 37.50`);
    });

    it('activities, compensations and the decision timer carry summaries; the current details show the state', { timeout: 60_000 }, async () => {
      const ids = uniqueIds('uiflow');
      await seed(stack.db.pool, { account: [ids.account, 10_000], skus: [[ids.sku, 5]] });
      const order = {
        messageId: ids.message,
        customerId: ids.account,
        items: [{ sku: ids.sku, quantity: 2, unitPriceCents: 1999 }],
        confirmation: 'manual' as const,
      };
      await startOrder({ client: stack.client, pool: stack.db.pool, taskQueue: stack.taskQueue }, order, 'rest');
      const handle = stack.client.workflow.getHandle(workflowIdFor(ids.message));
      await vi.waitFor(async () => expect((await handle.query(statusQuery)).state).toBe('AWAITING_CONFIRMATION'), { timeout: 30_000, interval: 250 });
      const waiting = await handle.query<{ currentDetails: string }>('__temporal_workflow_metadata');
      expect(waiting.currentDetails).toBe('**AWAITING_CONFIRMATION** · step `confirmation`  \napplied: reserve, debit');
      await decideOrder({ client: stack.client, pool: stack.db.pool }, { orderId: ids.message, decision: 'cancel', reason: 'changed my mind' });

      const converter = stack.client.options.loadedDataConverter.payloadConverter;
      const summaries = ((await handle.fetchHistory()).events ?? [])
        .map((e) => e.userMetadata?.summary)
        .filter((p) => p != null)
        .map((p) => converter.fromPayload<string>(p));
      expect(summaries).toEqual(
        expect.arrayContaining([
          `open order ${ids.message}`,
          `reserve 2× ${ids.sku}`,
          `debit ${ids.account} 39.98`,
          expect.stringMatching(/^wait for confirmation until \d{4}-\d\d-\d\dT/),
          'settle decision: cancel',
          `refund ${ids.account} 39.98`,
          `release 2× ${ids.sku}`,
          `cancel order ${ids.message}`,
        ]),
      );
      const ended = await handle.query<{ currentDetails: string }>('__temporal_workflow_metadata');
      expect(ended.currentDetails).toBe('**CANCELLED** · step `done`  \napplied: reserve, debit  \ncompensated: debit (compensated), reserve (compensated)');
    });
  });
});
