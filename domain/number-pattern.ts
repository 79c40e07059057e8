/**
 * A regular expression (source, no anchors) matching exactly the decimal integers 1..max written without
 * leading zeros: a bound a JSON Schema `pattern` can state, where a refinement in code would be invisible.
 */
export function upToPattern(max: number): string {
  if (!Number.isSafeInteger(max) || max < 1) throw new RangeError(`upToPattern needs a positive integer, got ${max}`);
  const digits = String(max);
  const alternatives: string[] = [];
  // Shorter numbers: any first digit but 0, then any digits.
  for (let length = 1; length < digits.length; length++) alternatives.push(`[1-9]${anyDigits(length - 1)}`);
  // As long as max: max's first i digits, a smaller digit at i, then any digits.
  for (let i = 0; i < digits.length; i++) {
    const low = i === 0 ? 1 : 0;
    const high = Number(digits[i]) - 1;
    if (high >= low) alternatives.push(`${digits.slice(0, i)}${high === low ? String(low) : `[${low}-${high}]`}${anyDigits(digits.length - i - 1)}`);
  }
  alternatives.push(digits);
  return `(?:${alternatives.join('|')})`;
}

const anyDigits = (n: number) => (n === 0 ? '' : n === 1 ? '[0-9]' : `[0-9]{${n}}`);
