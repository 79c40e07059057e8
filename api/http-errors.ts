/** What a 503 tells the client to wait before retrying, in seconds. */
export const RETRY_AFTER_SECONDS = '5';

/** An error with an HTTP status that the error handler passes through unmasked. */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
    readonly details?: unknown,
  ) {
    super(message);
  }
}
