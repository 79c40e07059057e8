/** The no-op reference's activities: the saga's five steps, each returning at once. */
export function createNoopActivities() {
  const noop = (_orderId: string): Promise<void> => Promise.resolve();
  return { openOrder: noop, reserveStock: noop, debitAccount: noop, settleConfirmation: noop, commitOrder: noop };
}

export type NoopActivities = ReturnType<typeof createNoopActivities>;
