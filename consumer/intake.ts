import type { Consumer, EachBatchPayload, Kafka, KafkaMessage, Producer } from 'kafkajs';
import { kafkaOrderCommandSchema } from '../api/schemas';
import type { z } from 'zod';
import { MessageConflictError, TemporalUnavailableError, type OrderRequest, type StartResult } from '../intake/start-order';
import type { Log } from '../lib/logger';
import { Topics } from '../messaging/topics';

export type StartFn = (request: OrderRequest) => Promise<StartResult>;

export interface IntakeOptions {
  kafka: Kafka;
  groupId: string;
  start: StartFn;
  logger: Log;
  topic?: string;
  deadLetterTopic?: string;
  /** Messages of one partition started at once. */
  concurrency?: number;
  /** Pause after a transient failure, doubled up to maxBackoffMs. */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
}

type KafkaOrderCommand = z.infer<typeof kafkaOrderCommandSchema>;

type Outcome = { kind: 'done' } | { kind: 'dead-letter'; error: string; reason: string } | { kind: 'retry'; error: unknown };

/**
 * Kafka intake: each message becomes a workflow start through the shared start function. An offset
 * is committed only when every message before it in the partition has a start (or duplicate)
 * acknowledged by Temporal, or went to the dead-letter topic. Nothing is queued in memory.
 */
export class OrderIntake {
  private consumer?: Consumer;
  private producer?: Producer;
  private readonly backoff = new Map<string, number>();

  constructor(private readonly options: IntakeOptions) {}

  get topic(): string {
    return this.options.topic ?? Topics.commands;
  }

  async start(): Promise<void> {
    const { kafka, groupId } = this.options;
    this.producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await this.producer.connect();
    // A short fetch wait, so a partition resumed after a pause is polled again promptly.
    this.consumer = kafka.consumer({ groupId, sessionTimeout: 30_000, heartbeatInterval: 3_000, maxWaitTimeInMs: 1_000 });
    await this.consumer.connect();
    await this.consumer.subscribe({ topic: this.topic, fromBeginning: true });
    await this.consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      eachBatch: (payload) => this.handleBatch(payload),
    });
  }

  /** Drains the batch in flight, commits what it finished, and disconnects. */
  async stop(): Promise<void> {
    await this.consumer?.disconnect();
    await this.producer?.disconnect();
  }

  private async handleBatch(payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
    const { topic, partition } = batch;
    const concurrency = this.options.concurrency ?? 16;
    const messages = batch.messages;
    const outcomes: Promise<Outcome>[] = [];
    // Copies of one message ID run in partition order, so the first copy is the one that counts.
    const previousById = new Map<string, Promise<Outcome>>();
    let next = 0;
    const launch = () => {
      while (next < messages.length && next - committedIndex < concurrency) {
        const message = messages[next++]!;
        const parsed = this.parse(message);
        if (parsed.kind === 'dead-letter') {
          outcomes.push(this.deadLetter(message, { topic, partition }, parsed));
          continue;
        }
        const before = previousById.get(parsed.command.messageId);
        const outcome = (before ?? Promise.resolve()).then(() => this.startCommand(message, parsed.command, { topic, partition }));
        previousById.set(parsed.command.messageId, outcome);
        outcomes.push(outcome);
      }
    };
    let committedIndex = 0;
    launch();
    for (let i = 0; i < messages.length; i++) {
      if (payload.isStale()) return;
      if (!payload.isRunning()) {
        // Stopping or rebalancing: keep what is finished, leave the rest for the next owner.
        await Promise.allSettled(outcomes);
        return this.commit(payload, messages[i]!.offset);
      }
      const message = messages[i]!;
      const outcome = await outcomes[i]!;
      if (outcome.kind === 'retry') {
        await Promise.allSettled(outcomes);
        await this.commit(payload, message.offset);
        const delay = this.nextBackoff(`${topic}:${partition}`);
        this.options.logger.warn({ topic, partition, offset: message.offset, delayMs: delay, err: String(outcome.error) }, 'start failed; pausing partition');
        const resume = payload.pause();
        this.consumer!.seek({ topic, partition, offset: message.offset });
        setTimeout(resume, delay).unref();
        return;
      }
      this.backoff.delete(`${topic}:${partition}`);
      payload.resolveOffset(message.offset);
      committedIndex = i + 1;
      launch();
      await payload.heartbeat();
    }
    await this.commit(payload, String(Number(batch.lastOffset()) + 1));
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

  private parse(message: KafkaMessage): { kind: 'command'; command: KafkaOrderCommand } | Extract<Outcome, { kind: 'dead-letter' }> {
    let value: unknown;
    try {
      value = JSON.parse(message.value?.toString('utf8') ?? '');
    } catch (err) {
      return { kind: 'dead-letter', error: 'MalformedJson', reason: err instanceof Error ? err.message : String(err) };
    }
    const command = kafkaOrderCommandSchema.safeParse(value);
    if (!command.success) {
      const reason = command.error.issues.map((i) => `/${i.path.join('/')}: ${i.message}`).join('; ');
      return { kind: 'dead-letter', error: 'ValidationError', reason };
    }
    return { kind: 'command', command: command.data };
  }

  private async startCommand(message: KafkaMessage, command: KafkaOrderCommand, where: { topic: string; partition: number }): Promise<Outcome> {
    try {
      await this.options.start(command);
      return { kind: 'done' };
    } catch (err) {
      if (err instanceof MessageConflictError) {
        return this.deadLetter(message, where, { kind: 'dead-letter', error: 'MessageIdConflict', reason: err.message });
      }
      if (!(err instanceof TemporalUnavailableError)) this.options.logger.error({ err: String(err) }, 'start failed');
      return { kind: 'retry', error: err };
    }
  }

  private async deadLetter(
    message: KafkaMessage,
    where: { topic: string; partition: number },
    outcome: Extract<Outcome, { kind: 'dead-letter' }>,
  ): Promise<Outcome> {
    try {
      await this.producer!.send({
        topic: this.options.deadLetterTopic ?? Topics.deadLetters,
        acks: -1,
        messages: [
          {
            key: message.key,
            value: message.value,
            headers: {
              ...message.headers,
              'x-error': outcome.error,
              'x-error-reason': outcome.reason.slice(0, 2_000),
              'x-source-topic': where.topic,
              'x-source-partition': String(where.partition),
              'x-source-offset': message.offset,
            },
          },
        ],
      });
      this.options.logger.warn({ ...where, offset: message.offset, error: outcome.error }, 'message dead-lettered');
      return outcome;
    } catch (err) {
      return { kind: 'retry', error: err };
    }
  }
}

