/** gRPC codes the SDK surfaces on `err.code` (or on a cause). */
export const GrpcCode = { invalidArgument: 3, deadlineExceeded: 4, unavailable: 14 } as const;

function* chain(err: unknown): Generator<Error> {
  for (let e: unknown = err; e instanceof Error; e = e.cause) yield e;
}

/** Temporal did not answer (down, unreachable, or past our deadline): the same call may work later. */
export function isTemporalUnavailable(err: unknown): boolean {
  for (const e of chain(err)) {
    const code = (e as { code?: unknown }).code;
    if (code === GrpcCode.unavailable || code === GrpcCode.deadlineExceeded) return true;
    if (/\b(UNAVAILABLE|DEADLINE_EXCEEDED|ECONNREFUSED)\b|deadline exceeded/i.test(e.message)) return true;
  }
  return false;
}

/** The call never left this process (no connection could be made), so Temporal cannot have acted on it. */
export function neverReachedTemporal(err: unknown): boolean {
  for (const e of chain(err)) if (/ECONNREFUSED|No connection established|failed to connect/i.test(e.message)) return true;
  return false;
}
