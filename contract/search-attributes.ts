import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/** The custom search attributes every saga carries: the workflow, the intake, the stack and compose read them from here. */
export const OrderIdKey = defineSearchAttributeKey('OrderId', SearchAttributeType.KEYWORD);
export const CustomerIdKey = defineSearchAttributeKey('CustomerId', SearchAttributeType.KEYWORD);
export const OrderStatusKey = defineSearchAttributeKey('OrderStatus', SearchAttributeType.KEYWORD);
export const NeedsReviewKey = defineSearchAttributeKey('NeedsReview', SearchAttributeType.BOOL);
/** A refund saga's state; its OrderId is the order it refunds. */
export const RefundStatusKey = defineSearchAttributeKey('RefundStatus', SearchAttributeType.KEYWORD);

export const searchAttributeKeys = [OrderIdKey, CustomerIdKey, OrderStatusKey, NeedsReviewKey, RefundStatusKey] as const;

/** The type names the Temporal CLI and `operator search-attribute create` take. */
const cliTypeNames: Partial<Record<SearchAttributeType, 'Keyword' | 'Bool'>> = {
  [SearchAttributeType.KEYWORD]: 'Keyword',
  [SearchAttributeType.BOOL]: 'Bool',
};

/** `{ OrderId: 'Keyword', … }`, as the CLI's `--search-attribute Name=Type` expects them. */
export const searchAttributes: Record<string, 'Keyword' | 'Bool'> = Object.fromEntries(searchAttributeKeys.map((key) => [key.name, cliTypeNames[key.type]!]));
