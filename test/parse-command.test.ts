import { describe, expect, it } from 'vitest';
import { table } from '../cli/context';
import { parseOrderCommand } from '../consumer/parse-command';

// eslint-disable-next-line no-control-regex -- finding control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/** Found by the attack on the Kafka intake: a record's bytes reached the DLQ reason and the operator's terminal raw. */
describe('a hostile command record never puts control characters into a reason or a CLI table', () => {
  it.each([
    ['ANSI escapes and a newline', '\x1b[2J\x1b[31mALL INVARIANTS OK\x1b]0;pwned\x07\nfake line'],
    ['binary bytes and NUL', Buffer.from([0xff, 0xfe, 0x00, 0x80]).toString('latin1')],
    ['a lone surrogate', '{"messageId": "\ud800'],
  ])('%s: MalformedJson with a storable, printable reason', (_name, value) => {
    const parsed = parseOrderCommand(Buffer.from(value, 'latin1'));
    expect(parsed.ok).toBe(false);
    if (parsed.ok) return;
    expect(parsed.error).toBe('MalformedJson');
    expect(parsed.reason).not.toMatch(CONTROL);
    expect(parsed.reason.isWellFormed()).toBe(true);
    expect([...parsed.reason].length).toBeLessThanOrEqual(500);
  });

  it('a table cell stored before the fix prints with its control characters replaced', () => {
    const printed = table(['ID', 'WHY'], [['orders.commands/2/26', 'still invalid: \x1b[2J\x1b[31mOK\u0000']]);
    for (const line of printed.split('\n')) expect(line).not.toMatch(CONTROL);
    expect(printed).toContain('still invalid: \ufffd[2J\ufffd[31mOK\ufffd');
  });
});
