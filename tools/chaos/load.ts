import { setTimeout as sleep } from 'node:timers/promises';
import type { Producer } from 'kafkajs';
import { Topics } from '../../messaging/topics';

export interface LoadOptions {
  apiUrl: string;
  producer: Producer;
  run: string;
  orders: number;
  /** REST requests in flight at once. */
  concurrency: number;
  /** A producer gives up on one message after this long (its retries all answered 503 or failed). */
  giveUpMs: number;
  log: (line: string) => void;
}

interface Order {
  id: string;
  body: { customerId: string; items: { sku: string; quantity: number; unitPriceCents: number }[]; confirmation: 'auto' | 'manual'; confirmWithin?: string };
  channel: 'rest' | 'kafka' | 'both';
  duplicate: 'none' | 'concurrent' | 'later';
  decision?: 'confirm' | 'cancel';
  /** Refunds once the order is confirmed: shares of its total in percent, sent at once (two may ask for more than was paid). */
  refunds: { id: string; percent: number; channel: 'rest' | 'kafka'; copies: 1 | 2 }[];
}

export const accounts = { hot: 3, normal: 40, poor: 10 } as const;
export const skus = { plenty: 20, scarce: 3 } as const;

/** Accounts short of money and SKUs short of stock make compensations run; hot accounts make lock conflicts. */
export function seedPlan(run: string) {
  const accountIds = [
    ...Array.from({ length: accounts.hot }, (_, i) => [`${run}-hot-${i}`, 100_000_000] as const),
    ...Array.from({ length: accounts.normal }, (_, i) => [`${run}-acct-${i}`, 2_000_000] as const),
    ...Array.from({ length: accounts.poor }, (_, i) => [`${run}-poor-${i}`, 3_000] as const),
  ];
  const skuIds = [
    ...Array.from({ length: skus.plenty }, (_, i) => [`${run}-sku-${i}`, 1_000_000] as const),
    ...Array.from({ length: skus.scarce }, (_, i) => [`${run}-scarce-${i}`, 15] as const),
  ];
  return { accountIds, skuIds };
}

const pick = <T>(list: readonly T[]): T => list[Math.floor(Math.random() * list.length)]!;

function planOrder(run: string, i: number, plan: ReturnType<typeof seedPlan>): Order {
  const r = Math.random();
  const account =
    r < 0.25 ? plan.accountIds[Math.floor(Math.random() * accounts.hot)]! : r < 0.35 ? pick(plan.accountIds.slice(-accounts.poor)) : pick(plan.accountIds);
  const items = Array.from({ length: 1 + Math.floor(Math.random() * 3) }, () => ({
    sku: Math.random() < 0.1 ? pick(plan.skuIds.slice(-skus.scarce))[0] : pick(plan.skuIds.slice(0, skus.plenty))[0],
    quantity: 1 + Math.floor(Math.random() * 3),
    unitPriceCents: 100 + Math.floor(Math.random() * 5_000),
  }));
  const manual = Math.random() < 0.2;
  const decision = !manual ? undefined : Math.random() < 0.5 ? 'confirm' : Math.random() < 0.6 ? 'cancel' : undefined;
  const d = Math.random();
  const c = Math.random();
  const id = `${run}-${i}`;
  const refunds = manual || Math.random() >= 0.2 ? [] : planRefunds(id);
  return {
    id,
    refunds,
    // Manual orders without a decision wait out a one-minute window; the others get theirs within seconds.
    body: {
      customerId: account[0],
      items,
      confirmation: manual ? 'manual' : 'auto',
      // Short enough that a saga whose decision never got through expires and compensates within the run's quiet wait.
      ...(manual ? { confirmWithin: decision ? '3 minutes' : '1 minute' } : {}),
    },
    channel: c < 0.05 ? 'both' : c < 0.45 ? 'kafka' : 'rest',
    duplicate: d < 0.15 ? 'concurrent' : d < 0.3 ? 'later' : 'none',
    decision,
  };
}

/** One full refund, two halves, or two of 60% (one of which the cap must refuse), by REST or Kafka, some sent twice. */
function planRefunds(orderId: string): Order['refunds'] {
  const r = Math.random();
  const percents = r < 0.4 ? [100] : r < 0.7 ? [50, 50] : [60, 60];
  return percents.map((percent, n) => ({
    id: `${orderId}-refund-${n}`,
    percent,
    channel: Math.random() < 0.3 ? 'kafka' : 'rest',
    copies: Math.random() < 0.3 ? 2 : 1,
  }));
}

const totalOf = (order: Order) => order.body.items.reduce((sum, i) => sum + i.quantity * i.unitPriceCents, 0);

/** REST and Kafka producers that behave as the API asks: retry 503/429 and network errors with the same key. */
export class Load {
  sent = 0;
  readonly accepted = new Set<string>();
  readonly unexpected: { id: string; status: number; body: unknown }[] = [];
  gaveUp = 0;
  decisions = 0;
  /** Refund IDs sent, the REST ones the API accepted (200/202) or refused (409), and the Kafka ones produced. */
  readonly refundsSent = new Set<string>();
  readonly refundsAccepted = new Set<string>();
  readonly refundsRefused = new Set<string>();
  readonly refundsProduced = new Set<string>();
  private readonly later: Order[] = [];

  constructor(private readonly options: LoadOptions) {}

