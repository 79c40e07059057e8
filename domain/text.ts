/** C0 and C1 control characters, DEL included: PostgreSQL refuses NUL, and none belongs in an ID or a reason. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
// eslint-disable-next-line no-control-regex -- as above
const CONTROLS = /[\u0000-\u001f\u007f-\u009f]/g;

/** Bidirectional embeddings, overrides and isolates: they reorder what an operator reads in a log or the UI. */
const BIDI = /[\u202a-\u202e\u2066-\u2069]/;
/** Unicode noncharacters: never meant for interchange. */
const NONCHARACTER =
  /[\ufdd0-\ufdef\ufffe\uffff]|[\ud83f\ud87f\ud8bf\ud8ff\ud93f\ud97f\ud9bf\ud9ff\uda3f\uda7f\udabf\udaff\udb3f\udb7f\udbbf\udbff][\udffe\udfff]/;

/** Why `s` cannot be stored as text, or undefined when it can. */
export function textProblem(s: string): string | undefined {
  if (CONTROL.test(s)) return 'must not contain control characters (NUL, newlines, escapes)';
  if (BIDI.test(s)) return 'must not contain bidirectional controls (U+202A to U+202E, U+2066 to U+2069)';
  if (NONCHARACTER.test(s)) return 'must not contain Unicode noncharacters (U+FDD0 to U+FDEF, U+nFFFE, U+nFFFF)';
  if (!s.isWellFormed()) return 'must be well-formed Unicode (no lone surrogates)';
  return undefined;
}

/** Last line of defence when a value still failed at write time: replaces what PostgreSQL refuses, bounds the length. */
export function sanitizeText(s: string, maxLength = 500): string {
  return s.replace(CONTROLS, '\ufffd').toWellFormed().slice(0, maxLength).toWellFormed();
}
