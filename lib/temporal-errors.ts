/** gRPC codes the SDK surfaces on `err.code` (or on a cause). */
export const GrpcCode = { cancelled: 1, invalidArgument: 3, deadlineExceeded: 4, resourceExhausted: 8, unavailable: 14 } as const;

/** A call cut off with the channel (CANCELLED), refused for load (RESOURCE_EXHAUSTED), unanswered or too late. */
const transientCodes = new Set<unknown>([GrpcCode.cancelled, GrpcCode.deadlineExceeded, GrpcCode.resourceExhausted, GrpcCode.unavailable]);

function* chain(err: unknown): Generator<Error> {
  for (let e: unknown = err; e instanceof Error; e = e.cause) yield e;
}

/** Temporal did not answer (down, unreachable, or past our deadline): the same call may work later. */
export function isTemporalUnavailable(err: unknown): boolean {
  for (const e of chain(err)) {
    const code = (e as { code?: unknown }).code;
    if (transientCodes.has(code)) return true;
    if (/\b(UNAVAILABLE|DEADLINE_EXCEEDED|RESOURCE_EXHAUSTED|ECONNREFUSED)\b|deadline exceeded|Call cancelled/i.test(e.message)) return true;
  }
  return false;
}

/** The call never left this process (no connection could be made), so Temporal cannot have acted on it. */
export function neverReachedTemporal(err: unknown): boolean {
  for (const e of chain(err)) if (/ECONNREFUSED|No connection established|failed to connect/i.test(e.message)) return true;
  return false;
}
