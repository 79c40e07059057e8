import type { Client } from '@temporalio/client';
import type { Kafka } from 'kafkajs';
import type { OrderMessage } from '../contract/order';
import type { RefundMessage } from '../contract/refund';
import { refundFingerprint } from '../billing/refund-fingerprint';
import { selectRefund } from '../db/refunds';
import { RefundRefusedError, refundRefusalNow, startRefund } from '../intake/start-refund';
import { countReplayedDeadLetters, markDeadLetterReplayed, selectReplayableDeadLetters, type DeadLetterFilter, type SourceRecord } from '../db/dead-letters';
import { isDatabaseUnavailable } from '../db/errors';
import type { Pool } from '../db/pool';
import { selectProcessedMessage } from '../db/processed-messages';
import { sameContent } from '../intake/fingerprint';
import { MessageConflictError, startOrder, TemporalUnavailableError } from '../intake/start-order';
import { isTemporalUnavailable } from '../lib/temporal-errors';
import { readRecords, recordId } from '../messaging/read-records';
import { parseCommandRecord } from './parse-command';

/** A dead-lettered record as the intake reads it: an order, or a refund. */
export type ReplayCommand = { order: OrderMessage } | { refund: RefundMessage };

/** What re-submitting the record would do now: start a saga, collapse onto the one its message ID started, or nothing. */
export type ReplayVerdict =
  | { kind: 'starts' }
  | { kind: 'started-before' }
  | { kind: 'conflict'; reason: string }
  | { kind: 'refused'; reason: string }
  | { kind: 'invalid'; error: 'MalformedJson' | 'ValidationError'; reason: string }
  | { kind: 'gone'; reason: string };

export type ReplayOutcome =
  | { kind: 'started'; workflowId: string; runId: string }
  | { kind: 'duplicate'; workflowId: string; runId: string }
  | { kind: 'skipped'; reason: string }
  | { kind: 'conflict'; reason: string }
  | { kind: 'refused'; reason: string };

export interface ReplayItem {
  /** The x-dlq-id: `<source topic>/<partition>/<offset>`. */
  dlqId: string;
  source: SourceRecord;
  error: string;
  reason: string;
  firstSeenAt: Date;
  messageId: string | null;
  verdict: ReplayVerdict;
  outcome?: ReplayOutcome;
}

export interface ReplayPlan {
  items: ReplayItem[];
  /** Records matching the filter that an earlier replay re-submitted: not offered again. */
  replayedBefore: number;
}

/** Reads the dead-lettered records from their source partitions and judges each as the intake would now. Changes nothing. */
export async function planReplay(deps: { pool: Pool; kafka: Kafka }, filter: DeadLetterFilter): Promise<ReplayPlan & { commands: Map<string, ReplayCommand> }> {
  const rows = await selectReplayableDeadLetters(deps.pool, filter);
  const replayedBefore = await countReplayedDeadLetters(deps.pool, filter);
  const records = await readRecords(deps.kafka, rows);
  const commands = new Map<string, ReplayCommand>();
  const items: ReplayItem[] = [];
  for (const row of rows) {
    const dlqId = recordId(row);
    const base = {
      dlqId,
      source: { topic: row.topic, partition: row.partition, offset: row.offset },
      error: row.error,
      reason: row.reason,
      firstSeenAt: row.first_seen_at,
    };
    const record = records.get(dlqId);
    if (!record) {
      items.push({
        ...base,
        messageId: null,
        verdict: { kind: 'gone', reason: 'the source record is no longer in the log (retention, compaction or a recreated topic)' },
      });
      continue;
    }
    const parsed = parseCommandRecord(record.value);
    if (!parsed.ok) {
      items.push({ ...base, messageId: null, verdict: { kind: 'invalid', error: parsed.error, reason: parsed.reason } });
      continue;
    }
    if ('refund' in parsed) {
      commands.set(dlqId, { refund: parsed.refund });
      const stored = await selectRefund(deps.pool, parsed.refund.refundId);
      const refusal = stored ? undefined : await refundRefusalNow(deps.pool, parsed.refund);
      const verdict: ReplayVerdict = refusal
        ? { kind: 'refused', reason: `${refusal.type}: ${refusal.message}` }
        : !stored
          ? { kind: 'starts' }
          : stored.fingerprint === refundFingerprint(parsed.refund)
            ? { kind: 'started-before' }
            : { kind: 'conflict', reason: `refund ${parsed.refund.refundId} was already requested with different content` };
      items.push({ ...base, messageId: parsed.refund.refundId, verdict });
      continue;
    }
    commands.set(dlqId, { order: parsed.command });
    const claimed = await selectProcessedMessage(deps.pool, parsed.command.messageId);
    const verdict: ReplayVerdict = !claimed
      ? { kind: 'starts' }
      : sameContent(claimed.fingerprint, parsed.command)
        ? { kind: 'started-before' }
        : { kind: 'conflict', reason: `message ${parsed.command.messageId} was already accepted with different content` };
    items.push({ ...base, messageId: parsed.command.messageId, verdict });
  }
  return { items, replayedBefore, commands };
}

/**
 * Re-submits each valid record through the intake's start function, one at a time, and records it as replayed.
 * The message ID keys the saga, so a record started meanwhile (or by a replay that died before recording it)
 * collapses onto its saga. Stops at the first sign that Temporal or PostgreSQL is down and returns that error;
 * what was recorded stays recorded, so running it again re-submits only the rest.
 */
export async function applyReplay(
  /** Temporal is reached only once there is something to start. */
  deps: { pool: Pool; client: () => Promise<Client>; taskQueue: string },
  plan: ReplayPlan & { commands: Map<string, ReplayCommand> },
): Promise<{ items: ReplayItem[]; interruptedBy?: Error }> {
  const items: ReplayItem[] = plan.items.map((item) => ({ ...item }));
  for (const item of items) {
    const command = plan.commands.get(item.dlqId);
    if (!command || item.verdict.kind === 'conflict') {
      item.outcome = { kind: 'skipped', reason: 'reason' in item.verdict ? item.verdict.reason : 'not replayable' };
      continue;
    }
    const client = await deps.client();
    try {
      const started =
        'refund' in command
          ? await startRefund({ client, pool: deps.pool, taskQueue: deps.taskQueue }, command.refund)
          : await startOrder({ client, pool: deps.pool, taskQueue: deps.taskQueue }, command.order, 'kafka');
      const kind = started.duplicate ? 'duplicate' : 'started';
      await markDeadLetterReplayed(deps.pool, { ...item.source, outcome: kind, runId: started.runId });
      item.outcome = { kind, workflowId: started.workflowId, runId: started.runId };
    } catch (err) {
      if (err instanceof MessageConflictError || (err instanceof RefundRefusedError && err.type === 'RefundIdConflict')) {
        item.outcome = { kind: 'conflict', reason: err.message };
      } else if (err instanceof RefundRefusedError) item.outcome = { kind: 'refused', reason: `${err.type}: ${err.message}` };
      else if (err instanceof TemporalUnavailableError || isTemporalUnavailable(err) || isDatabaseUnavailable(err))
        return { items, interruptedBy: err instanceof Error ? err : new Error(String(err)) };
      else item.outcome = { kind: 'refused', reason: err instanceof Error ? err.message : String(err) };
    }
  }
  return { items };
}
