import { ApplicationFailure } from '@temporalio/common';
import type { BusinessErrorType } from '../domain/errors';

export function businessFailure(type: BusinessErrorType, message: string, details?: Record<string, unknown>): ApplicationFailure {
  return ApplicationFailure.create({ type, message, nonRetryable: true, details: details ? [details] : undefined });
}
