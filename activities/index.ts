import { createBillingActivities } from './billing';
import type { ActivityDeps } from './deps';
import { createOrderActivities } from './orders';
import { createStockActivities } from './stock';

export type { ActivityDeps } from './deps';

export function createActivities(deps: ActivityDeps) {
  return {
    ...createOrderActivities(deps),
    ...createStockActivities(deps),
    ...createBillingActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
