/**
 * What free text and IDs may not contain, written once as character-class ranges: the checks below and the
 * pattern the API publishes (FREE_TEXT_PATTERN) are built from the same ranges, so they cannot drift.
 * Ranges are regex source that JavaScript (with the u flag), Python's re and Rust's regex read alike.
 */
const RANGES = {
  /** C0 and C1 control characters, DEL included: PostgreSQL refuses NUL, and none belongs in an ID or a reason. */
  control: '\\u0000-\\u001f\\u007f-\\u009f',
  /** Bidirectional embeddings, overrides and isolates: they reorder what an operator reads in a log or the UI. */
  bidi: '\\u202a-\\u202e\\u2066-\\u2069',
  /**
   * The Basic Multilingual Plane's noncharacters: U+FFFE reads as a byte-swapped byte order mark, U+FFFF and
   * U+FDD0–U+FDEF serve as sentinels inside programs. The other planes' noncharacters are accepted like any code
   * point: naming them in a pattern breaks common OpenAPI tooling (Schemathesis cannot generate against a class
   * holding astral characters), and they carry no such meaning.
   */
  noncharacter: '\\ufdd0-\\ufdef\\ufffe\\uffff',
};

const CONTROL = new RegExp(`[${RANGES.control}]`, 'u');
const CONTROLS = new RegExp(`[${RANGES.control}]`, 'gu');
const BIDI = new RegExp(`[${RANGES.bidi}]`, 'u');
const NONCHARACTER = new RegExp(`[${RANGES.noncharacter}]`, 'u');

/**
 * Text with none of the refused characters, as a JSON Schema pattern (read with the u flag). Lone surrogates are
 * refused too (`isWellFormed`), but not here: they are not Unicode scalar values, so a pattern cannot name them in
 * every engine (Rust's regex refuses the range), and no JSON Schema string holds one.
 */
export const FREE_TEXT_PATTERN = `^[^${RANGES.control}${RANGES.bidi}${RANGES.noncharacter}]*$`;

/** Why `s` cannot be stored as text, or undefined when it can. */
export function textProblem(s: string): string | undefined {
  if (CONTROL.test(s)) return 'must not contain control characters (NUL, newlines, escapes)';
  if (BIDI.test(s)) return 'must not contain bidirectional controls (U+202A to U+202E, U+2066 to U+2069)';
  if (NONCHARACTER.test(s)) return 'must not contain the noncharacters U+FDD0 to U+FDEF, U+FFFE or U+FFFF';
  if (!s.isWellFormed()) return 'must be well-formed Unicode (no lone surrogates)';
  return undefined;
}

/** Length in code points, as JSON Schema's maxLength and PostgreSQL's char_length count it (not UTF-16 units). */
export const codePointLength = (s: string): number => [...s].length;

/** Last line of defence when a value still failed at write time: replaces what PostgreSQL refuses, bounds the length. */
export function sanitizeText(s: string, maxLength = 500): string {
  return s.replace(CONTROLS, '\ufffd').toWellFormed().slice(0, maxLength).toWellFormed();
}
