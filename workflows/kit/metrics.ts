import { metricMeter } from '@temporalio/workflow';

/**
 * What the kit counts for every saga, through the SDK's workflow meter (see `workflows/metrics.ts` for how it
 * counts). Labels come from bounded sets, never from free text.
 */

const bounded = (value: string, known: readonly string[]) => (known.includes(value) ? value : 'other');

const compensationOutcomes = ['compensated', 'fenced', 'already-compensated', 'already-fenced'];
const checkBackOutcomes = ['applied', 'not-applied', 'compensated', 'fenced', 'unknown'];

export const kitMetrics = {
  compensated(step: string, outcome: string): void {
    metricMeter
      .createCounter('saga_compensations', undefined, 'Compensations run, by the step they undo and their outcome')
      .add(1, { step, outcome: bounded(outcome, compensationOutcomes) });
  },
  checkedBack(step: string, outcome: string): void {
    metricMeter
      .createCounter('saga_check_backs', undefined, 'Check-backs of a step in doubt, by step and the state found')
      .add(1, { step, outcome: bounded(outcome, checkBackOutcomes) });
  },
};
