/**
 * The `wait` preference of a `Prefer` header (RFC 7240), in seconds, capped at `maxSeconds`; undefined when
 * absent or malformed, which RFC 7240 has a server ignore rather than refuse. Any count of digits is a wait:
 * one too large to represent is still a long one (RFC 9111's rule for delta-seconds), so it gets the cap.
 */
export function preferredWaitSeconds(header: string | undefined, maxSeconds: number): number | undefined {
  if (!header) return undefined;
  for (const preference of header.split(',')) {
    const match = /^\s*wait\s*=\s*"?(\d+)"?\s*(;.*)?$/i.exec(preference);
    if (match) return Math.min(Number(match[1]), maxSeconds);
  }
  return undefined;
}
