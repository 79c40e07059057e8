import { orderMessageSchema, type OrderMessage } from '../contract/order';
import { duplicateKey } from '../domain/json';
import { sanitizeText } from '../domain/text';

export type ParsedCommand = { ok: true; command: OrderMessage } | { ok: false; error: 'MalformedJson' | 'ValidationError'; reason: string };

/** A command record's value as the intake reads it (and a replay re-reads it): JSON with no key twice in one object, then the order contract. */
export function parseOrderCommand(value: Buffer | null): ParsedCommand {
  const text = value?.toString('utf8') ?? '';
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    // V8 quotes the record in its message: a producer's control characters must not reach a log, a header or a terminal.
    return { ok: false, error: 'MalformedJson', reason: sanitizeText(err instanceof Error ? err.message : String(err), 500) };
  }
  const duplicate = duplicateKey(text);
  if (duplicate !== undefined) return { ok: false, error: 'MalformedJson', reason: `key ${JSON.stringify(duplicate)} appears twice in one object` };
  const command = orderMessageSchema.safeParse(json);
  if (!command.success) {
    return { ok: false, error: 'ValidationError', reason: command.error.issues.map((i) => `/${i.path.join('/')}: ${i.message}`).join('; ') };
  }
  return { ok: true, command: command.data };
}
