import { spawnSync } from 'node:child_process';
import { msToNumber } from '@temporalio/common/lib/time';
import { describe, expect, it } from 'vitest';
import { durationSchema, freeText, idSchema } from '../contract/order';
import { upToPattern } from '../domain/number-pattern';
import { FREE_TEXT_PATTERN, textProblem } from '../domain/text';

/** The patterns the API publishes are the rules it enforces: checked against the code's own rules, and in Python's re. */
describe('published patterns', () => {
  it.each([1, 7, 9, 10, 99, 100, 168, 1000, 10_080, 604_800])('upToPattern(%i) matches exactly 1..%i without leading zeros', (max) => {
    const re = new RegExp(`^${upToPattern(max)}$`);
    const limit = Math.min(max * 10 + 10, 2_000_000);
    const wrong: string[] = [];
    for (let n = 0; n <= limit; n++) if (re.test(String(n)) !== (n >= 1 && n <= max)) wrong.push(String(n));
    for (const text of ['', '01', '007', '-1', '1.0', ' 1', '1 ', '١']) if (re.test(text)) wrong.push(text);
    expect(wrong).toEqual([]);
  });

  it('a confirmation window is a whole number of seconds, minutes or hours from 1, at most 7 days, nothing else', () => {
    const sevenDays = 7 * 24 * 3600 * 1000;
    const accepted = (s: string) => durationSchema.safeParse(s).success;
    const wrong: string[] = [];
    for (const [unit, ms] of [
      ['second', 1_000],
      ['minute', 60_000],
      ['hour', 3_600_000],
    ] as const) {
      for (const n of [0, 1, 2, 59, 60, 167, 168, 169, 10_079, 10_080, 10_081, 604_799, 604_800, 604_801, 9_999_999]) {
        for (const text of [`${n} ${unit}`, `${n} ${unit}s`]) {
          const expected = n >= 1 && n * ms <= sevenDays;
          if (accepted(text) !== expected) wrong.push(text);
          if (expected && msToNumber(text) !== n * ms) wrong.push(`${text} parses to ${msToNumber(text)}`);
        }
      }
    }
    for (const text of ['-1 hours', '1.5 hours', '01 hours', '1  hours', '1 hour ', '7 days', '1 day', '1hours', '+1 hours', '1e3 seconds'])
      if (accepted(text)) wrong.push(text);
    expect(wrong).toEqual([]);
  });

  it('an ID of dots only is refused by the pattern alone', () => {
    for (const id of ['.', '..', '...']) expect(idSchema.safeParse(id).success, id).toBe(false);
    for (const id of ['.a', 'a.', 'a..b', '_', '-', ':']) expect(idSchema.safeParse(id).success, id).toBe(true);
  });

  const samples = [
    'plain',
    '',
    'line\nbreak',
    'nul\u0000',
    'del\u007f',
    'c1\u0085',
    'bidi \u202e override',
    'isolate \u2066',
    'nonchar \ufdd0',
    'nonchar \ufffe',
    'nonchar \uffff',
    'astral noncharacter \u{1fffe}',
    'emoji 😀 and 中文',
    'zero width \u200d joiner',
    'replacement \ufffd',
    'private use \ue000',
  ];

  it('free text: the published pattern (JavaScript, u flag) accepts exactly what textProblem accepts', () => {
    const pattern = new RegExp(FREE_TEXT_PATTERN, 'u');
    expect(samples.filter((s) => pattern.test(s) !== (textProblem(s) === undefined))).toEqual([]);
    // Lone surrogates are not Unicode scalar values: no pattern names them, textProblem refuses them.
    expect(textProblem('lone \ud800')).toMatch(/well-formed/);
    expect(freeText(500).safeParse('lone \ud800').success).toBe(false);
  });

  it("free text: Python's re reads the published pattern the same way (Schemathesis generates with it)", () => {
    const script =
      'import json, re, sys\nargs = json.load(sys.stdin)\np = re.compile(args["pattern"])\nprint(json.dumps([bool(p.search(s)) for s in args["samples"]]))';
    const run = spawnSync('python3', ['-c', script], { input: JSON.stringify({ pattern: FREE_TEXT_PATTERN, samples }), encoding: 'utf8' });
    expect(run.status, run.stderr).toBe(0);
    const matched = JSON.parse(run.stdout) as boolean[];
    expect(samples.filter((s, i) => matched[i] !== (textProblem(s) === undefined))).toEqual([]);
  });

  it('free text is bounded in code points, as JSON Schema and PostgreSQL count', () => {
    expect(freeText(5).safeParse('😀😀😀😀😀').success).toBe(true);
    expect(freeText(5).safeParse('😀😀😀😀😀😀').success).toBe(false);
  });
});
