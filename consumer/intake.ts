import type { Batch, Consumer, EachBatchPayload, IHeaders, Kafka, KafkaMessage, Producer } from 'kafkajs';
import pg from 'pg';
import type { OrderMessage } from '../contract/order';
import type { RefundMessage } from '../contract/refund';
import { insertDeadLetter, markDeadLetterProduced, selectDeadLetterForUpdate, type SourceRecord } from '../db/dead-letters';
import { isDatabaseUnavailable, isDataError } from '../db/errors';
import { withTransaction, type Pool } from '../db/pool';
import { IntakeOverloadedError } from '../intake/admission';
import { MessageConflictError, TemporalUnavailableError, type StartResult } from '../intake/start-order';
import type { Log } from '../lib/logger';
import { isTemporalUnavailable } from '../lib/temporal-errors';
import { Topics } from '../messaging/topics';
import { sanitizeText } from '../domain/text';
import { RefundRefusedError } from '../intake/start-refund';
import { parseCommandRecord } from './parse-command';

/** Starts one command; `headers` are its record's (a producer's trace context among them). */
export type StartFn = (request: OrderMessage, headers?: IHeaders) => Promise<StartResult>;
/** Starts one refund command (intake/start-refund.ts). */
export type StartRefundFn = (request: RefundMessage, headers?: IHeaders) => Promise<{ workflowId: string; duplicate: boolean }>;

/** What the intake reports for the consumer's metrics (consumer/metrics.ts). */
export interface IntakeEvents {
  /** A record is settled (started, a duplicate, or dead-lettered): its offset is resolved. */
  consumed(topic: string): void;
  /** A record was sent to the dead-letter topic (not counted again when found sent before). */
  deadLettered(error: DeadLetterError): void;
  /** A partition was paused to retry later; resumed is called when it is resumed. */
  paused(): void;
  resumed(): void;
}

export interface IntakeOptions {
  kafka: Kafka;
  /** Holds the dead_letters table: what went to the DLQ, so a redelivered record is not sent twice. */
  pool: Pool;
  groupId: string;
  start: StartFn;
  /** Without it a refund command is dead-lettered as StartRefused: this intake takes orders only. */
  startRefund?: StartRefundFn;
  logger: Log;
  topic?: string;
  deadLetterTopic?: string;
  /** Messages of one partition started at once. */
  concurrency?: number;
  /** Pause after a failure, doubled up to maxBackoffMs. */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** Attempts per source record at a start that fails other than transiently, before it goes to the DLQ as StartRefused. */
  startAttempts?: number;
  /** kafkajs stopped the consumer for good (a non-retriable error); it consumes nothing more. */
  onFatalCrash?: (error: Error) => void;
  events?: IntakeEvents;
}

export type DeadLetterError = 'MalformedJson' | 'ValidationError' | 'MessageIdConflict' | 'RefundRefused' | 'StartRefused';
type DeadLetter = { kind: 'dead-letter'; error: DeadLetterError; reason: string; grpcCode?: number };
type Outcome = { kind: 'done' } | DeadLetter | { kind: 'retry'; error: unknown };

/** Starts a batch's messages ahead of the commit point and hands out their outcomes in partition order. */
interface Launcher {
  outcome(index: number): Promise<Outcome>;
  /** Everything before `index` is settled: start more. */
  advance(index: number): void;
  settled(): Promise<unknown>;
}

/**
 * Kafka intake: each message becomes a workflow start through the shared start function. An offset
 * is committed only when every message before it in the partition has a start (or duplicate)
 * acknowledged by Temporal, or went to the dead-letter topic. Nothing is queued in memory.
 */
export class OrderIntake {
  private consumer?: Consumer;
  private producer?: Producer;
  private readonly backoff = new Map<string, number>();
  /** Refused start attempts per source record (dlqId). */
  private readonly refusals = new Map<string, number>();
  /** DLQ records the broker acknowledged whose dead_letters row is not yet marked produced. */
  private readonly producedUnrecorded = new Set<string>();

  constructor(private readonly options: IntakeOptions) {}

  get topic(): string {
    return this.options.topic ?? Topics.commands;
  }

  /** Connects and starts consuming; on failure it disconnects what it connected, so a caller may try again. */
  async start(): Promise<void> {
    try {
      await this.connect();
    } catch (err) {
      await this.stop().catch(() => undefined);
      throw err;
    }
  }

