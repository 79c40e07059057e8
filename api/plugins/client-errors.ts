import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';

const answers: Record<string, { status: number; error: string; message: string }> = {
  HPE_HEADER_OVERFLOW: { status: 431, error: 'HeadersTooLarge', message: 'the request line or headers are too large' },
  ERR_HTTP_REQUEST_TIMEOUT: { status: 408, error: 'RequestTimeout', message: 'the request did not arrive in time' },
};

/**
 * Requests Node's HTTP parser refuses (an over-long URL or header, a malformed request line) never reach
 * Fastify: answer them here, in the one error shape, and close the connection.
 */
export function clientErrorHandler(err: NodeJS.ErrnoException, socket: Socket): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const { status, error, message } = answers[err.code ?? ''] ?? { status: 400, error: 'BadRequest', message: 'malformed HTTP request' };
  const body = JSON.stringify({ error, message });
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}
