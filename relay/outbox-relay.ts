import { setTimeout as sleep } from 'node:timers/promises';
import type { Kafka, Producer } from 'kafkajs';
import { lockUnpublishedEvents, markEventsPublished } from '../db/outbox-relay';
import { withTransaction, type Pool } from '../db/pool';
import type { Log } from '../lib/logger';

export interface RelayOptions {
  pool: Pool;
  kafka: Kafka;
  logger: Log;
  batchSize?: number;
  idleMs?: number;
  maxBackoffMs?: number;
  /** After each batch the broker acknowledged: how many events, and how long the send took. */
  onPublished?: (count: number, seconds: number) => void;
}

/**
 * Publishes outbox rows to Kafka. A row is marked published only after the broker acknowledged it
 * (acks=-1, idempotent producer), in the transaction that holds its lock; a crash or broker outage
 * in between re-sends it, and consumers dedupe by the event ID header.
 */
export class OutboxRelay {
  private producer?: Producer;
  private running = false;
  private loop?: Promise<void>;
  published = 0;

  constructor(private readonly options: RelayOptions) {}

  start(): void {
    this.running = true;
    this.producer = this.options.kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
    await this.producer?.disconnect().catch(() => undefined);
  }

  /** One page: returns how many events were published. */
  async publishOnce(): Promise<number> {
    const producer = this.producer!;
    return withTransaction(this.options.pool, async (tx) => {
      const events = await lockUnpublishedEvents(tx, this.options.batchSize ?? 100);
      if (events.length === 0) return 0;
      const topics = [...new Set(events.map((e) => e.topic))];
      const sent = process.hrtime.bigint();
      await producer.sendBatch({
        acks: -1,
        topicMessages: topics.map((topic) => ({
          topic,
          messages: events
            .filter((e) => e.topic === topic)
            .map((e) => ({
              key: e.key,
              value: JSON.stringify(e.payload),
              headers: { 'event-id': e.event_id, 'message-id': e.order_id, 'event-type': e.event_type },
            })),
        })),
      });
      this.options.onPublished?.(events.length, Number(process.hrtime.bigint() - sent) / 1e9);
      await markEventsPublished(
        tx,
        events.map((e) => e.event_id),
      );
      return events.length;
    });
  }

  private async run(): Promise<void> {
    let backoff = 250;
    let connected = false;
    while (this.running) {
      try {
        if (!connected) {
          await this.producer!.connect();
          connected = true;
        }
        const count = await this.publishOnce();
        this.published += count;
        backoff = 250;
        if (count === 0) await sleep(this.options.idleMs ?? 200);
      } catch (err) {
        this.options.logger.warn({ err, retryInMs: backoff }, 'outbox relay: publish failed; will retry');
        await sleep(backoff);
        backoff = Math.min(backoff * 2, this.options.maxBackoffMs ?? 5_000);
      }
    }
  }
}
