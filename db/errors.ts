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

/** Conflicts that a retry of the whole transaction resolves. */
export const isRetryableConflict = (err: unknown): boolean =>
  sqlState(err) === SqlState.serializationFailure || sqlState(err) === SqlState.deadlockDetected;
