import { NativeConnection } from '@temporalio/worker';
import type { Config } from '../config';

export async function connectWorker(config: Pick<Config, 'TEMPORAL_ADDRESS'>): Promise<NativeConnection> {
  try {
    return await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS });
  } catch (err) {
    throw new Error(
      `cannot reach Temporal at ${config.TEMPORAL_ADDRESS} (${err instanceof Error ? err.message : String(err)}); start it (npm start) or set TEMPORAL_ADDRESS`,
    );
  }
}
