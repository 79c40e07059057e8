import { orderMessageSchema, type OrderMessage } from '../contract/order';
import { refundRecordSchema, type RefundMessage } from '../contract/refund';
import { duplicateKey } from '../domain/json';
import { sanitizeText } from '../domain/text';

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

type Invalid = { ok: false; error: 'MalformedJson' | 'ValidationError'; reason: string };
export type ParsedCommand = { ok: true; command: OrderMessage } | Invalid;
/** An order command, or a refund (`"type": "refund"`). */
export type ParsedRecord = ParsedCommand | { ok: true; refund: RefundMessage } | Invalid;

/** A command record's value as the intake reads it (and a replay re-reads it): JSON with no key twice in one object, then the order contract. */
export function parseOrderCommand(value: Buffer | null): ParsedCommand {
  const parsed = parseCommandRecord(value);
  return 'refund' in parsed ? { ok: false, error: 'ValidationError', reason: '/type: a refund, not an order' } : parsed;
}

/** Any record of orders.commands: a value with `"type": "refund"` is read as a refund, anything else as an order. */
export function parseCommandRecord(value: Buffer | null): ParsedRecord {
  let text: string;
  try {
    text = utf8.decode(value ?? new Uint8Array());
  } catch {
    // Decoding would turn the bad bytes into U+FFFD and accept an ID or reason the producer never sent.
    return { ok: false, error: 'MalformedJson', reason: 'the record value is not valid UTF-8' };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    // V8 quotes the record in its message: a producer's control characters must not reach a log, a header or a terminal.
    return { ok: false, error: 'MalformedJson', reason: sanitizeText(err instanceof Error ? err.message : String(err), 500) };
  }
  const duplicate = duplicateKey(text);
  if (duplicate !== undefined) return { ok: false, error: 'MalformedJson', reason: `key ${JSON.stringify(duplicate)} appears twice in one object` };
  if (isRefund(json)) {
    const refund = refundRecordSchema.safeParse(json);
    if (!refund.success) return invalid(refund.error.issues);
    const { type: _type, ...message } = refund.data;
    return { ok: true, refund: message };
  }
  const command = orderMessageSchema.safeParse(json);
  if (!command.success) return invalid(command.error.issues);
  return { ok: true, command: command.data };
}

function isRefund(json: unknown): boolean {
  return typeof json === 'object' && json !== null && !Array.isArray(json) && (json as { type?: unknown }).type === 'refund';
}

function invalid(issues: { path: PropertyKey[]; message: string }[]): Invalid {
  // zod quotes unknown key names as sent: a key may carry a newline or an escape sequence.
  const reason = issues.map((i) => `/${i.path.map(String).join('/')}: ${i.message}`).join('; ');
  return { ok: false, error: 'ValidationError', reason: sanitizeText(reason, 2_000) };
}