  /** Drains the batch in flight, commits what it finished, and disconnects. */
  async stop(): Promise<void> {
    try {
      await this.consumer?.disconnect();
    } finally {
      await this.producer?.disconnect();
    }
  }

  private async connect(): Promise<void> {
    const { kafka, groupId } = this.options;
    this.producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await this.producer.connect();
    // A short fetch wait, so a partition resumed after a pause is polled again promptly.
    this.consumer = kafka.consumer({ groupId, sessionTimeout: 30_000, heartbeatInterval: 3_000, maxWaitTimeInMs: 1_000 });
    this.consumer.on(this.consumer.events.CRASH, ({ payload }) => {
      this.options.logger.error({ err: payload.error, restart: payload.restart }, 'Kafka consumer crashed');
      if (!payload.restart) this.options.onFatalCrash?.(payload.error);
    });
    await this.consumer.connect();
    await this.consumer.subscribe({ topic: this.topic, fromBeginning: true });
    await this.consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      eachBatch: (payload) => this.handleBatch(payload),
    });
  }

  private async handleBatch(payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
    const launcher = this.launch(batch);
    for (let i = 0; i < batch.messages.length; i++) {
      if (payload.isStale()) return;
      const message = batch.messages[i]!;
      const source = { topic: batch.topic, partition: batch.partition, offset: message.offset };
      if (!payload.isRunning()) {
        // Stopping or rebalancing: keep what is finished, leave the rest for the next owner.
        await launcher.settled();
        return this.commit(payload, message.offset);
      }
      // Dead-lettering happens here, in partition order at the commit point, never ahead of it.
      let outcome = await launcher.outcome(i);
      if (outcome.kind === 'dead-letter') outcome = await this.deadLetter(message, source, outcome);
      if (outcome.kind === 'retry') return this.retryLater(payload, source, outcome.error, launcher);
      this.refusals.delete(dlqId(source));
      this.backoff.delete(`${batch.topic}:${batch.partition}`);
      payload.resolveOffset(message.offset);
      this.options.events?.consumed(batch.topic);
      launcher.advance(i + 1);
      await payload.heartbeat();
    }
    await this.commit(payload, String(Number(batch.lastOffset()) + 1));
  }

  private launch(batch: Batch): Launcher {
    const concurrency = this.options.concurrency ?? 16;
    const outcomes: Promise<Outcome>[] = [];
    // Copies of one message ID run in partition order, so the first copy is the one that counts.
    const previousById = new Map<string, Promise<Outcome>>();
    const launchUpTo = (end: number) => {
      while (outcomes.length < Math.min(end, batch.messages.length)) {
        const message = batch.messages[outcomes.length]!;
        const source = { topic: batch.topic, partition: batch.partition, offset: message.offset };
        const parsed = parse(message);
        if (parsed.kind === 'dead-letter') {
          outcomes.push(Promise.resolve(parsed));
          continue;
        }
        const key = 'refund' in parsed ? `refund:${parsed.refund.refundId}` : `order:${parsed.command.messageId}`;
        const start = () =>
          'refund' in parsed ? this.startRefundCommand(parsed.refund, source, message.headers) : this.startCommand(parsed.command, source, message.headers);
        const outcome = (previousById.get(key) ?? Promise.resolve()).then(start);
        previousById.set(key, outcome);
        outcomes.push(outcome);
      }
    };
    launchUpTo(concurrency);
    return {
      outcome: (index) => outcomes[index]!,
      advance: (index) => launchUpTo(index + concurrency),
      settled: () => Promise.allSettled(outcomes),
    };
  }

  /** Commits up to the failed message, pauses the partition, and seeks back to it. */
  private async retryLater(payload: EachBatchPayload, source: SourceRecord, error: unknown, launcher: Launcher): Promise<void> {
    const { topic, partition, offset } = source;
    await launcher.settled();
    await this.commit(payload, offset);
    const overloaded = error instanceof IntakeOverloadedError;
    // Overload is not a fault: look again when the backlog is next counted, without growing the wait.
    const delay = overloaded ? error.retryAfterMs : this.nextBackoff(`${topic}:${partition}`);
    this.options.logger[overloaded ? 'info' : 'warn'](
      { ...source, delayMs: delay, err: describe(error) },
      overloaded ? 'intake over its backlog limit; pausing partition' : 'message not settled; pausing partition',
    );
    const resume = payload.pause();
    this.options.events?.paused();
    this.consumer!.seek({ topic, partition, offset });
    setTimeout(() => {
      this.options.events?.resumed();
      resume();
    }, delay).unref();
  }

  /** Commits "everything before `offset` is done"; works while the consumer is stopping, unlike consumer.commitOffsets. */
  private async commit(payload: EachBatchPayload, offset: string): Promise<void> {
    const { topic, partition } = payload.batch;
    await payload.commitOffsetsIfNecessary({ topics: [{ topic, partitions: [{ partition, offset }] }] });
  }

  private nextBackoff(key: string): number {
    const initial = this.options.initialBackoffMs ?? 500;
    const current = this.backoff.get(key);
    const delay = current === undefined ? initial : Math.min(current * 2, this.options.maxBackoffMs ?? 30_000);
    this.backoff.set(key, delay);
    return delay;
  }

  private async startCommand(command: OrderMessage, source: SourceRecord, headers?: IHeaders): Promise<Outcome> {
    try {
      const { workflowId, duplicate } = await this.options.start(command, headers);
      this.options.logger.info(
        { ...source, messageId: command.messageId, orderId: command.messageId, workflowId, duplicate },
        duplicate ? 'order already started' : 'order started',
      );
      return { kind: 'done' };
    } catch (err) {
      if (err instanceof MessageConflictError) return deadLetterOf('MessageIdConflict', err.message);
      if (isTransient(err)) return { kind: 'retry', error: err };
      return this.refused(source, command.messageId, err);
    }
  }

  /** A refund the intake refuses (its order unknown or not confirmed, past what was paid, its ID taken) goes to the DLQ with why. */
  private async startRefundCommand(refund: RefundMessage, source: SourceRecord, headers?: IHeaders): Promise<Outcome> {
    if (!this.options.startRefund) return deadLetterOf('StartRefused', 'this intake takes no refund commands');
    try {
      const { workflowId, duplicate } = await this.options.startRefund(refund, headers);
      this.options.logger.info(
        { ...source, refundId: refund.refundId, orderId: refund.orderId, workflowId, duplicate },
        duplicate ? 'refund already started' : 'refund started',
      );
      return { kind: 'done' };
    } catch (err) {
      if (err instanceof RefundRefusedError) return deadLetterOf('RefundRefused', `${err.type}: ${err.message}`);
      if (isTransient(err)) return { kind: 'retry', error: err };
      return this.refused(source, refund.refundId, err);
    }
  }

  /** A refusal is retried with the same backoff as an outage, but only `startAttempts` times per source record. */
  private refused(source: SourceRecord, messageId: string, err: unknown): Outcome {
    const id = dlqId(source);
    const attempts = (this.refusals.get(id) ?? 0) + 1;
    this.refusals.set(id, attempts);
    this.options.logger.error({ ...source, messageId, orderId: messageId, attempts, err: describe(err) }, 'start refused');
    if (attempts < (this.options.startAttempts ?? 5)) return { kind: 'retry', error: err };
    return deadLetterOf('StartRefused', describe(err), grpcCode(err));
  }

  /**
   * Sends the record to the DLQ unless dead_letters says it went already. The row stays locked while
   * sending, so a competing consumer of the partition waits and then skips it. A crash between the
   * broker's ack and the commit below sends it again on redelivery, with the same x-dlq-id.
   */
  private async deadLetter(message: KafkaMessage, source: SourceRecord, dead: DeadLetter): Promise<Outcome> {
    const id = dlqId(source);
    try {
      const sent = await withTransaction(this.options.pool, async (tx) => {
        await insertDeadLetter(tx, { ...source, error: dead.error, reason: dead.reason, grpcCode: dead.grpcCode });
        if ((await selectDeadLetterForUpdate(tx, source))?.produced_at) return false;
        // Acknowledged in an earlier try whose database commit failed: only the mark is missing.
        if (!this.producedUnrecorded.has(id)) await this.produce(message, source, dead);
        this.producedUnrecorded.add(id);
        await markDeadLetterProduced(tx, source);
        return true;
      });
      this.producedUnrecorded.delete(id);
      if (sent) this.options.events?.deadLettered(dead.error);
      this.options.logger.warn({ ...source, error: dead.error }, sent ? 'message dead-lettered' : 'message dead-lettered before; not sent again');
      return { kind: 'done' };
    } catch (err) {
      return { kind: 'retry', error: err };
    }
  }

  private async produce(message: KafkaMessage, source: SourceRecord, dead: DeadLetter): Promise<void> {
    const topic = this.options.deadLetterTopic ?? Topics.deadLetters;
    const headers = deadLetterHeaders(source, dead);
    try {
      await this.producer!.send({ topic, acks: -1, messages: [{ key: message.key, value: message.value, headers: { ...message.headers, ...headers } }] });
    } catch (err) {
      if (!errorChain(err).some((e) => (e as { type?: string }).type === 'MESSAGE_TOO_LARGE')) throw err;
      // The original plus our headers will never fit: send the record without its value rather than block the
      // partition for good; the reader finds the original bytes at x-source-topic/partition/offset.
      const omitted = `${message.value?.length ?? 0} bytes too large for the dead-letter topic; read the source record`;
      await this.producer!.send({ topic, acks: -1, messages: [{ key: message.key, value: null, headers: { ...headers, 'x-value-omitted': omitted } }] });
    }
  }
}

