import type { IHeaders } from 'kafkajs';
import { Topics } from '../messaging/topics';
import type { Tracing } from '../tracing';
import type { StartFn } from './intake';

/** One span per message, continuing the producer's trace when the record carries one; its start, the saga and its SQL are children. */
export function tracedStart(tracing: Tracing | undefined, start: StartFn, topic: string = Topics.commands): StartFn {
  if (!tracing) return start;
  return (request, headers) =>
    tracing.inSpan(
      `${topic} process`,
      { 'messaging.system': 'kafka', 'messaging.destination.name': topic, 'messaging.message.id': request.messageId },
      () => start(request, headers),
      traceContextOf(headers),
    );
}

/** The W3C trace context headers of a record, as text; other headers never reach the propagator. */
function traceContextOf(headers: IHeaders | undefined): Record<string, string> | undefined {
  const carrier: Record<string, string> = {};
  for (const name of ['traceparent', 'tracestate']) {
    const value = headers?.[name];
    const first = Array.isArray(value) ? value[0] : value;
    if (first !== undefined) carrier[name] = first.toString('latin1').slice(0, 512);
  }
  return Object.keys(carrier).length ? carrier : undefined;
}