  async run(plan: ReturnType<typeof seedPlan>): Promise<void> {
    let next = 0;
    const worker = async () => {
      for (let i = next++; i < this.options.orders; i = next++) await this.place(planOrder(this.options.run, i, plan));
    };
    await Promise.all(Array.from({ length: this.options.concurrency }, worker));
    // Late duplicates: the same messages again, after their sagas ran or while they still run.
    await Promise.all(
      Array.from({ length: this.options.concurrency }, async () => {
        for (let order = this.later.shift(); order; order = this.later.shift()) await this.send(order);
      }),
    );
  }

  private async place(order: Order): Promise<void> {
    const sends = [this.send(order)];
    if (order.duplicate === 'concurrent') sends.push(this.send(order));
    if (order.duplicate === 'later') this.later.push(order);
    await Promise.all(sends);
    if (order.decision && this.accepted.has(order.id)) {
      await sleep(Math.random() * 2_000);
      await this.decide(order.id, order.decision);
    }
    if (order.refunds.length && this.accepted.has(order.id) && (await this.confirmed(order.id))) {
      await Promise.all(order.refunds.flatMap((refund) => Array.from({ length: refund.copies }, () => this.refund(order, refund))));
    }
  }

  /** Waits for the order's end: true once it is confirmed, false once cancelled or past the give-up time. */
  private async confirmed(id: string): Promise<boolean> {
    const deadline = Date.now() + this.options.giveUpMs;
    while (Date.now() < deadline) {
      const answer = await this.call('GET', `/orders/${id}`, undefined).catch(() => undefined);
      const status = (answer?.body as { status?: string } | undefined)?.status;
      if (status === 'CONFIRMED') return true;
      if (status === 'CANCELLED') return false;
      await sleep(1_000);
    }
    return false;
  }

  private async refund(order: Order, refund: Order['refunds'][number]): Promise<void> {
    const amountCents = Math.max(1, Math.floor((totalOf(order) * refund.percent) / 100));
    this.refundsSent.add(refund.id);
    if (refund.channel === 'kafka') {
      await this.produceValue(refund.id, order.id, { type: 'refund', refundId: refund.id, orderId: order.id, amountCents });
      this.refundsProduced.add(refund.id);
      return;
    }
    // 409: refused (past what was paid, or another copy with other content); 404 is retried like a 503.
    const answer = await this.retrying(refund.id, () => this.call('POST', `/orders/${order.id}/refunds`, { refundId: refund.id, amountCents }), [409], [404]);
    if (answer?.status === 200 || answer?.status === 202) this.refundsAccepted.add(refund.id);
    else if (answer?.status === 409) this.refundsRefused.add(refund.id);
  }

  private async send(order: Order): Promise<void> {
    const channels = order.channel === 'both' ? (['rest', 'kafka'] as const) : [order.channel];
    await Promise.all(channels.map((channel) => (channel === 'rest' ? this.post(order) : this.produce(order))));
  }

  private async produce(order: Order): Promise<void> {
    if (await this.produceValue(order.id, order.body.customerId, { messageId: order.id, ...order.body })) this.accepted.add(order.id);
  }

  private async produceValue(id: string, key: string, value: object): Promise<boolean> {
    const deadline = Date.now() + this.options.giveUpMs;
    for (;;) {
      try {
        this.sent++;
        await this.options.producer.send({ topic: Topics.commands, acks: -1, messages: [{ key, value: JSON.stringify(value) }] });
        return true;
      } catch (err) {
        if (Date.now() > deadline) {
          this.gaveUp++;
          this.options.log(`gave up producing ${id}: ${String(err)}`);
          return false;
        }
        await sleep(500);
      }
    }
  }

  private async post(order: Order): Promise<void> {
    const answer = await this.retrying(order.id, () => this.call('POST', '/orders', order.body, { 'idempotency-key': order.id }));
    if (answer && (answer.status === 200 || answer.status === 202)) this.accepted.add(order.id);
  }

  private async decide(id: string, decision: 'confirm' | 'cancel'): Promise<void> {
    // A Kafka order may not have its saga yet when the decision comes: 404 is retried like a 503.
    const answer = await this.retrying(
      id,
      () => this.call('POST', `/orders/${id}/${decision}`, decision === 'cancel' ? { reason: 'chaos' } : {}),
      [409],
      [404],
    );
    if (answer?.status === 200 || answer?.status === 202) this.decisions++;
  }

  /** Retries what the API says to retry; anything other than 2xx or `allowed` is recorded as unexpected. */
  private async retrying(
    id: string,
    call: () => Promise<{ status: number; body: unknown; retryAfter?: number }>,
    allowed: number[] = [],
    retried: number[] = [],
  ) {
    const deadline = Date.now() + this.options.giveUpMs;
    for (;;) {
      this.sent++;
      const answer = await call().catch(() => ({ status: 0, body: 'network error', retryAfter: 0.5 }));
      if ((answer.status >= 200 && answer.status < 300) || allowed.includes(answer.status)) return answer;
      if (![0, 503, 429, ...retried].includes(answer.status)) {
        this.unexpected.push({ id, status: answer.status, body: answer.body });
        return answer;
      }
      if (Date.now() > deadline) {
        this.gaveUp++;
        return undefined;
      }
      await sleep(Math.min(answer.retryAfter ?? 1, 2) * 1_000 * (0.5 + Math.random()));
    }
  }

  private async call(method: string, url: string, body: unknown, headers: Record<string, string> = {}) {
    const response = await fetch(`${this.options.apiUrl}${url}`, {
      method,
      headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(20_000),
    });
    const retryAfter = Number(response.headers.get('retry-after') ?? 1);
    const answer: unknown = await response.json().catch(() => undefined);
    return { status: response.status, body: answer, retryAfter };
  }
}
