import type { Admin, Kafka } from 'kafkajs';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { isDatabaseUnavailable } from '../db/errors';
import { onConflict } from '../db/optimistic-retry';
import { countUnpublishedEvents } from '../db/outbox-relay';
import type { Pool } from '../db/pool';
import { IntakeOverloadedError } from '../intake/admission';
import { MessageConflictError, TemporalUnavailableError, type StartResult } from '../intake/start-order';
import { collectProcessMetrics } from '../lib/process-metrics';
import { isTemporalUnavailable } from '../lib/temporal-errors';
import type { IntakeEvents, StartFn } from './intake';

/** A scrape waits this long for Kafka or PostgreSQL, then serves the gauge without samples rather than hang. */
const READ_TIMEOUT_MS = 2_000;

function within<T>(work: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} took over ${READ_TIMEOUT_MS} ms`)), READ_TIMEOUT_MS)));
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

export interface ConsumerMetricsDeps {
  kafka: Kafka;
  pool: Pool;
  groupId: string;
  topic: string;
  /** Scrapes that cannot read Kafka or PostgreSQL log at debug: the intake and relay already warn about outages. */
  logger: { debug(obj: object, msg?: string): void };
  backlog: () => number;
}

/** The consumer process's registry: the Kafka intake, its starts, and the outbox relay. */
export function createConsumerMetrics(deps: ConsumerMetricsDeps) {
  const registry = new Registry();
  collectProcessMetrics(registry);
  const registers = [registry];

  const consumed = new Counter({
    name: 'kafka_messages_consumed_total',
    help: 'Records settled (started, a duplicate, or dead-lettered) and their offset resolved',
    labelNames: ['topic'] as const,
    registers,
  });
  const starts = new Counter({
    name: 'orders_start_requests_total',
    help: 'Order start requests by source and result (started, duplicate, conflict, unavailable, overloaded, failed)',
    labelNames: ['source', 'result'] as const,
    registers,
  });
  const deadLettered = new Counter({
    name: 'kafka_messages_dead_lettered_total',
    help: 'Records sent to the dead-letter topic, by error',
    labelNames: ['error'] as const,
    registers,
  });
  const paused = new Gauge({
    name: 'kafka_consumer_paused_partitions',
    help: 'Partitions paused to retry a record later (outage, overload, refused start), not yet resumed',
    registers,
  });
  const conflicts = new Counter({
    name: 'optimistic_lock_conflicts_total',
    help: 'Optimistic-lock races lost in this process, retried or given up on',
    registers,
  });
  const retries = new Counter({ name: 'optimistic_lock_retries_total', help: 'Lost optimistic-lock races retried in this process', registers });
  const published = new Counter({
    name: 'outbox_events_published_total',
    help: 'Outbox events the broker acknowledged (a re-send after a failed mark counts again)',
    registers,
  });
  const publishTime = new Histogram({
    name: 'outbox_publish_duration_seconds',
    help: 'Time from sending a batch of outbox events to the broker acknowledging it (acks=-1)',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers,
  });
  new Gauge({
    name: 'intake_backlog_sagas',
    help: 'Sagas started and not yet waiting, confirmed or cancelled, as last counted for admission',
    registers,
    collect() {
      this.set(deps.backlog());
    },
  });
  new Gauge({
    name: 'outbox_backlog_events',
    help: 'Outbox events not yet published, counted at scrape time (no sample when PostgreSQL does not answer)',
    registers,
    async collect() {
      try {
        this.set(await within(countUnpublishedEvents(deps.pool), 'counting the outbox backlog'));
      } catch (err) {
        this.remove();
        deps.logger.debug({ err }, 'metrics: outbox backlog not counted');
      }
    },
  });
  let admin: Admin | undefined;
  new Gauge({
    name: 'kafka_consumer_lag_messages',
    help: "Records per partition past the group's committed offset, read at scrape time (no sample when Kafka does not answer)",
    labelNames: ['topic', 'partition'] as const,
    registers,
    async collect() {
      this.reset();
      try {
        admin ??= deps.kafka.admin();
        const lags = await within(lagOf(admin, deps.groupId, deps.topic), 'reading consumer lag');
        for (const { partition, lag } of lags) this.set({ topic: deps.topic, partition: String(partition) }, lag);
      } catch (err) {
        deps.logger.debug({ err }, 'metrics: consumer lag not read');
        // Connect again on the next scrape: the broker may have restarted.
        await admin?.disconnect().catch(() => undefined);
        admin = undefined;
      }
    },
  });
  const unsubscribe = onConflict((outcome) => {
    conflicts.inc();
    if (outcome === 'retried') retries.inc();
  });

  const events: IntakeEvents = {
    consumed: (topic) => consumed.inc({ topic }),
    deadLettered: (error) => deadLettered.inc({ error }),
    paused: () => paused.inc(),
    resumed: () => paused.dec(),
  };
  return {
    registry,
    events,
    /** The start function, counting each answer under source="kafka". */
    countStarts:
      (start: StartFn): StartFn =>
      async (request, headers) => {
        try {
          const result: StartResult = await start(request, headers);
          starts.inc({ source: 'kafka', result: result.duplicate ? 'duplicate' : 'started' });
          return result;
        } catch (err) {
          starts.inc({ source: 'kafka', result: startFailure(err) });
          throw err;
        }
      },
    published: (count: number, seconds: number) => {
      published.inc(count);
      publishTime.observe(seconds);
    },
    async close(): Promise<void> {
      unsubscribe();
      await admin?.disconnect().catch(() => undefined);
    },
  };
}

function startFailure(err: unknown): string {
  if (err instanceof MessageConflictError) return 'conflict';
  if (err instanceof IntakeOverloadedError) return 'overloaded';
  if (err instanceof TemporalUnavailableError || isTemporalUnavailable(err) || isDatabaseUnavailable(err)) return 'unavailable';
  return 'failed';
}

/** Lag per partition: the high watermark minus the committed offset (or the low watermark before any commit). */
async function lagOf(admin: Admin, groupId: string, topic: string): Promise<{ partition: number; lag: number }[]> {
  await admin.connect();
  const [ends, [committed]] = await Promise.all([admin.fetchTopicOffsets(topic), admin.fetchOffsets({ groupId, topics: [topic] })]);
  return ends.map(({ partition, high, low }) => {
    const offset = committed?.partitions.find((p) => p.partition === partition)?.offset ?? '-1';
    const from = Number(offset) >= 0 ? Number(offset) : Number(low);
    return { partition, lag: Math.max(0, Number(high) - from) };
  });
}
