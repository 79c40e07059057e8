import type { Consumer, EachBatchPayload, Kafka, KafkaMessage, Producer } from 'kafkajs';
import { kafkaOrderCommandSchema } from '../api/schemas';
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
    this.consumer = kafka.consumer({ groupId, sessionTimeout: 30_000, heartbeatInterval: 3_000 });
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
    let next = 0;
    const launch = () => {
      while (next < messages.length && next - committedIndex < concurrency) {
        const message = messages[next++]!;
        outcomes.push(this.process(message, { topic, partition }));
      }
    };
    let committedIndex = 0;
    launch();
    for (let i = 0; i < messages.length; i++) {
      if (!payload.isRunning() || payload.isStale()) return;
      const message = messages[i]!;
      const outcome = await outcomes[i]!;
      if (outcome.kind === 'retry') {
        await Promise.allSettled(outcomes);
        await this.commit(topic, partition, message.offset);
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
    await this.commit(topic, partition, String(Number(batch.lastOffset()) + 1));
  }

  private async commit(topic: string, partition: number, offset: string): Promise<void> {
    await this.consumer!.commitOffsets([{ topic, partition, offset }]);
  }

  private nextBackoff(key: string): number {
    const initial = this.options.initialBackoffMs ?? 500;
    const current = this.backoff.get(key);
    const delay = current === undefined ? initial : Math.min(current * 2, this.options.maxBackoffMs ?? 30_000);
    this.backoff.set(key, delay);
    return delay;
  }

  private async process(message: KafkaMessage, where: { topic: string; partition: number }): Promise<Outcome> {
    let outcome: Outcome;
    let parsed: unknown;
    try {
      parsed = JSON.parse(message.value?.toString('utf8') ?? '');
    } catch (err) {
      outcome = { kind: 'dead-letter', error: 'MalformedJson', reason: err instanceof Error ? err.message : String(err) };
      return this.deadLetter(message, where, outcome);
    }
    const command = kafkaOrderCommandSchema.safeParse(parsed);
    if (!command.success) {
      const reason = command.error.issues.map((i) => `/${i.path.join('/')}: ${i.message}`).join('; ');
      return this.deadLetter(message, where, { kind: 'dead-letter', error: 'ValidationError', reason });
    }
    try {
      await this.options.start(command.data);
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

