import { log, proxyActivities, proxyLocalActivities } from '@temporalio/workflow';
import type { Activities } from '../../activities';

const { releaseStock } = proxyActivities<Activities>({ startToCloseTimeout: '10 seconds' });
const { refundDebit } = proxyLocalActivities<Activities>({ startToCloseTimeout: '10 seconds' });

/** One workflow line, one server activity and one local activity, each of which logs. */
export async function logProbe({ orderId }: { orderId: string }): Promise<string[]> {
  log.info('log probe started', { orderId });
  return [await releaseStock({ orderId }), await refundDebit({ orderId })];
}
