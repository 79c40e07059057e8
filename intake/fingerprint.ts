import { createHash } from 'node:crypto';
import { msToNumber } from '@temporalio/common/lib/time';
import type { OrderMessage } from '../contract/order';
import { sagaDefaults } from '../contract/saga';

const VERSION = 'v2:';

/**
 * A stable hash of what the message asks the saga to do (not of how it was spelt): defaults are filled
 * in and the window is in milliseconds, so `"confirmWithin": "10 minutes"` is the same order as leaving
 * it out, `"60 seconds"` the same as `"1 minute"`, and a window on an auto order (which never waits) is no content.
 */
export function fingerprint(request: OrderMessage): string {
  const confirmation = request.confirmation ?? sagaDefaults.confirmation;
  const canonical = JSON.stringify({
    customerId: request.customerId,
    items: request.items.map((i) => [i.sku, i.quantity, i.unitPriceCents]),
    confirmation,
    windowMs: confirmation === 'manual' ? msToNumber(request.confirmWithin ?? sagaDefaults.confirmWithin) : null,
  });
  return VERSION + sha256(canonical);
}

/** Rows stored before v2 hold a hash of the fields as sent; they are compared the way they were made. */
export function sameContent(stored: string, request: OrderMessage): boolean {
  return stored.startsWith(VERSION) ? stored === fingerprint(request) : stored === legacyFingerprint(request);
}

function legacyFingerprint(request: OrderMessage): string {
  return sha256(
    JSON.stringify({
      customerId: request.customerId,
      items: request.items.map((i) => [i.sku, i.quantity, i.unitPriceCents]),
      confirmation: request.confirmation ?? 'auto',
      confirmWithin: request.confirmWithin ?? null,
    }),
  );
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
