import { proxyActivities } from '@temporalio/workflow';
import type { CheckBackState, KitPhase, SagaProgress } from '../../contract/saga-kit';
import { OrderIdKey, OrderStatusKey } from '../../contract/search-attributes';
import { Saga, type CompensableStep } from '../../workflows/kit/saga';

/** A second saga on the kit, with activities the test supplies: it proves the kit is not the order's. */

export type ProbeStep = 'a' | 'b' | 'c';
type ProbeState = 'RUNNING' | 'UNDOING' | 'DONE' | 'UNDONE';
export interface ProbeStatus extends SagaProgress<ProbeStep, ProbeState, ProbeStep | 'finish' | KitPhase> {
  probeId: string;
}

export interface ProbeInput {
  probeId: string;
  /** Which steps have a check-back: the others are compensated at once when in doubt. */
  checked: ProbeStep[];
  /** Flagged sagas wait for a resolution; false completes them flagged. */
  awaitsReview?: boolean;
}

export interface ProbeActivities {
  act(step: ProbeStep): Promise<void>;
  undo(step: ProbeStep): Promise<string>;
  check(step: ProbeStep): Promise<CheckBackState>;
  finish(reason: string): Promise<string | undefined>;
}

const probe = proxyActivities<ProbeActivities>({ startToCloseTimeout: '10 seconds', retry: { maximumAttempts: 1 } });

export async function kitProbe(input: ProbeInput): Promise<ProbeStatus> {
  const saga = new Saga<ProbeInput, ProbeStatus>({
    identity: { probeId: input.probeId },
    states: { running: 'RUNNING', compensating: 'UNDOING', completed: 'DONE', compensated: 'UNDONE' },
    stateKey: OrderStatusKey,
    searchAttributes: (status) => [
      { key: OrderIdKey, value: input.probeId },
      { key: OrderStatusKey, value: status.state },
    ],
    checkBacks: { max: 2, intervalMs: 1_000 },
    finally: { phase: 'finish', run: (_, status) => probe.finish(status.reason!) },
    awaitsReview: () => input.awaitsReview ?? false,
    details: (status) => `${status.state} ${status.currentStep}`,
    metrics: { completed: () => undefined, compensated: () => undefined },
  });
  const step = (name: ProbeStep): CompensableStep<ProbeInput, ProbeStep> => ({
    step: name,
    run: () => probe.act(name),
    compensate: () => probe.undo(name),
    ...(input.checked.includes(name) ? { checkBack: () => probe.check(name) } : {}),
  });
  return saga.run(input, [step('a'), step('b'), step('c')]);
}
