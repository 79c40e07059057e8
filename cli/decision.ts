import type { ConfirmationDecision } from '../domain/order';
import { decideOrder, DecisionRefusedError, OrderNotFoundError, type DecisionResult } from '../intake/decide-order';
import { CommandFailure, ExitCode, print, withServers } from './context';

function describe(r: DecisionResult): string {
  if (r.status === 'PENDING') {
    return `order ${r.orderId}: decision ${r.decision} accepted; the saga is still ${r.decision === 'confirm' ? 'committing' : 'compensating'} (see \`status ${r.orderId}\`)`;
  }
  return `order ${r.orderId}: ${r.status}${r.reason ? ` (${r.reason})` : ''}`;
}

/**
 * Confirm or cancel through the saga's decide update, the path `POST /orders/:id/confirm|cancel` takes, with
 * the same answers: the outcome, or a refusal named by its code (the API's 409s and 400), unknown order, or
 * Temporal unreachable (the API's 503: the saga may still take the decision; run the same command again).
 */
export async function decide(orderId: string, decision: ConfirmationDecision, options: { reason?: string; json: boolean }): Promise<number> {
  return withServers(async ({ db, temporal }) => {
    let result;
    try {
      result = await decideOrder({ client: await temporal(), pool: db() }, { orderId, decision, reason: options.reason });
    } catch (err) {
      if (err instanceof OrderNotFoundError) throw new CommandFailure('OrderNotFound', err.message);
      if (err instanceof DecisionRefusedError) {
        const state = err.current.state ?? err.current.status;
        throw new CommandFailure(
          err.code,
          `${err.code}: ${err.message}${state && !err.message.includes(state) ? ` (order ${state})` : ''}`,
          ExitCode.no,
          err.current,
        );
      }
      throw err;
    }
    print(options.json, () => describe(result), result);
    return ExitCode.ok;
  });
}