function parse(message: KafkaMessage): { kind: 'command'; command: OrderMessage } | { kind: 'command'; refund: RefundMessage } | DeadLetter {
  const parsed = parseCommandRecord(message.value);
  if (!parsed.ok) return deadLetterOf(parsed.error, parsed.reason);
  return 'refund' in parsed ? { kind: 'command', refund: parsed.refund } : { kind: 'command', command: parsed.command };
}

/** The reason may quote the message (JSON.parse and zod do): bounded, and with no control character for a header, a row or a terminal. */
function deadLetterOf(error: DeadLetterError, reason: string, grpcCode?: number): DeadLetter {
  return { kind: 'dead-letter', error, reason: sanitizeText(reason, 2_000), grpcCode };
}

/** Unique per source record; what a DLQ reader dedupes on. */
function dlqId({ topic, partition, offset }: SourceRecord): string {
  return `${topic}/${partition}/${offset}`;
}

function deadLetterHeaders(source: SourceRecord, dead: DeadLetter): Record<string, string> {
  return {
    'x-dlq-id': dlqId(source),
    'x-error': dead.error,
    'x-error-reason': sanitizeText(dead.reason, 1_000),
    ...(dead.grpcCode === undefined ? {} : { 'x-grpc-code': String(dead.grpcCode) }),
    'x-source-topic': source.topic,
    'x-source-partition': String(source.partition),
    'x-source-offset': source.offset,
  };
}

