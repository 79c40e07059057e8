/** C0 and C1 control characters, DEL included: PostgreSQL refuses NUL, and none belongs in an ID or a reason. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
// eslint-disable-next-line no-control-regex -- as above
const CONTROLS = /[\u0000-\u001f\u007f-\u009f]/g;

/** Why `s` cannot be stored as text, or undefined when it can. */
export function textProblem(s: string): string | undefined {
  if (CONTROL.test(s)) return 'must not contain control characters (NUL, newlines, escapes)';
  if (!s.isWellFormed()) return 'must be well-formed Unicode (no lone surrogates)';
  return undefined;
}

/** Last line of defence when a value still failed at write time: replaces what PostgreSQL refuses, bounds the length. */
export function sanitizeText(s: string, maxLength = 500): string {
  return s.replace(CONTROLS, '\ufffd').toWellFormed().slice(0, maxLength).toWellFormed();
}
