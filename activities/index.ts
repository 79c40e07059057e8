import { createBillingActivities } from './billing';
import type { ActivityDeps } from './deps';
import { withActivityFailures } from './failures';
import { createOrderActivities } from './orders';
import { createRefundActivities } from './refunds';
import { createStockActivities } from './stock';

export type { ActivityDeps } from './deps';

export function createActivities(deps: ActivityDeps) {
  return withActivityFailures({
    ...createOrderActivities(deps),
    ...createStockActivities(deps),
    ...createBillingActivities(deps),
    ...createRefundActivities(deps),
  });
}

export type Activities = ReturnType<typeof createActivities>;
