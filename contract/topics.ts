/** Kafka topic names: the intake, the outbox relay, the activities and the stack read them from here. */
export const Topics = {
  commands: 'orders.commands',
  deadLetters: 'orders.commands.dlq',
  events: 'orders.events',
} as const;
