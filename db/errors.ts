/** SQLSTATE codes this service reacts to. */
export const SqlState = {
  uniqueViolation: '23505',
  foreignKeyViolation: '23503',
  checkViolation: '23514',
  serializationFailure: '40001',
  deadlockDetected: '40P01',
  undefinedTable: '42P01',
  invalidCatalogName: '3D000',
} as const;

export function sqlState(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string') return err.code;
  return undefined;
}

export const isUniqueViolation = (err: unknown): boolean => sqlState(err) === SqlState.uniqueViolation;
export const isCheckViolation = (err: unknown): boolean => sqlState(err) === SqlState.checkViolation;

/** Conflicts that a retry of the whole transaction resolves. */
export const isRetryableConflict = (err: unknown): boolean => sqlState(err) === SqlState.serializationFailure || sqlState(err) === SqlState.deadlockDetected;

/** Class 22 (data exception: a NUL byte, invalid JSON, a number out of range): the same value fails on every retry. */
export const isDataError = (err: unknown): boolean => sqlState(err)?.startsWith('22') === true;

const unavailableStates = /^(08|57P0[123]|53300)/; // connection exceptions, admin shutdown, starting up, too many connections
const unavailableNodeCodes = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND']);
const unavailableMessages =
  /Connection terminated|timeout exceeded when trying to connect|Query read timeout|not queryable|Connection ended|canceling statement due to statement timeout/i;

/** PostgreSQL could not be reached or went away mid-query: the same request may succeed once it is back. */
export function isDatabaseUnavailable(err: unknown): boolean {
  const state = sqlState(err);
  if (state && unavailableStates.test(state)) return true;
  if (state === '57014') return true; // statement timeout: a stalled or overloaded server
  if (state && unavailableNodeCodes.has(state)) return true;
  return err instanceof Error && unavailableMessages.test(err.message);
}
