import { Limits } from '../../domain/limits';
import { textProblem } from '../../domain/text';
import type { ReviewResolution } from '../../contract/saga-kit';

/** Checked again in the saga: a client of Temporal's API may send anything. */
export function resolutionProblem(r: ReviewResolution | undefined): string | undefined {
  for (const [field, max] of [
    ['resolvedBy', Limits.maxIdLength],
    ['note', Limits.maxReasonLength],
    ['resolvedAt', 64],
  ] as const) {
    const value: unknown = r?.[field];
    if (typeof value !== 'string' || value.length === 0) return `${field} must be a non-empty string`;
    const problem = textProblem(value);
    if (problem) return `${field} ${problem}`;
    if ([...value].length > max) return `${field} is longer than ${max} characters`;
  }
  return undefined;
}
