import { loadConfigOrExit } from '../config';
import { createPool } from '../db/pool';
import { startOrder } from '../intake/start-order';
import { createLogger } from '../lib/logger';
import { createTemporalClient } from '../lib/temporal-client';
import { createKafka } from '../messaging/topics';
import { OutboxRelay } from '../relay/outbox-relay';
import { OrderIntake } from './intake';

/** The Kafka side of the service: order commands in, order events out (outbox relay). */
async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const logger = createLogger({ name: 'consumer', level: config.LOG_LEVEL });
  const pool = createPool({ connectionString: config.DATABASE_URL, max: config.DATABASE_POOL_SIZE });
  const kafka = createKafka({ brokers: config.KAFKA_BROKERS, clientId: config.KAFKA_CLIENT_ID });
  const { client, connection } = createTemporalClient({ address: config.TEMPORAL_ADDRESS, namespace: config.TEMPORAL_NAMESPACE });
  const intake = new OrderIntake({
    kafka,
    groupId: config.KAFKA_CONSUMER_GROUP,
    logger,
    start: (request) => startOrder({ client, pool, taskQueue: config.TEMPORAL_TASK_QUEUE }, request, 'kafka'),
  });
  const relay = new OutboxRelay({ pool, kafka, logger });

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'draining: finishing the batch in flight, committing, disconnecting');
    await intake.stop();
    await relay.stop();
    await connection.close();
    await pool.end();
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));

  await intake.start();
  relay.start();
  logger.info({ topic: intake.topic, group: config.KAFKA_CONSUMER_GROUP }, 'consumer and outbox relay running');
}

main().catch((err: unknown) => {
  process.stderr.write(`error: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
