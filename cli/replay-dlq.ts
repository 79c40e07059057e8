import { parseArgs } from 'node:util';
import { applyReplay, planReplay, type ReplayItem, type ReplayPlan } from '../consumer/replay-dead-letters';
import type { DeadLetterFilter, SourceRecord } from '../db/dead-letters';
import { UsageError } from '../lib/cli';
import { ExitCode, print, table, withServers } from './context';

export const usage = `  replay-dlq                 dead-lettered Kafka commands: list what would be re-submitted and whether each validates now
              --apply           re-submit them (through the intake's start; the message ID keys the saga, so once only)
              --id T/P/O        one record by its x-dlq-id (repeatable)
              --since WHEN      first dead-lettered at or after WHEN: an ISO time, or 30m, 12h, 7d ago
              --code ERROR      MalformedJson, ValidationError, MessageIdConflict, RefundRefused or StartRefused
              --reason TEXT     whose reason contains TEXT
              --limit N         at most N records (default 100)
              --json            machine-readable`;

const errorCodes = ['MalformedJson', 'ValidationError', 'MessageIdConflict', 'RefundRefused', 'StartRefused'];

function parseSince(text: string): Date {
  const ago = /^(\d+)([mhd])$/.exec(text);
  if (ago) return new Date(Date.now() - Number(ago[1]) * { m: 60_000, h: 3_600_000, d: 86_400_000 }[ago[2] as 'm' | 'h' | 'd']);
  const at = new Date(text);
  if (!/^\d{4}-\d{2}-\d{2}/.test(text) || Number.isNaN(at.getTime()))
    throw new UsageError(`--since ${JSON.stringify(text)}: expected an ISO time or 30m, 12h, 7d`);
  return at;
}

function parseId(text: string): SourceRecord {
  const match = /^(.+)\/(\d{1,9})\/(\d{1,18})$/.exec(text);
  if (!match) throw new UsageError(`--id ${JSON.stringify(text)}: expected <topic>/<partition>/<offset>, as in the x-dlq-id header`);
  return { topic: match[1]!, partition: Number(match[2]), offset: String(BigInt(match[3]!)) };
}

function parse(args: string[]): { filter: DeadLetterFilter; apply: boolean; json: boolean } {
  const { values } = parseArgs({
    args,
    options: {
      apply: { type: 'boolean', default: false },
      id: { type: 'string', multiple: true },
      since: { type: 'string' },
      code: { type: 'string' },
      reason: { type: 'string' },
      limit: { type: 'string', default: '100' },
      json: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.code !== undefined && !errorCodes.includes(values.code))
    throw new UsageError(`--code must be one of ${errorCodes.join(', ')}, got ${values.code}`);
  const limit = Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) throw new UsageError(`--limit must be a whole number from 1 to 10000, got ${values.limit}`);
  const filter: DeadLetterFilter = {
    limit,
    ...(values.id ? { ids: values.id.map(parseId) } : {}),
    ...(values.since ? { since: parseSince(values.since) } : {}),
    ...(values.code ? { error: values.code } : {}),
    ...(values.reason !== undefined ? { reasonContains: values.reason } : {}),
  };
  return { filter, apply: values.apply, json: values.json };
}

const verdictText = (item: ReplayItem): string => {
  const v = item.verdict;
  if (v.kind === 'starts') return 'valid: would start its saga';
  if (v.kind === 'started-before') return 'valid: its saga exists, would collapse onto it';
  if (v.kind === 'invalid') return `still invalid (${v.error}): ${v.reason}`;
  if (v.kind === 'refused') return `valid, but refused now: ${v.reason}`;
  return `${v.kind === 'conflict' ? 'conflict' : 'gone'}: ${v.reason}`;
};

const outcomeText = (item: ReplayItem): string => {
  const o = item.outcome;
  if (!o) return 'not attempted';
  if (o.kind === 'started') return `started ${o.workflowId}`;
  if (o.kind === 'duplicate') return `already started: ${o.workflowId}`;
  if (o.kind === 'skipped') return `skipped: ${verdictText(item)}`;
  return `${o.kind}: ${o.reason}`;
};

function formatReplay(items: ReplayItem[], replayedBefore: number, applied: boolean): string {
  const rows = items.map((i) => [i.dlqId, i.error, i.firstSeenAt.toISOString(), i.messageId ?? '-', applied ? outcomeText(i) : verdictText(i)]);
  const replayable = items.filter((i) => i.verdict.kind === 'starts' || i.verdict.kind === 'started-before').length;
  const done = items.filter((i) => i.outcome?.kind === 'started' || i.outcome?.kind === 'duplicate').length;
  const head = applied
    ? `replay-dlq: ${done} of ${items.length} dead-lettered record(s) re-submitted and recorded`
    : `replay-dlq: dry run, nothing changed: ${replayable} of ${items.length} dead-lettered record(s) would be re-submitted (--apply to do it)`;
  const before = replayedBefore ? `\n${replayedBefore} matching record(s) were replayed before and are not offered again` : '';
  return items.length ? `${head}\n${table(['DLQ ID', 'ERROR', 'FIRST SEEN', 'MESSAGE ID', applied ? 'OUTCOME' : 'NOW'], rows)}${before}` : `${head}${before}`;
}

const jsonItem = ({ source: _source, ...item }: ReplayItem) => item;

/** `replay-dlq`: 0 listed, or all re-submitted; 1 with --apply when some could not be; 3 a server unreachable. */
export async function run(args: string[]): Promise<number> {
  const { filter, apply, json } = parse(args);
  return withServers(async ({ config, db, kafka, temporal }) => {
    const plan = await planReplay({ pool: db(), kafka: kafka() }, filter);
    const show = (items: ReplayItem[], p: ReplayPlan) =>
      print(json, () => formatReplay(items, p.replayedBefore, apply), { applied: apply, replayedBefore: p.replayedBefore, items: items.map(jsonItem) });
    if (!apply) {
      show(plan.items, plan);
      return ExitCode.ok;
    }
    const result = await applyReplay({ pool: db(), client: temporal, taskQueue: config.TEMPORAL_TASK_QUEUE }, plan);
    show(result.items, plan);
    if (result.interruptedBy) throw result.interruptedBy;
    return result.items.every((i) => i.outcome?.kind === 'started' || i.outcome?.kind === 'duplicate') ? ExitCode.ok : ExitCode.no;
  });
}
