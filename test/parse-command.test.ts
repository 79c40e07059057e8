import { describe, expect, it } from 'vitest';
import { table } from '../cli/context';
import { parseCommandRecord, parseOrderCommand } from '../consumer/parse-command';

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

  it('a key with a newline or an escape sequence: the ValidationError naming it is printable', () => {
    const parsed = parseCommandRecord(Buffer.from(JSON.stringify({ type: 'refund', refundId: 'r', orderId: 'o', amountCents: 1, 'x\n\x1b[31my': 1 })));
    expect(parsed).toMatchObject({ ok: false, error: 'ValidationError' });
    if (parsed.ok) return;
    expect(parsed.reason).not.toMatch(CONTROL);
    expect(parsed.reason).toContain('x\ufffd\ufffd[31my');
  });

  it.each([
    ['a refund reason', (text: string) => ({ type: 'refund', refundId: 'r-1', orderId: 'o', amountCents: 1, reason: text })],
    ['an order ID', (text: string) => ({ messageId: `m-${text}`, customerId: 'c', items: [{ sku: 's', quantity: 1, unitPriceCents: 1 }] })],
  ])('%s holding bytes that are not UTF-8 is MalformedJson, never text with U+FFFD in it', (_name, record) => {
    const [before, after] = JSON.stringify(record('@')).split('@') as [string, string];
    const parsed = parseCommandRecord(Buffer.concat([Buffer.from(before), Buffer.from([0xc3, 0x28]), Buffer.from(after)]));
    expect(parsed).toEqual({ ok: false, error: 'MalformedJson', reason: 'the record value is not valid UTF-8' });
  });

  it('a refund reason in well-formed UTF-8 beyond ASCII is read as sent', () => {
    expect(
      parseCommandRecord(Buffer.from(JSON.stringify({ type: 'refund', refundId: 'r-1', orderId: 'o', amountCents: 1, reason: 'abîmé 📦' }))),
    ).toMatchObject({
      ok: true,
      refund: { reason: 'abîmé 📦' },
    });
  });

  it('a table cell stored before the fix prints with its control characters replaced', () => {
    const printed = table(['ID', 'WHY'], [['orders.commands/2/26', 'still invalid: \x1b[2J\x1b[31mOK\u0000']]);
    for (const line of printed.split('\n')) expect(line).not.toMatch(CONTROL);
    expect(printed).toContain('still invalid: \ufffd[2J\ufffd[31mOK\ufffd');
  });
});

describe('a record of orders.commands is an order or, tagged "type": "refund", a refund', () => {
  const read = (value: object) => parseCommandRecord(Buffer.from(JSON.stringify(value)));

  it('a refund record is read by the refund contract, without its tag', () => {
    expect(read({ type: 'refund', refundId: 'r-1', orderId: 'o-1', amountCents: 250, reason: 'damaged' })).toEqual({
      ok: true,
      refund: { refundId: 'r-1', orderId: 'o-1', amountCents: 250, reason: 'damaged' },
    });
  });

  it.each([
    ['no amount', { type: 'refund', refundId: 'r-1', orderId: 'o-1' }, /amountCents/],
    ['fractional cents', { type: 'refund', refundId: 'r-1', orderId: 'o-1', amountCents: 2.5 }, /amountCents/],
    ['an order field on a refund', { type: 'refund', refundId: 'r-1', orderId: 'o-1', amountCents: 1, customerId: 'c' }, /customerId/],
    ['another type', { type: 'refnd', messageId: 'm', customerId: 'c', items: [{ sku: 's', quantity: 1, unitPriceCents: 1 }] }, /type/],
  ])('%s: a ValidationError naming the field', (_name, value, field) => {
    const parsed = read(value);
    expect(parsed).toMatchObject({ ok: false, error: 'ValidationError' });
    if (!parsed.ok) expect(parsed.reason).toMatch(field);
  });

  it('the order reader refuses a refund rather than misread it', () => {
    expect(parseOrderCommand(Buffer.from(JSON.stringify({ type: 'refund', refundId: 'r', orderId: 'o', amountCents: 1 })))).toMatchObject({
      ok: false,
      error: 'ValidationError',
    });
  });
});