/** The error, its causes, and what an AggregateError holds. */
function errorChain(err: unknown, seen = new Set<Error>()): Error[] {
  if (!(err instanceof Error) || seen.has(err)) return [];
  seen.add(err);
  const inner: unknown[] = err instanceof AggregateError ? (err.errors as unknown[]) : [];
  return [err, ...[err.cause, ...inner].flatMap((e) => errorChain(e, seen))];
}

function describe(err: unknown): string {
  const chain = errorChain(err);
  return chain.length ? chain.map((e) => e.message).join(': ') : String(err);
}

/** The first numeric `code` in the chain: a gRPC status (PostgreSQL and Node use string codes). */
function grpcCode(err: unknown): number | undefined {
  return errorChain(err)
    .map((e) => (e as { code?: unknown }).code)
    .find((code): code is number => typeof code === 'number');
}

/** Temporal or PostgreSQL down, restarting or misconfigured: not the message's fault, so retried without limit. */
function isTransient(err: unknown): boolean {
  return errorChain(err).some(
    (e) => e instanceof IntakeOverloadedError || e instanceof TemporalUnavailableError || isTemporalUnavailable(e) || isDatabaseFault(e),
  );
}

/** PostgreSQL unreachable, or any error of it but those a message's content can cause: data (22) and integrity (23). */
function isDatabaseFault(e: Error): boolean {
  if (isDatabaseUnavailable(e)) return true;
  return e instanceof pg.DatabaseError && !isDataError(e) && !e.code?.startsWith('23');
}
